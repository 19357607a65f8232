"""The X-Protocol codec registry: the built-in codecs, plus any a third party installs as a
Python entry point in the `pymosn.xprotocol` group (`name = "package.module:CodecClass"`):
adding a protocol needs no change to pymosn. It is one of the typed extension registries
(api/registry.py); the config layer learns its names through `protocols.set_rpc_protocols`
and the header sides each codec can rewrite through `protocols.set_rpc_header_rewrites`."""

from __future__ import annotations

from pymosn.api.headers import HeaderSide
from pymosn.api.registry import Plugin, Registry
from pymosn.protocol.xprotocol.api import XCodec
from pymosn.protocol.xprotocol.bolt import BoltCodec, BoltV2Codec
from pymosn.protocol.xprotocol.dubbo import DubboCodec
from pymosn.protocol.xprotocol.example import ExampleCodec

ENTRY_POINT_GROUP = "pymosn.xprotocol"

BUILTIN: dict[str, type[XCodec]] = {c.name: c for c in (BoltCodec, BoltV2Codec, DubboCodec, ExampleCodec)}


def _codec_of(loaded: object) -> Plugin[XCodec]:
    """An entry point names a codec class; the registry keeps one instance of it."""
    if not callable(loaded):
        raise TypeError(f"{loaded!r} is not an XCodec class")
    codec = loaded()
    if not isinstance(codec, XCodec):
        raise TypeError(f"{loaded!r} is not an XCodec")
    return Plugin(codec)


# config names are case-insensitive in MOSN ("bolt", "Bolt")
XPROTOCOL_CODECS: Registry[XCodec] = Registry("X-Protocol codec", ENTRY_POINT_GROUP, _codec_of,
                                              case_insensitive=True)
for _name, _cls in BUILTIN.items():
    XPROTOCOL_CODECS.register(_name, _cls())


def codecs() -> dict[str, XCodec]:
    """Every codec by name (built-ins first; a plugin cannot replace a built-in)."""
    return XPROTOCOL_CODECS.factories()


def get(name: str) -> XCodec | None:
    declaration = XPROTOCOL_CODECS.find(name)
    return None if declaration is None else XPROTOCOL_CODECS.factory(declaration.name)


def rewritable_headers(name: str) -> HeaderSide | None:
    """The codec's XCodec.rewritable_headers, for the config layer (protocols.set_rpc_header_rewrites)."""
    codec = get(name)
    return None if codec is None else codec.rewritable_headers


def register(codec: XCodec) -> None:
    """Adds a codec at run time (tests, embedding applications)."""
    XPROTOCOL_CODECS.register(codec.name, codec, builtin=False)
