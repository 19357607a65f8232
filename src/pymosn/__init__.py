"""pymosn: MOSN, the modular observable smart network proxy, re-built in Python."""

from pymosn import build as _build

__version__ = "0.1.0"

_build.select()  # PYMOSN_NO_EXTENSIONS=1: the pure-Python modules even where compiled ones exist
