"""Micro benchmark: what the stream-filter manager costs per stream (µs of CPU, process_time).

    .venv/bin/python bench/filter_manager.py [--streams 100000] [--repeat 5]

Each stream: the manager is made (its filters with it), request headers go through the decoder
chain to a no-op owner, response headers back through the encoder chain, then `destroy()`.
"headers" sends headers only, end_stream true both ways; "body" sends the headers and then a
3-chunk body each way (the last chunk ends the stream). The filters pass everything on:
"1" is one dual filter, "3" a decoder, an encoder and a dual. "0" makes no manager: the owner's
own calls, what a listener without stream filters pays. "issue" is the pipeline issue's
benchmark chain (bench/configs.py BENCH_CHAIN: RBAC with 3 policies, a local rate limit that
never trips, header mutation), made by the filters' own config readers; its requests pass. "direct" is the filters' own work for
the same stream (making them, calling each method the manager calls, on_destroy) with no
manager: the manager's overhead is the difference. Every filtered stream gets header maps of its
own, made as FilteredStream makes them (the codec's lists wrapped, the response's names
lower-cased): a map shared by all streams would be written once and then let a writing filter
measure its second write to the same map. Best of --repeat runs (the least disturbed).
"""

from __future__ import annotations

import argparse
import importlib.util
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from pymosn.api.connection import ConnectionInfo
from pymosn.api.headers import HeaderMap, RequestHeaderMap
from pymosn.api.stream_filter import (
    CONTINUE,
    DecoderFilter,
    EncoderFilter,
    FilterCallbacks,
    FilterStatus,
    StreamFilter,
)
from pymosn.api.stream_info import StreamInfo
from pymosn.config.issues import IssueLog
from pymosn.proxy.filter_manager import FilterChainEntry, FilterChainPlan, FilterManager


class PassDecoder(DecoderFilter):
    def __init__(self, callbacks: FilterCallbacks) -> None:
        self.callbacks = callbacks

    def decode_headers(self, headers: RequestHeaderMap, end_stream: bool) -> FilterStatus:
        return CONTINUE


class PassEncoder(EncoderFilter):
    def __init__(self, callbacks: FilterCallbacks) -> None:
        self.callbacks = callbacks

    def encode_headers(self, status: int, headers: HeaderMap, end_stream: bool) -> FilterStatus:
        return CONTINUE


class PassBoth(StreamFilter):
    def __init__(self, callbacks: FilterCallbacks) -> None:
        self.callbacks = callbacks

    def decode_headers(self, headers: RequestHeaderMap, end_stream: bool) -> FilterStatus:
        return CONTINUE

    def encode_headers(self, status: int, headers: HeaderMap, end_stream: bool) -> FilterStatus:
        return CONTINUE


class Config:
    def __init__(self, cls: type) -> None:
        self.cls = cls

    def create_filter(self, callbacks: FilterCallbacks) -> Any:
        return self.cls(callbacks)


class Clock:
    """The loop's clock, all the filters read of the connection's loop here."""

    time = staticmethod(time.monotonic)


class NullOwner:
    """An owner that does nothing: only the manager's own work is measured."""

    def on_decoded_headers(self, headers: Any, end_stream: bool) -> None: ...
    def on_decoded_data(self, data: bytes, end_stream: bool) -> None: ...
    def on_decoded_trailers(self, trailers: Any) -> None: ...
    def on_encoded_headers(self, status: int, headers: Any, end_stream: bool) -> None: ...
    def on_encoded_data(self, data: bytes, end_stream: bool) -> None: ...
    def on_encoded_trailers(self, trailers: Any) -> None: ...
    def on_local_reply(self, reply: Any) -> None:
        raise AssertionError(f"the benchmark's chain answered locally: {reply}")
    def reset_stream(self, reply: Any) -> None: ...
    def resolve_route(self) -> Any: return None
    def per_filter_config(self, route: Any, name: str) -> Any: return None
    def choose_host(self) -> None: ...
    def pause_reading(self) -> None: ...
    def resume_reading(self) -> None: ...
    def pause_upstream(self) -> None: ...
    def resume_upstream(self) -> None: ...
    def on_filter_error(self, name: str, error: Exception) -> None: ...


CHAINS: dict[str, tuple[type, ...]] = {"0": (), "1": (PassBoth,), "3": (PassDecoder, PassEncoder, PassBoth)}


def issue_plan() -> FilterChainPlan:
    """BENCH_CHAIN as pymosn runs it: each filter's Envoy config read by its own module."""
    from pymosn.filter.http import header_mutation, local_ratelimit, rbac

    spec = importlib.util.spec_from_file_location("bench_configs", Path(__file__).with_name("configs.py"))
    assert spec is not None and spec.loader is not None
    configs = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(configs)
    modules: dict[str, Any] = {"envoy.filters.http.rbac": rbac, "envoy.filters.http.local_ratelimit": local_ratelimit,
                               "envoy.filters.http.header_mutation": header_mutation}
    entries = []
    for raw in configs.BENCH_CHAIN:
        factory = modules[raw["name"]].FACTORY
        log = IssueLog()
        decoded = factory.decode_envoy(raw["typed_config"], raw["name"], log)
        assert decoded is not None and not log.errors, log.errors
        entries.append(FilterChainEntry(raw["name"], factory.create_config(decoded)))
    return FilterChainPlan(entries)


