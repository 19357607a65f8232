"""The HTTP/2 state machine library: jh2 when installed (h2's API with a compiled HPACK; about
10% less proxy CPU per h2load request than h2 here, see docs/design/http2.md), else h2 itself.
PYMOSN_HTTP2_LIBRARY=h2 forces h2, for comparisons and to test the fallback. Everything above
imports the library through this module, so the choice is made once."""

from __future__ import annotations

import os

if os.environ.get("PYMOSN_HTTP2_LIBRARY", "jh2") == "jh2":
    try:
        from jh2 import config, connection, errors, events, exceptions, frame_buffer, settings
        from jh2.hyperframe import frame

        NAME = "jh2"
    except ImportError:  # pragma: no cover - depends on what is installed
        NAME = ""
else:
    NAME = ""
if not NAME:
    from h2 import config, connection, errors, events, exceptions, frame_buffer, settings  # type: ignore[no-redef]
    from hyperframe import frame  # type: ignore[no-redef]

    NAME = "h2"

H2Connection = connection.H2Connection
ConnectionState = connection.ConnectionState
ErrorCodes = errors.ErrorCodes
SettingCodes = settings.SettingCodes
H2Error = exceptions.H2Error
H2ProtocolError = exceptions.ProtocolError
HPACKError = connection.HPACKError  # whichever HPACK the library decodes with
FrameBuffer = frame_buffer.FrameBuffer  # splits received bytes into frame objects
DataFrame = frame.DataFrame
HeadersFrame = frame.HeadersFrame
ContinuationFrame = frame.ContinuationFrame

# The server side: header validation is ours (protocol.http2.headers) because h2 answers every
# malformed header block with GOAWAY, where RFC 9113 8.1.1 wants a stream error; outbound
# headers come from our own conversion, already lowercase and without hop-by-hop fields.
SERVER_CONFIG = config.H2Configuration(
    client_side=False,
    header_encoding=None,
    validate_inbound_headers=False,
    normalize_inbound_headers=False,
    validate_outbound_headers=False,
    normalize_outbound_headers=False,
)

__all__ = [
    "NAME",
    "SERVER_CONFIG",
    "ConnectionState",
    "ContinuationFrame",
    "DataFrame",
    "ErrorCodes",
    "FrameBuffer",
    "H2Connection",
    "H2Error",
    "H2ProtocolError",
    "HPACKError",
    "HeadersFrame",
    "SettingCodes",
    "events",
]
