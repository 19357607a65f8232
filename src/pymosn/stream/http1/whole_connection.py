"""What the HTTP/1.1 server and client stream connections share: one connection carries one
exchange at a time, so the connection's identity, reading and watermarks are the stream's."""

from __future__ import annotations

from functools import cached_property

from pymosn.api.connection import ConnectionInfo
from pymosn.api.streams import WatermarkListener
from pymosn.network.connection import Connection


class WholeConnectionStream:
    conn: Connection

    @cached_property  # after the first read a plain attribute: the record never changes
    def connection(self) -> ConnectionInfo:
        return self.conn.info

    def pause_reading(self) -> None:
        self.conn.pause_reading()

    def resume_reading(self) -> None:
        self.conn.resume_reading()

    def set_watermark_listener(self, listener: WatermarkListener | None) -> None:
        self.conn.watermark_listener = listener
