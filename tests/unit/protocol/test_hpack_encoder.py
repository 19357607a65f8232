"""pymosn's HPACK encoder, decoded by two independent decoders (the hpack package, and jh2's
Rust one the proxy reads with): every header list comes back as it went in, through table
evictions and size changes, and repeated fields cost one or two bytes."""

from __future__ import annotations

import hpack
from hypothesis import given, settings
from hypothesis import strategies as st
from jh2._hazmat import Decoder as RustDecoder

from pymosn.protocol.http2.hpack_encoder import STATIC_TABLE, HeaderEncoder

NAMES = [b":method", b":path", b":status", b"content-type", b"x-request-id", b"authorization", b"cookie",
         b"grpc-status", b"x-long"]
field = st.tuples(st.sampled_from(NAMES) | st.binary(min_size=1, max_size=20).map(bytes.lower),
                  st.sampled_from([b"GET", b"/", b"200", b""]) | st.binary(max_size=300))
blocks = st.lists(st.lists(field, max_size=12), min_size=1, max_size=12)
sizes = st.lists(st.sampled_from([None, 0, 100, 256, 4096, 65536]), min_size=12, max_size=12)


def test_the_static_table_is_rfc_7541s():
    assert STATIC_TABLE == tuple(hpack.table.HeaderTable.STATIC_TABLE)


@settings(max_examples=300, deadline=None)
@given(blocks, sizes)
def test_two_decoders_read_back_every_list(lists, table_sizes):
    encoder = HeaderEncoder()
    python_decoder, rust_decoder = hpack.Decoder(), RustDecoder()
    for headers, size in zip(lists, table_sizes):
        if size is not None:
            encoder.header_table_size = size  # a SETTINGS from the peer between two blocks
            python_decoder.max_allowed_table_size = rust_decoder.max_allowed_table_size = size
        block = encoder.encode(headers)
        assert [(n, v) for n, v in python_decoder.decode(block, raw=True)] == headers
        assert [(f[0], f[1]) for f in rust_decoder.decode(block, raw=True)] == headers


def test_repeated_fields_are_indexed_and_credentials_never():
    encoder = HeaderEncoder()
    fields = [(b":method", b"POST"), (b"content-type", b"application/grpc"), (b"x-tenant", b"a"),
              (b"authorization", b"Bearer secret")]
    first = encoder.encode(fields)
    again = encoder.encode(fields)
    assert len(again) < len(first) and again.count(b"Bearer secret") == 1
    assert again[:3] == bytes([0x83, 0xbf, 0xbe])  # static 3, then the two dynamic entries
    assert again[3:5] == bytes([0x10 | 15, 23 - 15])  # never indexed, name by static index 23 (a 4-bit prefix)


def test_a_smaller_then_larger_table_is_signalled_smallest_first():
    encoder, decoder = HeaderEncoder(), hpack.Decoder()
    decoder.decode(encoder.encode([(b"x-a", b"1")]))
    encoder.header_table_size = 0
    encoder.header_table_size = 4096
    block = encoder.encode([(b"x-a", b"1")])
    assert block[:4] == b"\x20\x3f\xe1\x1f"  # size 0 (the entry goes), then 4096 (5-bit prefix integer)
    assert decoder.decode(block, raw=True) == [(b"x-a", b"1")]
    assert block[4] == 0x40  # sent as a literal again: the table was emptied
