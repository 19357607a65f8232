"""The X-Protocol codec registry: the built-in codecs, plus any a third party installs as a
Python entry point in the `pymosn.xprotocol` group (`name = "package.module:CodecClass"`):
adding a protocol needs no change to pymosn."""

from __future__ import annotations

import logging
from importlib.metadata import entry_points

from pymosn.protocol.xprotocol.api import XCodec
from pymosn.protocol.xprotocol.bolt import BoltCodec, BoltV2Codec
from pymosn.protocol.xprotocol.dubbo import DubboCodec
from pymosn.protocol.xprotocol.example import ExampleCodec

log = logging.getLogger("pymosn.xprotocol")

ENTRY_POINT_GROUP = "pymosn.xprotocol"

BUILTIN: dict[str, type[XCodec]] = {c.name: c for c in (BoltCodec, BoltV2Codec, DubboCodec, ExampleCodec)}

_codecs: dict[str, XCodec] | None = None


def codecs() -> dict[str, XCodec]:
    """Every codec by name (built-ins first; a plugin cannot replace a built-in)."""
    global _codecs
    if _codecs is None:
        found = {name: cls() for name, cls in BUILTIN.items()}
        for ep in entry_points(group=ENTRY_POINT_GROUP):
            if ep.name in found:
                log.warning("X-Protocol plugin %s (%s) ignored: %r is built in", ep.name, ep.value, ep.name)
                continue
            try:
                cls = ep.load()
                codec = cls()
            except Exception as error:  # a broken plugin must not take the proxy down
                log.error("X-Protocol plugin %s (%s) failed to load: %s", ep.name, ep.value, error)
                continue
            if not isinstance(codec, XCodec):
                log.error("X-Protocol plugin %s (%s) is not an XCodec", ep.name, ep.value)
                continue
            found[ep.name] = codec
        _codecs = found
    return _codecs


def get(name: str) -> XCodec | None:
    table = codecs()
    codec = table.get(name)
    if codec is None:  # config names are case-insensitive in MOSN ("bolt", "Bolt")
        codec = next((c for n, c in table.items() if n.lower() == name.lower()), None)
    return codec


def register(codec: XCodec) -> None:
    """Adds a codec at run time (tests, embedding applications)."""
    codecs()[codec.name] = codec
