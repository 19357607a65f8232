"""A stream filter for integration tests of the filter pipeline, driven by the request's
`x-probe` header; installed into a pymosn process by tests/support/filter_plugin.py.

Every request: `x-probe-seen: 1` is set on the request; the response gets `x-probe-destroyed: N`,
the number of probe filters whose on_destroy has run in this process so far (each exactly once).
`x-probe` values: `deny` (a 403 local reply, flag FI, details `probe_denied`), `raise` (raises in
decode_headers), `buffer` (the whole body gathered; its length sent upstream as
`x-probe-length`), `delay` (held 50 ms on the loop, then continued), `raise-response` (raises
in encode_headers)."""

from __future__ import annotations

from dataclasses import dataclass

import msgspec

from pymosn.api.stream_filter import CONTINUE, STOP, STOP_AND_BUFFER, FilterCallbacks, StreamFilter

destroyed = 0


class ProbeFilter(StreamFilter):
    def __init__(self, callbacks: FilterCallbacks) -> None:
        self.callbacks = callbacks
        self.mode = b""
        self.headers = None
        self.timer = None

    def decode_headers(self, headers, end_stream):
        self.mode = headers.get(b"x-probe") or b""
        headers.set(b"x-probe-seen", b"1")
        if self.mode == b"deny":
            self.callbacks.send_local_reply(403, b"probe denied", "FI", "probe_denied")
            return STOP
        if self.mode == b"raise":
            raise RuntimeError("probe raised")
        if self.mode == b"buffer" and not end_stream:
            self.headers = headers
            return STOP_AND_BUFFER
        if self.mode == b"delay":
            self.timer = self.callbacks.connection.loop.call_later(0.05, self.callbacks.continue_decoding)
            return STOP
        return CONTINUE

    def decode_data(self, data, end_stream):
        if self.headers is not None and end_stream:
            self.headers.set(b"x-probe-length", b"%d" % len(data))
        return CONTINUE

    def encode_headers(self, status, headers, end_stream):
        if self.mode == b"raise-response":
            raise RuntimeError("probe raised on the response")
        headers.set(b"x-probe-destroyed", b"%d" % destroyed)
        return CONTINUE

    def on_destroy(self):
        global destroyed
        destroyed += 1
        if self.timer is not None:
            self.timer.cancel()


@dataclass(frozen=True)
class ProbeConfig:
    def create_filter(self, callbacks: FilterCallbacks) -> ProbeFilter:
        return ProbeFilter(callbacks)


class ProbeSettings(msgspec.Struct, forbid_unknown_fields=True):
    """The filter's (empty) config."""


class Factory:
    name = "probe"
    config_type = ProbeSettings

    def create_config(self, config: ProbeSettings) -> ProbeConfig:
        return ProbeConfig()


FACTORY = Factory()
