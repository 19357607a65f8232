"""HTTP/2 connection settings a listener advertises, with RFC 9113's bounds."""

from __future__ import annotations

from dataclasses import dataclass

# RFC 9113 6.5.2 and 6.9.1
MIN_WINDOW = 65_535  # below the default the client may overrun us before it sees SETTINGS
MAX_WINDOW = 2**31 - 1
MIN_FRAME_SIZE = 16_384
MAX_FRAME_SIZE = 16_777_215

# SETTINGS identifiers (RFC 9113 6.5.2), so this module needs no HTTP/2 library
HEADER_TABLE_SIZE = 0x1
ENABLE_PUSH = 0x2
MAX_CONCURRENT_STREAMS = 0x3
INITIAL_WINDOW_SIZE = 0x4
MAX_FRAME_SIZE_SETTING = 0x5
MAX_HEADER_LIST_SIZE = 0x6


@dataclass(frozen=True, slots=True)
class Http2Settings:
    """Defaults are Envoy's edge-proxy recommendations: 100 streams, a 64 KiB stream window and a
    1 MiB connection window bound what one client can make us hold."""

    max_concurrent_streams: int = 100
    initial_stream_window_size: int = 65_536
    initial_connection_window_size: int = 1_048_576
    max_frame_size: int = MIN_FRAME_SIZE
    max_header_list_size: int = 60 * 1024
    # not a SETTING: more fields in a request (Envoy's max_headers_count) reset its stream
    max_headers_count: int = 100

    def problems(self) -> list[tuple[str, str]]:
        """(field, what is wrong) for every value out of its RFC range."""
        found = []
        if not 1 <= self.max_concurrent_streams <= MAX_WINDOW:
            found.append(("max_concurrent_streams", f"must be 1..{MAX_WINDOW}"))
        for name in ("initial_stream_window_size", "initial_connection_window_size"):
            if not MIN_WINDOW <= getattr(self, name) <= MAX_WINDOW:
                found.append((name, f"must be {MIN_WINDOW}..{MAX_WINDOW}"))
        if not MIN_FRAME_SIZE <= self.max_frame_size <= MAX_FRAME_SIZE:
            found.append(("max_frame_size", f"must be {MIN_FRAME_SIZE}..{MAX_FRAME_SIZE}"))
        if self.max_header_list_size < 1:
            found.append(("max_header_list_size", "must be >= 1"))
        if self.max_headers_count < 1:
            found.append(("max_headers_count", "must be >= 1"))
        return found

    def local_settings(self) -> dict[int, int]:
        """What the server's first SETTINGS frame says. Push is off: a proxy never pushes."""
        return {
            ENABLE_PUSH: 0,
            MAX_CONCURRENT_STREAMS: self.max_concurrent_streams,
            INITIAL_WINDOW_SIZE: self.initial_stream_window_size,
            MAX_FRAME_SIZE_SETTING: self.max_frame_size,
            MAX_HEADER_LIST_SIZE: self.max_header_list_size,
        }
