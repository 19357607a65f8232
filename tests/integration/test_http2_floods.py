"""HTTP/2 floods against a real pymosn, raw frames from a client that reads little or nothing,
while an HTTP/2 and an HTTP/1.1 bystander keep using the same (Auto) listener: PING and
SETTINGS floods (CVE-2019-9512, -9515), empty CONTINUATION and empty DATA floods, a header
block of too many CONTINUATIONs and one held open (CVE-2024-27316). Each must end in GOAWAY
ENHANCE_YOUR_CALM (or, for a client that reads nothing, a closed connection), its counter,
bounded memory, and bystanders served throughout.

On the code before these bounds a six-second PING flood grew pymosn by ~125 MiB."""

from __future__ import annotations

import hpack
import pytest
from h2.events import PingAckReceived

from tests.support.admin import log_lines, rss_kib, stats, wait_for, wait_stats
from tests.support.bystander import Bystander
from tests.support.h2_client import H2Client
from tests.support.proxy import free_port, simple_config

ENHANCE_YOUR_CALM = 0xB
GET = [(b":method", b"GET"), (b":scheme", b"http"), (b":authority", b"x"), (b":path", b"/echo/attack")]
POST = [(b":method", b"POST"), (b":scheme", b"http"), (b":authority", b"x"), (b":path", b"/mirror")]
MAX_GROWTH_KIB = 20 * 1024


def frame(kind: int, flags: int, sid: int, payload: bytes = b"") -> bytes:
    return len(payload).to_bytes(3, "big") + bytes([kind, flags]) + sid.to_bytes(4, "big") + payload


PING = frame(0x6, 0, 0, b"floodfld")
SETTINGS = frame(0x4, 0, 0)
EMPTY_CONTINUATION = frame(0x9, 0, 1)
EMPTY_DATA = frame(0x0, 0, 1)


@pytest.fixture
def listener(origin, tmp_path, start_proxy, monkeypatch):
    """start(codec="fast", **http2_protocol_options) -> the proxy (with .admin and .log)."""

    def start(codec: str = "fast", proxy: dict | None = None, **options):
        monkeypatch.setenv("PYMOSN_HTTP2_SERVER", codec)
        admin, log = free_port(), tmp_path / "access.log"

        def build(port):
            return simple_config(
                port, [origin.port], admin_port=admin,
                listener={"access_logs": [{"log_path": str(log), "log_format": "%REQ(:PATH)% %RESPONSE_FLAGS%\n"}]},
                proxy={"downstream_protocol": "Auto", "http2_protocol_options": options, **(proxy or {})},
            )

        p = start_proxy(build)
        p.admin, p.log = admin, log
        return p

    return start


class Attack:
    """Runs a flood beside two bystanders and measures what it cost pymosn."""

    def __init__(self, p, counter: str) -> None:
        self.p = p
        self.counter = f"http.ingress.http2.{counter}"
        self.base = rss_kib(p.proc.pid)
        self.peak = self.base

    def flooded(self) -> bool:
        self.peak = max(self.peak, rss_kib(self.p.proc.pid))
        return stats(self.p.admin).get(self.counter, 0) > 0

    def run(self, client: H2Client, unit: bytes | None) -> list[int]:
        """Floods with `unit` (None: only waits for the bound to act); returns the GOAWAY
        codes the attacker got."""
        url = f"http://127.0.0.1:{self.p.port}/echo/bystander"
        with Bystander(url, http2=True) as h2_bystander, Bystander(url) as h1_bystander:
            wait_for(lambda: h2_bystander.ok and h1_bystander.ok, what="bystanders served before the attack")
            if unit is not None:  # stops as the counter shows; the duration is for slow machines
                client.flood(unit, self.flooded, duration=30.0)
            wait_for(self.flooded, what=self.counter)
            codes = client.goaway_codes_raw()
            before = h2_bystander.ok, h1_bystander.ok
            wait_for(lambda: h2_bystander.ok > max(before[0], 5) and h1_bystander.ok > max(before[1], 5),
                     what="bystanders served after the attack")
        h2_bystander.check()
        h1_bystander.check()
        self.peak = max(self.peak, rss_kib(self.p.proc.pid))
        assert self.peak - self.base < MAX_GROWTH_KIB, f"pymosn grew by {(self.peak - self.base) // 1024} MiB"
        s = wait_stats(self.p.admin, {self.counter: 1, "http.ingress.downstream_rq_active": 0,
                                      "cluster.origin.upstream_rq_active": 0})
        floods = {k: v for k, v in s.items() if ".http2." in k and k.endswith(("_flood", "_timeout")) and v}
        assert floods == {self.counter: 1}
        return codes