CHUNKS = (b"a" * 512, b"b" * 512, b"c" * 512)
REQUEST = ([(b"host", b"svc")], [b"host"])  # the codec's pairs and lower-cased names
RESPONSE = [(b"server", b"o")]


def stream_runner(classes: tuple[type, ...] | FilterChainPlan, body: bool) -> Callable[[int], None]:
    owner = NullOwner()
    info = StreamInfo("bench", 1)
    info.downstream_remote_address = "127.0.0.1:40000"
    connection = ConnectionInfo(1, Clock(), ("127.0.0.1", 40000), ("127.0.0.1", 8080),  # type: ignore[arg-type]
                                remote_address="127.0.0.1:40000", local_address="127.0.0.1:8080")
    request_pairs, request_names = REQUEST
    last = len(CHUNKS) - 1
    if not classes:
        request = RequestHeaderMap(request_pairs, request_names, b"GET", b"/")
        response = HeaderMap.of(RESPONSE)
        def bare(n: int) -> None:
            for _ in range(n):
                owner.on_decoded_headers(request, not body)
                if body:
                    for i, chunk in enumerate(CHUNKS):
                        owner.on_decoded_data(chunk, i == last)
                owner.on_encoded_headers(200, response, not body)
                if body:
                    for i, chunk in enumerate(CHUNKS):
                        owner.on_encoded_data(chunk, i == last)
        return bare
    plan = classes if isinstance(classes, FilterChainPlan) else FilterChainPlan(
        [FilterChainEntry(f"f{i}", Config(cls)) for i, cls in enumerate(classes)])

    def filtered(n: int) -> None:
        for _ in range(n):
            manager = FilterManager(owner, plan, info, connection)
            request = RequestHeaderMap(request_pairs, request_names, b"GET", b"/")
            manager.decode_headers(request, not body)
            if body:
                for i, chunk in enumerate(CHUNKS):
                    manager.decode_data(chunk, i == last)
            manager.encode_headers(200, HeaderMap.of(RESPONSE), not body)
            if body:
                for i, chunk in enumerate(CHUNKS):
                    manager.encode_data(chunk, i == last)
            manager.destroy()
    return filtered


def direct_runner(classes: tuple[type, ...], body: bool) -> Callable[[int], None]:
    """The filters' own work, called by hand in the manager's order: the floor."""
    owner = NullOwner()
    request_pairs, request_names = REQUEST
    configs = [Config(cls) for cls in classes]
    last = len(CHUNKS) - 1

    decoding = [i for i, cls in enumerate(classes) if issubclass(cls, DecoderFilter)]
    encoding = [i for i, cls in reversed(list(enumerate(classes))) if issubclass(cls, EncoderFilter)]

    def run(n: int) -> None:
        for _ in range(n):
            made = [config.create_filter(None) for config in configs]  # type: ignore[arg-type]
            decoders = [made[i] for i in decoding]
            encoders = [made[i] for i in encoding]
            request = RequestHeaderMap(request_pairs, request_names, b"GET", b"/")
            response = HeaderMap.of(RESPONSE)
            for f in decoders:
                f.decode_headers(request, not body)
            owner.on_decoded_headers(request, not body)
            if body:
                for i, chunk in enumerate(CHUNKS):
                    for f in decoders:
                        f.decode_data(chunk, i == last)
                    owner.on_decoded_data(chunk, i == last)
            for f in encoders:
                f.encode_headers(200, response, not body)
            owner.on_encoded_headers(200, response, not body)
            if body:
                for i, chunk in enumerate(CHUNKS):
                    for f in encoders:
                        f.encode_data(chunk, i == last)
                    owner.on_encoded_data(chunk, i == last)
            for f in made:
                f.on_destroy()
    return run


def measure(run: Callable[[int], None], streams: int, repeat: int) -> float:
    run(min(streams, 1000))  # warm up (the plan learns its layout)
    best = float("inf")
    for _ in range(repeat):
        start = time.process_time()
        run(streams)
        best = min(best, time.process_time() - start)
    return best / streams * 1e6


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--streams", type=int, default=100_000)
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    print("| filters | headers µs/stream | body µs/stream | direct headers | direct body |")
    print("|---|---|---|---|---|")
    for name, classes in CHAINS.items():
        row = [measure(stream_runner(classes, body), args.streams, args.repeat) for body in (False, True)]
        if classes:
            row += [measure(direct_runner(classes, body), args.streams, args.repeat) for body in (False, True)]
        cells = " | ".join(f"{value:.2f}" for value in row) + (" | — | —" if not classes else "")
        print(f"| {name} | {cells} |")
    row = [measure(stream_runner(issue_plan(), body), args.streams, args.repeat) for body in (False, True)]
    print(f"| issue | {row[0]:.2f} | {row[1]:.2f} | — | — |")


if __name__ == "__main__":
    main()
