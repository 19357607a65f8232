"""The client HTTP/2 codec (protocol/http2/fast_client.py), sans-IO: against h2's server state
machine for whole exchanges, and raw frames for what a server must not send."""

from __future__ import annotations

import h2.config
import h2.connection
import h2.events
import hpack
import pytest

from pymosn.protocol.http2.fast_client import PREFACE, FastClientCodec
from pymosn.protocol.http2.frame_writer import Http2ConnectionError, SendError
from pymosn.protocol.http2.frames import CANCEL, ENHANCE_YOUR_CALM, PROTOCOL_ERROR, STREAM_CLOSED
from tests.support.h2_frames import (
    CONTINUATION,
    DATA,
    END_HEADERS,
    END_STREAM,
    GOAWAY,
    HEADERS,
    PUSH_PROMISE,
    RST_STREAM,
    SETTINGS,
    WINDOW_UPDATE,
    frame,
    frames,
    settings,
)

REQUEST = [(b":method", b"GET"), (b":scheme", b"http"), (b":authority", b"origin"), (b":path", b"/")]


class Log:
    """The handler: every call, in order."""

    def __init__(self) -> None:
        self.calls: list[tuple] = []

    def __getattr__(self, name: str):
        if not name.startswith("on_"):
            raise AttributeError(name)
        return lambda *args: self.calls.append((name, *args))

    def of(self, name: str) -> list[tuple]:
        return [call[1:] for call in self.calls if call[0] == name]


def codec(**options) -> tuple[FastClientCodec, Log]:
    log = Log()
    made = FastClientCodec(log, stream_window=256 * 1024, connection_window=1 << 22, max_frame_size=16384, **options)
    made.start()
    return made, log


def started(**options) -> tuple[FastClientCodec, Log]:
    """A codec whose server has sent its (empty) SETTINGS; the output taken."""
    client, log = codec(**options)
    client.receive(settings())
    client.data_to_send()
    return client, log


def block(fields: list[tuple[bytes, bytes]], encoder: hpack.Encoder | None = None) -> bytes:
    return (encoder or hpack.Encoder()).encode(fields)


def fields_of(call_fields) -> list[tuple[bytes, bytes]]:
    return [(f[0], f[1]) for f in call_fields]


# --- against h2's server -----------------------------------------------------------------------


def h2_server() -> h2.connection.H2Connection:
    server = h2.connection.H2Connection(h2.config.H2Configuration(client_side=False, header_encoding=None))
    server.initiate_connection()
    return server


def test_preface_and_settings_are_what_a_server_expects():
    client, log = codec()
    out = bytes(client.data_to_send())
    assert out.startswith(PREFACE)
    (kind, flags, sid, payload), (update, _, _, increment) = frames(out[len(PREFACE):])
    assert (kind, flags, sid) == (SETTINGS, 0, 0)
    pairs = {int.from_bytes(payload[i:i + 2], "big"): int.from_bytes(payload[i + 2:i + 6], "big")
             for i in range(0, len(payload), 6)}
    assert pairs == {0x2: 0, 0x4: 256 * 1024, 0x5: 16384, 0x6: 64 * 1024}  # push off
    assert update == WINDOW_UPDATE and int.from_bytes(increment, "big") == (1 << 22) - 65535
    server = h2_server()
    events = server.receive_data(out)
    assert any(isinstance(e, h2.events.RemoteSettingsChanged) for e in events)
    client.receive(server.data_to_send())
    assert log.of("on_remote_settings") == [(True, False)]


def test_a_whole_exchange_with_h2s_server():
    client, log = codec()
    server = h2_server()
    server.receive_data(bytes(client.data_to_send()))
    client.receive(server.data_to_send())
    sid = client.open_stream(REQUEST + [(b"content-type", b"application/grpc")], False)
    client.send_data(sid, b"request body", False)
    client.send_headers(sid, [(b"x-checksum", b"1")], True)
    events = server.receive_data(bytes(client.data_to_send()))
    kinds = [type(e) for e in events]
    assert h2.events.RequestReceived in kinds and h2.events.TrailersReceived in kinds
    assert b"".join(e.data for e in events if isinstance(e, h2.events.DataReceived)) == b"request body"
    server.send_headers(sid, [(b":status", b"100")])
    server.send_headers(sid, [(b":status", b"200"), (b"content-type", b"application/grpc")])
    for _ in range(3):
        server.send_data(sid, b"x" * 13000)
    server.send_headers(sid, [(b"grpc-status", b"0")], end_stream=True)
    client.receive(server.data_to_send())
    ((got_sid, head, ended),) = log.of("on_response")  # the 100 is read and dropped
    assert got_sid == sid and not ended and fields_of(head) == [(b":status", b"200"), (b"content-type", b"application/grpc")]
    data = log.of("on_response_data")
    assert sum(len(d[1]) for d in data) == 39000 and not any(d[3] for d in data)
    assert [(s, [f[:2] for f in fields]) for s, fields in log.of("on_response_trailers")] == [(sid, [(b"grpc-status", b"0")])]
    assert sid not in client.streams  # closed both ways


