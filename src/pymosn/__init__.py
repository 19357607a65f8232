"""pymosn: MOSN, the modular observable smart network proxy, re-built in Python."""

__version__ = "0.1.0"
