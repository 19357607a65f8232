"""Every fuzz target under hypothesis in CI: arbitrary bytes, and real frames with bytes
flipped, inserted, deleted or cut off. atheris runs the same targets by hand."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tests.fuzz.seeds import seeds
from tests.fuzz.targets import TARGETS


@st.composite
def mutated(draw, name: str) -> bytes:
    data = bytearray(draw(st.sampled_from(seeds(name))))
    for _ in range(draw(st.integers(1, 4))):
        op = draw(st.sampled_from(("flip", "insert", "delete", "cut")))
        at = draw(st.integers(0, max(0, len(data) - 1)))
        if op == "flip" and data:
            data[at] = draw(st.integers(0, 255))
        elif op == "insert":
            data[at:at] = draw(st.binary(min_size=1, max_size=8))
        elif op == "delete" and data:
            del data[at : at + draw(st.integers(1, 8))]
        elif op == "cut":
            del data[at:]
    return bytes(data)


@pytest.mark.parametrize("name", sorted(TARGETS))
def test_seeds_are_accepted(name):
    for seed in seeds(name):
        TARGETS[name](seed)


def test_seeds_are_real_frames():
    """Mutating the seeds only reaches deep into the decoders if the seeds themselves decode."""
    from pymosn.network.client_hello import Outcome, inspect
    from pymosn.protocol.xprotocol.bolt import BoltCodec, BoltV2Codec
    from pymosn.protocol.xprotocol.dubbo import DubboCodec, routing_headers
    from pymosn.protocol.xprotocol.example import ExampleCodec

    for name, codec in (("bolt_v1", BoltCodec()), ("bolt_v2", BoltV2Codec()), ("dubbo", DubboCodec()),
                        ("x_example", ExampleCodec())):
        for seed in seeds(name):
            frame = codec.decode(bytearray(seed))
            assert frame is not None and bytes(frame.raw) == seed, name
    assert routing_headers(seeds("dubbo_routing_fields")[0])["group"] == "blue"
    hello = inspect(seeds("tls_client_hello")[0])
    assert hello.outcome == Outcome.TLS and hello.server_name == "svc.example.com" and "h2" in hello.alpn


@pytest.mark.parametrize("name", sorted(TARGETS))
def test_arbitrary_bytes(name):
    @settings(max_examples=300, deadline=None, database=None)
    @given(st.binary(max_size=512))
    def run(data):
        TARGETS[name](data)

    run()


@pytest.mark.parametrize("name", sorted(TARGETS))
def test_mutated_frames(name):
    @settings(max_examples=400, deadline=None, database=None)
    @given(mutated(name))
    def run(data):
        TARGETS[name](data)

    run()