def test_consumed_data_is_credited_once_half_a_window_has_gathered():
    log = Log()
    client = FastClientCodec(log, stream_window=65535, connection_window=65535, max_frame_size=16384)
    client.start()
    client.receive(settings())
    sid = client.open_stream(REQUEST, True)
    client.receive(frame(HEADERS, END_HEADERS, sid, block([(b":status", b"200")])) + frame(DATA, 0, sid, b"x" * 16384))
    client.data_to_send()
    client.acknowledge_received_data(16384, sid)
    assert not client.data_to_send()  # under half of either window
    client.receive(frame(DATA, 0, sid, b"x" * 16384))
    client.acknowledge_received_data(16384, sid)
    updates = [(s, int.from_bytes(p, "big")) for kind, _, s, p in frames(bytes(client.data_to_send())) if kind == WINDOW_UPDATE]
    assert updates == [(0, 32768), (sid, 32768)]


def test_send_data_within_the_servers_windows_only():
    client, log = started()
    sid = client.open_stream(REQUEST, False)
    assert client.local_flow_control_window(sid) == 65535
    with pytest.raises(SendError):
        client.send_data(sid, b"x" * 16385)  # over the frame size
    for _ in range(3):
        client.send_data(sid, b"x" * 16384)
    client.send_data(sid, b"x" * 16383)
    assert client.local_flow_control_window(sid) == 0
    with pytest.raises(SendError):
        client.send_data(sid, b"x")
    client.receive(frame(WINDOW_UPDATE, 0, sid, (100).to_bytes(4, "big")))
    assert client.local_flow_control_window(sid) == 0  # the connection's is still spent
    client.receive(frame(WINDOW_UPDATE, 0, 0, (100).to_bytes(4, "big")))
    assert client.local_flow_control_window(sid) == 100
    assert log.of("on_window_updated") == [(sid,), (0,)]


def test_max_concurrent_streams_and_later_settings_are_told():
    client, log = codec()
    client.receive(settings((0x3, 7)))
    client.receive(settings((0x4, 1 << 20)))
    assert client.remote_max_concurrent_streams == 7
    assert log.of("on_remote_settings") == [(True, False), (False, True)]


def test_stream_ids_run_out():
    client, _ = started()
    client.next_stream_id = 2**31 - 1
    client.open_stream(REQUEST, True)
    with pytest.raises(SendError):
        client.open_stream(REQUEST, True)


# --- what a server must not send ---------------------------------------------------------------


def resets(out) -> list[tuple[int, int]]:
    return [(sid, int.from_bytes(payload, "big")) for kind, _, sid, payload in frames(bytes(out)) if kind == RST_STREAM]


def goaway_code(out) -> int:
    ((payload,),) = [(p,) for kind, _, _, p in frames(bytes(out)) if kind == GOAWAY]
    return int.from_bytes(payload[4:8], "big")


@pytest.mark.parametrize("bad", [
    pytest.param(frame(DATA, 0, 1, b"body"), id="DATA before the response head"),
    pytest.param(frame(HEADERS, END_HEADERS | END_STREAM, 1, block([(b":status", b"103")])), id="1xx ending the stream"),
])
def test_a_malformed_response_is_a_stream_error(bad):
    client, log = started()
    sid = client.open_stream(REQUEST, True)
    client.receive(bad)
    assert resets(client.data_to_send()) == [(sid, PROTOCOL_ERROR)]
    assert log.of("on_stream_reset") == [(sid, PROTOCOL_ERROR)] and not log.of("on_response")


def test_headers_after_the_final_head_must_end_the_stream():
    client, log = started()
    sid = client.open_stream(REQUEST, True)
    encoder = hpack.Encoder()
    client.receive(frame(HEADERS, END_HEADERS, sid, block([(b":status", b"200")], encoder)))
    client.receive(frame(HEADERS, END_HEADERS, sid, block([(b"x-more", b"1")], encoder)))
    assert resets(client.data_to_send()) == [(sid, PROTOCOL_ERROR)]
    assert len(log.of("on_response")) == 1 and log.of("on_stream_reset") == [(sid, PROTOCOL_ERROR)]


