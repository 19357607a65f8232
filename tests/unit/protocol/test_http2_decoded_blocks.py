"""Header blocks that keep the HPACK dynamic table as it was are decoded once per connection
and remembered by their bytes (frame_codec.FrameCodec._decode): whatever mix of indexing and
non-indexing blocks a peer sends, what the codec returns is what a decoder of its own reads."""

from __future__ import annotations

import hpack
from hypothesis import given, settings
from hypothesis import strategies as st

from pymosn.protocol.http2.fast_server import FastServerCodec
from pymosn.protocol.http2.frame_codec import _keeps_table
from pymosn.protocol.http2.hpack_encoder import HeaderEncoder
from pymosn.protocol.http2.settings import Http2Settings


class _Handler:
    def on_request_data(self, sid, data, size, end_stream):
        pass


def _codec() -> FastServerCodec:
    return FastServerCodec(Http2Settings(), _Handler())


field = st.tuples(st.sampled_from([b":path", b"content-type", b"x-request-id", b"authorization", b"x-a"]),
                  st.sampled_from([b"/", b"application/grpc", b"a", b"b", b""]) | st.binary(max_size=40))
blocks = st.lists(st.lists(field, max_size=8), min_size=1, max_size=30)


@settings(max_examples=200, deadline=None)
@given(blocks, st.booleans())
def test_remembered_blocks_decode_as_a_fresh_decoder_reads_them(sequence, ours):
    # the peer's encoder: hpack's (which indexes every new field, strings Huffman-coded) or
    # ours (which stops indexing a name whose values keep changing, and never credentials)
    codec, reference = _codec(), hpack.Decoder()
    encoder = HeaderEncoder() if ours else hpack.Encoder()
    for headers in sequence:
        block = encoder.encode(headers)
        expected = reference.decode(block, raw=True)
        assert [(f[0], f[1]) for f in codec._decode(block)] == [(n, v) for n, v in expected]


def test_a_repeated_block_is_the_same_list_until_one_changes_the_table():
    codec, encoder = _codec(), hpack.Encoder()
    first = encoder.encode([(b"x-a", b"1")], huffman=False)  # a literal with incremental indexing
    codec._decode(first)
    again = encoder.encode([(b"x-a", b"1")], huffman=False)  # now an index only
    assert _keeps_table(again) and not _keeps_table(first)
    assert codec._decode(again) is codec._decode(again)
    codec._decode(encoder.encode([(b"x-b", b"2")], huffman=False))  # adds an entry: x-a moves
    moved = encoder.encode([(b"x-a", b"1")], huffman=False)
    assert moved != again and [f[:2] for f in codec._decode(moved)] == [(b"x-a", b"1")]


def test_which_representations_keep_the_table():
    assert _keeps_table(b"")
    assert _keeps_table(bytes([0x82, 0xBF]))  # indexed
    assert _keeps_table(bytes([0xFF, 0x80, 0x01]))  # indexed, a multi-byte index
    assert _keeps_table(b"\x04\x01/")  # without indexing, name index 4
    assert _keeps_table(b"\x10\x03x-a\x01b")  # never indexed, literal name
    assert not _keeps_table(b"\x44\x01/")  # with incremental indexing
    assert not _keeps_table(b"\x20")  # size update
    assert not _keeps_table(b"\x04\x05/")  # the value runs past the end
    assert not _keeps_table(bytes([0xFF, 0x80]))  # the index runs past the end
