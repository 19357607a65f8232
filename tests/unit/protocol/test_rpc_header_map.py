"""RpcHeaderMap: the header map stream filters see for an X-Protocol frame (reads without a
copy, the first write copies, received names kept for re-encoding, fixed fields and
pseudo-headers read-only)."""

from __future__ import annotations

import pytest

from pymosn.api.headers import RequestHeaderMap
from pymosn.protocol.xprotocol.header_map import RpcHeaderMap


def _map(received: dict[str, str], extra: dict[str, str] | None = None, fixed: frozenset[str] = frozenset()):
    fields = {k.lower(): v for k, v in received.items()} | (extra or {})
    return fields, RpcHeaderMap(fields, received, fixed, b"echo", b"com.acme.Echo:1.0", b"bolt")


def test_reads_use_the_routing_dict_itself_and_pseudo_headers_are_the_rpc_call():
    fields, headers = _map({"service": "com.acme.Echo:1.0", "rpc_trace_context.sofaTraceId": "t1"},
                           {"class_name": "Req"}, frozenset({"class_name"}))
    assert isinstance(headers, RequestHeaderMap)
    assert headers.fields is fields and not headers.changed
    assert headers.get(b"service") == b"com.acme.Echo:1.0"
    assert headers.get(b"rpc_trace_context.sofatraceid") == b"t1"  # names are matched lower-case
    assert headers.get(b"class_name") == b"Req" and b"class_name" in headers
    assert headers.get_all(b"service") == [b"com.acme.Echo:1.0"] and headers.get_all(b"nope") == []
    assert headers.get(b":authority") == headers.get(b":path") == b"com.acme.Echo:1.0"
    assert headers.get(b":method") == b"echo" and headers.get(b":scheme") == b"bolt"
    assert b":method" in headers and b":status" not in headers
    assert len(headers) == 3
    assert dict(headers) == {b"service": b"com.acme.Echo:1.0", b"rpc_trace_context.sofatraceid": b"t1",
                             b"class_name": b"Req"}
    assert headers.remove(b"absent") == 0 and not headers.changed and headers.fields is fields


def test_the_first_write_copies_and_received_names_survive_for_the_frame():
    received = {"service": "s", "rpc_trace_context.sofaTraceId": "t1", "x-old": "o"}
    fields, headers = _map(received, {"class_name": "Req"}, frozenset({"class_name"}))
    headers.set(b"x-new", b"n")
    headers.set(b"service", b"s2")
    assert headers.remove(b"x-old") == 1
    assert headers.changed and headers.fields is not fields
    assert fields == {"service": "s", "rpc_trace_context.sofatraceid": "t1", "x-old": "o", "class_name": "Req"}
    assert received == {"service": "s", "rpc_trace_context.sofaTraceId": "t1", "x-old": "o"}
    # received names as sent, in order; new ones under the lower-case name; no fixed field
    assert headers.frame_headers() == {"service": "s2", "rpc_trace_context.sofaTraceId": "t1", "x-new": "n"}
    assert headers.fields == {"service": "s2", "rpc_trace_context.sofatraceid": "t1", "class_name": "Req",
                              "x-new": "n"}


def test_add_joins_values_as_one_field_per_name():
    _, headers = _map({"x-tag": "a"})
    headers.add(b"x-tag", b"b")
    headers.add(b"x-other", b"c")
    assert headers.get_all(b"x-tag") == [b"a,b"]
    headers.append(b"x-tag", b"d", b";")
    assert headers.frame_headers() == {"x-tag": "a,b;d", "x-other": "c"}


def test_fixed_fields_and_pseudo_headers_cannot_be_written():
    _, headers = _map({"service": "s"}, {"class_name": "Req"}, frozenset({"class_name"}))
    for write in (lambda: headers.set(b"class_name", b"Other"), lambda: headers.remove(b"class_name"),
                  lambda: headers.set(b":path", b"/x"), lambda: headers.remove(b":authority"),
                  lambda: headers.add(b":method", b"GET")):
        with pytest.raises(ValueError):
            write()
    assert not headers.changed
    with pytest.raises(ValueError):
        headers.set(b"x", b"\xff")  # not UTF-8: the frame could not carry it


def test_an_unwritten_map_gives_the_received_headers_themselves():
    received = {"Service": "s"}
    _, headers = _map(received)
    assert headers.frame_headers() is received
