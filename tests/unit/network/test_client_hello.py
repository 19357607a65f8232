"""The sans-IO ClientHello reader: real ClientHellos from OpenSSL (via ssl.MemoryBIO), every
prefix of them, re-fragmented records, plaintext, and arbitrary bytes that must never raise."""

from __future__ import annotations

import ssl

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pymosn.network.client_hello import MAX_CLIENT_HELLO, Outcome, inspect


def client_hello(server_name: str | None = "a.example.com", alpn: list[str] | None = None, **ctx_options) -> bytes:
    """The bytes an OpenSSL client sends first."""
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    for name, value in ctx_options.items():
        setattr(ctx, name, value)
    if alpn:
        ctx.set_alpn_protocols(alpn)
    incoming, outgoing = ssl.MemoryBIO(), ssl.MemoryBIO()
    tls = ctx.wrap_bio(incoming, outgoing, server_hostname=server_name)
    with pytest.raises(ssl.SSLWantReadError):
        tls.do_handshake()
    return outgoing.read()


def refragment(hello: bytes, size: int) -> bytes:
    """The same handshake message carried in records of at most `size` bytes."""
    assert hello[0] == 0x16
    message = hello[5:]
    out = b""
    for i in range(0, len(message), size):
        part = message[i : i + size]
        out += hello[:3] + len(part).to_bytes(2, "big") + part
    return out


def test_reads_sni_and_alpn_from_a_real_client_hello():
    hello = client_hello("A.Example.com", ["h2", "http/1.1"])
    result = inspect(hello)
    assert result.outcome is Outcome.TLS
    assert result.server_name == "a.example.com"
    assert result.alpn == ("h2", "http/1.1")
    assert result.transport == "tls"


def test_no_sni_and_no_alpn():
    for name in (None, "127.0.0.1"):  # OpenSSL sends no SNI for an IP address
        result = inspect(client_hello(name))
        assert (result.outcome, result.server_name, result.alpn) == (Outcome.TLS, "", ())


def test_tls12_only_client():
    result = inspect(client_hello("b.example.com", ["x"], maximum_version=ssl.TLSVersion.TLSv1_2))
    assert (result.outcome, result.server_name, result.alpn) == (Outcome.TLS, "b.example.com", ("x",))


def test_every_prefix_asks_for_more_and_never_past_the_end():
    hello = client_hello("a.example.com", ["h2"])
    for cut in range(len(hello)):
        result = inspect(hello[:cut])
        assert result.outcome is Outcome.NEED_MORE, cut
        assert cut < result.needed <= len(hello), (cut, result.needed)


def test_bytes_after_the_client_hello_are_ignored():
    hello = client_hello("a.example.com")
    assert inspect(hello + b"\x14\x03\x03\x00\x01\x01").server_name == "a.example.com"


@pytest.mark.parametrize("size", [1, 7, 100, 511])
def test_a_client_hello_spread_over_several_records(size):
    hello = refragment(client_hello("split.example.com", ["h2"]), size)
    result = inspect(hello)
    assert (result.outcome, result.server_name, result.alpn) == (Outcome.TLS, "split.example.com", ("h2",))
    for cut in range(0, len(hello), 97):
        assert inspect(hello[:cut]).outcome is Outcome.NEED_MORE


def test_plaintext_is_not_tls():
    for data in (b"GET / HTTP/1.1\r\n", b"\x00", b"PRI * HTTP/2.0", b"\x16\x01", b"\x80\x2e\x01"):
        result = inspect(data)
        assert result.outcome is Outcome.NOT_TLS, data
        assert result.transport == "raw_buffer"


def test_tls_looking_garbage_is_malformed():
    hello = client_hello()
    server_hello_type = hello[:5] + b"\x02" + hello[6:]
    assert inspect(server_hello_type).outcome is Outcome.MALFORMED
    assert inspect(b"\x16\x03\x01\x00\x00").outcome is Outcome.MALFORMED  # empty record
    assert inspect(b"\x16\x03\x01\x00\x05hello").outcome is Outcome.MALFORMED
    alert_inside = b"\x16\x03\x01\x00\x02\x01\x00" + b"\x15\x03\x03\x00\x02\x02\x28"
    assert inspect(alert_inside).outcome is Outcome.MALFORMED
    assert inspect(b"\x16\x03\x01\x40\x01").outcome is Outcome.MALFORMED  # record over 16 KiB
    body = hello[9:]
    truncated_body = hello[:1] + hello[1:3] + (len(body) - 10 + 4).to_bytes(2, "big") + b"\x01" + (len(body) - 10).to_bytes(3, "big") + body[:-10]
    assert inspect(truncated_body).outcome is Outcome.MALFORMED


def test_a_client_hello_over_the_limit_is_too_large():
    # a handshake header announcing 64 KiB, carried in full records
    header = b"\x01" + (64 * 1024).to_bytes(3, "big")
    record = b"\x16\x03\x01" + (16 * 1024).to_bytes(2, "big") + header + bytes(16 * 1024 - 4)
    assert inspect(record[:10]).outcome is Outcome.TOO_LARGE  # the first record alone is over the limit
    assert inspect(record, max_bytes=64 * 1024).outcome is Outcome.NEED_MORE
    small = refragment(client_hello(), 64)
    assert inspect(small, max_bytes=len(small) - 1).outcome is Outcome.TOO_LARGE
    assert inspect(small, max_bytes=len(small)).outcome is Outcome.TLS


@settings(max_examples=400, deadline=None)
@given(st.binary(max_size=300))
def test_arbitrary_bytes_give_a_clean_answer(data):
    result = inspect(data)
    assert result.outcome in Outcome
    if result.outcome is Outcome.NEED_MORE:
        assert len(data) < result.needed <= MAX_CLIENT_HELLO
    if data and data[0] != 0x16:
        assert result.outcome is Outcome.NOT_TLS


_HELLO = client_hello("fuzz.example.com", ["h2", "http/1.1"])


@settings(max_examples=400, deadline=None)
@given(st.lists(st.tuples(st.integers(0, len(_HELLO) - 1), st.integers(0, 255)), max_size=6), st.integers(0, len(_HELLO)))
def test_mutated_client_hellos_give_a_clean_answer(changes, cut):
    data = bytearray(_HELLO)
    for index, value in changes:
        data[index] = value
    result = inspect(bytes(data[:cut]) if cut else bytes(data))
    assert result.outcome in Outcome
    if result.outcome is Outcome.TLS:
        assert all(isinstance(p, str) and p for p in result.alpn)
        assert result.server_name == result.server_name.lower()