# --- outbound: the client sends what must be answered and reads nothing ----------------------------


@pytest.mark.parametrize("codec", ["fast", "h2"])
def test_ping_flood_without_reading(listener, codec):
    p = listener(codec)
    with H2Client(p.port, receive_buffer=4096) as attacker:
        codes = Attack(p, "outbound_control_flood").run(attacker, PING)
    # What it had queued is dropped within a second of the flood (it never read it): the
    # GOAWAY behind it arrives only if the client catches up in time.
    assert set(codes) <= {ENHANCE_YOUR_CALM} and attacker.closed


def test_settings_flood_without_reading(listener):
    p = listener()
    with H2Client(p.port, receive_buffer=4096) as attacker:
        codes = Attack(p, "outbound_control_flood").run(attacker, SETTINGS)
    assert set(codes) <= {ENHANCE_YOUR_CALM} and attacker.closed


def test_a_client_that_reads_is_not_a_flood(listener):
    """Below the transport's high watermark nothing is counted: a client that reads what it
    asked for, however many PINGs, keeps its connection."""
    p = listener(max_outbound_control_frames=1)
    with H2Client(p.port) as client:
        def acks() -> int:
            return len([e for e in client.events if type(e) is PingAckReceived])

        for round_ in range(1, 11):
            client.send_raw(PING * 300)
            client.wait(lambda expected=300 * round_: acks() == expected)
        assert client.goaway is None
        assert client.response(client.request("/echo/after")).status == 200
    assert stats(p.admin).get("http.ingress.http2.outbound_control_flood") == 0


# --- inbound: frames that carry nothing, a header block that never ends -----------------------------


@pytest.mark.parametrize("codec", ["fast", "h2"])
def test_empty_continuation_flood(listener, codec):
    p = listener(codec)
    with H2Client(p.port) as attacker:
        attacker.send_raw(frame(0x1, 0x1, 1, hpack.Encoder().encode(GET)))  # HEADERS, no END_HEADERS
        codes = Attack(p, "inbound_empty_frames_flood").run(attacker, EMPTY_CONTINUATION)
    assert codes == [ENHANCE_YOUR_CALM]


def test_continuation_flood_of_non_empty_frames(listener):
    """Empty frames allowed (Envoy's limit raised): the block's frame count still ends it."""
    p = listener(max_consecutive_inbound_frames_with_empty_payload=1_000_000)
    with H2Client(p.port) as attacker:
        attacker.send_raw(frame(0x1, 0x1, 1, hpack.Encoder().encode(GET)))
        codes = Attack(p, "header_block_flood").run(attacker, EMPTY_CONTINUATION)
    assert codes == [ENHANCE_YOUR_CALM]


def test_header_block_held_open(listener):
    p = listener(proxy={"stream_idle_timeout": 1.0})
    block = hpack.Encoder().encode(GET)
    with H2Client(p.port) as attacker:
        attacker.send_raw(frame(0x1, 0x1, 1, block[:3]) + frame(0x9, 0, 1, block[3:5]))  # never the end
        codes = Attack(p, "header_block_timeout").run(attacker, None)
    assert codes == [ENHANCE_YOUR_CALM]


@pytest.mark.parametrize("codec", ["fast", "h2"])
def test_empty_data_flood(listener, codec):
    p = listener(codec)
    with H2Client(p.port) as attacker:
        attacker.send_raw(frame(0x1, 0x4, 1, hpack.Encoder().encode(POST)))  # a request whose body never comes
        wait_for(lambda: stats(p.admin).get("http.ingress.downstream_rq_active") == 1, what="the stream open")
        codes = Attack(p, "inbound_empty_frames_flood").run(attacker, EMPTY_DATA)
    assert codes == [ENHANCE_YOUR_CALM]
    # the attacker's stream ended once: one access-log line, downstream connection termination
    wait_for(lambda: [line for line in log_lines(p.log, 1) if line.startswith("/mirror")], what="its log line")
    assert [line for line in log_lines(p.log, 1) if line.startswith("/mirror")] == ["/mirror DC"]
