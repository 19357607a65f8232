"""X-Protocol (TCP RPC) streams: the downstream server connection and the multiplexing client."""

from pymosn.stream.xprotocol.client import KeepAlive, XClientConnection
from pymosn.stream.xprotocol.server import XServerConnection

__all__ = ["KeepAlive", "XClientConnection", "XServerConnection"]
