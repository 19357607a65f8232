"""HTTP/1.1 streams: the server side of a downstream connection and the client side of a pooled
upstream connection. Both are read filters on a network Connection."""

from pymosn.stream.http1.client import ClientStreamConnection
from pymosn.stream.http1.server import ServerStreamConnection

__all__ = ["ClientStreamConnection", "ServerStreamConnection"]
