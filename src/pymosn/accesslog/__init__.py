"""Access logs: format strings (Envoy command operators and MOSN variables) compiled once,
written through a buffered sink."""

from pymosn.accesslog.format import (
    DEFAULT_FORMAT,
    ENVOY_DEFAULT_FORMAT,
    MOSN_DEFAULT_FORMAT,
    Formatter,
    compile_format,
)
from pymosn.accesslog.logger import AccessLogger
from pymosn.accesslog.sink import BufferedSink
from pymosn.accesslog.variables import MISSING, FormatError

__all__ = [
    "DEFAULT_FORMAT",
    "ENVOY_DEFAULT_FORMAT",
    "MISSING",
    "MOSN_DEFAULT_FORMAT",
    "AccessLogger",
    "BufferedSink",
    "FormatError",
    "Formatter",
    "compile_format",
]
