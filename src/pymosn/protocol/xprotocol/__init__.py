"""X-Protocol: TCP RPC codecs behind one interface (api.py), found through a registry."""

from pymosn.protocol.xprotocol.api import Frame, FrameKind, LocalStatus, Match, PoolMode, XCodec

__all__ = ["Frame", "FrameKind", "LocalStatus", "Match", "PoolMode", "XCodec"]