@pytest.mark.parametrize(("bad", "code"), [
    pytest.param(frame(PUSH_PROMISE, END_HEADERS, 1, (2).to_bytes(4, "big")), PROTOCOL_ERROR, id="PUSH_PROMISE"),
    pytest.param(settings((0x2, 1)), PROTOCOL_ERROR, id="ENABLE_PUSH 1 from a server"),
    pytest.param(frame(HEADERS, END_HEADERS, 3, block([(b":status", b"200")])), PROTOCOL_ERROR, id="idle stream"),
    pytest.param(frame(HEADERS, END_HEADERS, 2, block([(b":status", b"200")])), PROTOCOL_ERROR, id="even stream"),
    pytest.param(frame(HEADERS, END_HEADERS, 1, b"\x40\x05abc"), 0x9, id="HPACK error"),
    pytest.param(frame(HEADERS, END_HEADERS, 1, b"\xff\xff\xff\xff"), 0x9, id="HPACK decoder panic"),
    pytest.param(frame(HEADERS, END_HEADERS, 1, block([(b":status", b"200")])) + frame(DATA, 0, 1) * 2,
                 ENHANCE_YOUR_CALM, id="empty frames"),
])
def test_connection_errors_queue_goaway(bad, code):
    client, _ = started()
    client.open_stream(REQUEST, True)
    with pytest.raises(Http2ConnectionError) as error:
        client.receive(bad)
    assert error.value.code == code and goaway_code(client.data_to_send()) == code
    client.receive(frame(DATA, 0, 1, b"late"))  # nothing more is read
    assert not client.data_to_send()


def test_the_empty_frame_bound_is_the_clusters():
    client, log = started(max_empty_frames=3)
    sid = client.open_stream(REQUEST, True)
    client.receive(frame(HEADERS, END_HEADERS, sid, block([(b":status", b"200")])) + frame(DATA, 0, sid) * 3)
    with pytest.raises(Http2ConnectionError):
        client.receive(frame(DATA, 0, sid))


def test_a_header_block_over_continuation_frames():
    client, log = started()
    sid = client.open_stream(REQUEST, True)
    encoded = block([(b":status", b"200"), (b"x-long", b"v" * 100)])
    client.receive(frame(HEADERS, 0, sid, encoded[:10]))
    assert log.of("on_header_block_started") == [()] and not log.of("on_response")
    client.receive(frame(CONTINUATION, END_HEADERS, sid, encoded[10:]))
    ((_, head, _),) = log.of("on_response")
    assert fields_of(head) == [(b":status", b"200"), (b"x-long", b"v" * 100)]


def test_late_frames_on_a_stream_we_reset_are_ignored():
    client, log = started()
    sid = client.open_stream(REQUEST, True)
    client.reset_stream(sid, CANCEL)
    client.data_to_send()
    client.receive(frame(HEADERS, END_HEADERS, sid, block([(b":status", b"200")])) + frame(DATA, END_STREAM, sid, b"late"))
    out = bytes(client.data_to_send())
    assert not resets(out) and not log.of("on_response")
    assert [kind for kind, *_ in frames(out)] == []  # the 4 bytes' connection credit waits for more


def test_data_on_a_closed_stream_is_stream_closed():
    client, log = started()
    sid = client.open_stream(REQUEST, True)
    client.receive(frame(HEADERS, END_HEADERS | END_STREAM, sid, block([(b":status", b"204")])))
    client.receive(frame(DATA, 0, sid, b"late"))
    assert resets(client.data_to_send()) == [(sid, STREAM_CLOSED)]


def test_goaway_keeps_the_promised_streams_and_forgets_the_rest():
    client, log = started()
    first, second = client.open_stream(REQUEST, True), client.open_stream(REQUEST, True)
    client.receive(frame(GOAWAY, 0, 0, first.to_bytes(4, "big") + (0).to_bytes(4, "big")))
    assert log.of("on_goaway") == [(first, 0)]
    assert list(client.streams) == [first]
    client.receive(frame(HEADERS, END_HEADERS | END_STREAM, second, block([(b":status", b"200")])))
    assert not resets(client.data_to_send()) and not log.of("on_response")  # ignored
    client.receive(frame(HEADERS, END_HEADERS | END_STREAM, first, block([(b":status", b"200")])))
    assert [call[0] for call in log.of("on_response")] == [first]


def test_goaway_of_our_own_names_no_stream():
    client, _ = started()
    client.goaway()
    ((kind, _, sid, payload),) = frames(bytes(client.data_to_send()))
    assert (kind, sid, payload) == (GOAWAY, 0, bytes(8))
