"""The GOAWAY splitter: every frame but GOAWAY passes through byte for byte, in order, however
the stream is cut into reads."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from pymosn.protocol.http2.goaway import GoAway, GoAwaySplitter


def frame(kind: int, payload: bytes, stream_id: int = 0) -> bytes:
    return len(payload).to_bytes(3, "big") + bytes([kind, 0]) + stream_id.to_bytes(4, "big") + payload


def goaway(last: int, code: int = 0, debug: bytes = b"") -> bytes:
    return frame(7, last.to_bytes(4, "big") + code.to_bytes(4, "big") + debug)


def merged(pieces: list) -> list:
    """Adjacent byte runs joined: how a reader would see the output."""
    out: list = []
    for piece in pieces:
        if isinstance(piece, GoAway) or not out or isinstance(out[-1], GoAway):
            out.append(piece)
        else:
            out[-1] = out[-1] + piece
    return out


def test_a_goaway_between_frames_is_taken_out():
    data = frame(0, b"abc", 1) + goaway(3, 0, b"bye") + frame(1, b"hdrs", 5)
    assert GoAwaySplitter().feed(data) == [frame(0, b"abc", 1), GoAway(3, 0, b"bye"), frame(1, b"hdrs", 5)]


def test_a_malformed_goaway_goes_to_h2_for_it_to_reject():
    data = frame(7, b"\x00\x00")
    assert GoAwaySplitter().feed(data) == [data]


def test_whole_reads_without_goaway_pass_as_they_are():
    data = frame(0, b"x" * 1000, 1)
    splitter = GoAwaySplitter()
    assert splitter.feed(data[:500])[0] == data[:500]
    assert splitter.feed(data[500:]) == [data[500:]]


frames = st.lists(
    st.one_of(
        st.builds(frame, st.sampled_from([0, 1, 3, 4, 6, 8, 9]), st.binary(max_size=40), st.integers(0, 99)),
        st.builds(goaway, st.integers(0, 2**31 - 1), st.integers(0, 13), st.binary(max_size=20)),
    ),
    max_size=12,
)


@given(frames, st.lists(st.integers(1, 30), max_size=40))
def test_any_cut_gives_the_same_frames_and_goaways(parts, cuts):
    data = b"".join(parts)
    expected: list = []
    for part in parts:
        if part[3] == 7:
            payload = part[9:]
            expected.append(GoAway(int.from_bytes(payload[:4], "big") & 0x7FFFFFFF,
                                   int.from_bytes(payload[4:8], "big"), payload[8:]))
        elif expected and not isinstance(expected[-1], GoAway):
            expected[-1] += part
        else:
            expected.append(part)
    splitter = GoAwaySplitter()
    out: list = []
    pos = 0
    for cut in cuts:
        out += splitter.feed(data[pos : pos + cut])
        pos += cut
    out += splitter.feed(data[pos:])
    assert merged([p for p in out if p != b""]) == expected
