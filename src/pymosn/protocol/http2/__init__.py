"""HTTP/2 sans-IO pieces over `h2` (hyper-h2): connection settings, RFC 9113 header checks, and
the conversion between HTTP/2 header blocks and the message heads the proxy layer works with.

No sockets and no asyncio here: the stream layer owns the h2 connection and the transport."""
