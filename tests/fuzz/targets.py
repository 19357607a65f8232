"""One fuzz target per decoder of untrusted bytes. Each takes arbitrary bytes and returns
normally when the decoder behaves: it may decode frames or reject the input with a
ProtocolError (or its own documented verdict), and anything else escaping is a bug.

The same functions run under hypothesis in the test suite (test_targets.py) and under
coverage-guided atheris by hand (`python -m tests.fuzz.atheris_main NAME`), so a crash found
either way is reproduced by calling the target with the input."""

from __future__ import annotations

from collections.abc import Callable

from pymosn.api.errors import ProtocolError
from pymosn.network.client_hello import Outcome, inspect
from pymosn.protocol.http1 import RequestDecoder, ResponseDecoder
from pymosn.protocol.xprotocol.api import XCodec
from pymosn.protocol.xprotocol.bolt import BoltCodec, BoltV2Codec
from pymosn.protocol.xprotocol.dubbo import DubboCodec, routing_headers
from pymosn.protocol.xprotocol.example import ExampleCodec

# A decoder that claims more frames than the input could hold is looping on its own output.
_MAX_FRAMES_PER_BYTE = 1


class _Sink:
    """Collects what an HTTP/1.1 decoder reports, checking it only ever reports sane values."""

    def __init__(self) -> None:
        self.heads = 0

    def on_request_head(self, head) -> None:
        assert isinstance(head.method, bytes) and head.target.startswith((b"/", b"*"))
        self.heads += 1

    def on_response_head(self, head) -> None:
        assert 100 <= head.status <= 999
        self.heads += 1

    def on_request_body(self, data) -> None:
        assert len(data) > 0

    on_response_body = on_request_body

    def on_request_end(self, trailers, last) -> None:
        assert trailers is None or isinstance(trailers, list)
        assert isinstance(last, bytes) and not (last and trailers)

    def on_response_end(self, trailers, last) -> None:
        assert trailers is None or isinstance(trailers, list)
        assert isinstance(last, bytes) and not (last and trailers)

    def on_upgrade_data(self, data) -> None:
        pass


def _frames(codec: XCodec, data: bytes) -> None:
    buffer = bytearray(data)
    frames = 0
    try:
        while (frame := codec.decode(buffer)) is not None:
            frames += 1
            assert frames <= max(1, len(data)) * _MAX_FRAMES_PER_BYTE, "decoder is not consuming its input"
            assert len(frame.raw) > 0
            # what the proxy does with every request: rewrite its id in place
            codec.set_request_id(frame, frame.request_id ^ 1)
    except ProtocolError:
        pass


def bolt_v1(data: bytes) -> None:
    _frames(BoltCodec(), data)


def bolt_v2(data: bytes) -> None:
    _frames(BoltV2Codec(), data)


def dubbo(data: bytes) -> None:
    _frames(DubboCodec(), data)


def dubbo_routing_fields(data: bytes) -> None:
    """The hessian2 body reader on its own: what routing reads from a request body."""
    try:
        headers = routing_headers(data)
    except ProtocolError:
        return
    assert all(isinstance(k, str) and isinstance(v, str) for k, v in headers.items())


def x_example(data: bytes) -> None:
    _frames(ExampleCodec(), data)


def http1_request(data: bytes) -> None:
    # Split in two so the decoder's resumption across reads is exercised too.
    decoder = RequestDecoder(_Sink(), 8 * 1024)
    try:
        decoder.feed(data[: len(data) // 2])
        decoder.feed(data[len(data) // 2 :])
    except ProtocolError as error:
        assert 400 <= error.status < 600


def http1_response(data: bytes) -> None:
    decoder = ResponseDecoder(_Sink(), 8 * 1024)
    try:
        decoder.feed(data)
        decoder.feed_eof()
    except ProtocolError:
        pass


def tls_client_hello(data: bytes) -> None:
    verdict = inspect(data)
    assert isinstance(verdict.outcome, Outcome)
    if verdict.outcome == Outcome.NEED_MORE:
        assert verdict.needed > len(data), "asks for bytes it already has: the listener would wait forever"


TARGETS: dict[str, Callable[[bytes], None]] = {
    "bolt_v1": bolt_v1,
    "bolt_v2": bolt_v2,
    "dubbo": dubbo,
    "dubbo_routing_fields": dubbo_routing_fields,
    "x_example": x_example,
    "http1_request": http1_request,
    "http1_response": http1_response,
    "tls_client_hello": tls_client_hello,
}
