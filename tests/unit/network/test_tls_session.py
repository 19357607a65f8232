"""The TLS session (network/tls_session.py) against a real OpenSSL client over memory BIOs, no
sockets: handshake, records both ways, the Connection's read pauses, failures and timeouts."""

from __future__ import annotations

import asyncio
import ssl

import pytest

from pymosn.config.model import TLSConfig
from pymosn.network.tls import server_context
from pymosn.network.tls_session import TlsSession
from tests.support.certs import Pki
from tests.support.fakes import RecordingTransport


class App(asyncio.Protocol):
    """The Connection's side: what the session tells it; `pause_after` pauses reading once
    that many chunks have arrived."""

    def __init__(self, pause_after: int = 0) -> None:
        self.transport = None
        self.chunks: list[bytes] = []
        self.eof = False
        self.lost: list = []
        self.pause_after = pause_after

    def connection_made(self, transport) -> None:
        self.transport = transport

    def data_received(self, data: bytes) -> None:
        self.chunks.append(data)
        if self.pause_after and len(self.chunks) == self.pause_after:
            self.transport.pause_reading()

    def eof_received(self) -> bool:
        self.eof = True
        return False

    def connection_lost(self, exc) -> None:
        self.lost.append(exc)


class Client:
    """An OpenSSL client over memory BIOs, wired to the session through a RecordingTransport."""

    def __init__(self, pki: Pki, session: TlsSession, raw: RecordingTransport) -> None:
        context = ssl.create_default_context(cafile=pki.ca_path)
        self.incoming, self.outgoing = ssl.MemoryBIO(), ssl.MemoryBIO()
        self.tls = context.wrap_bio(self.incoming, self.outgoing, server_hostname="localhost")
        self.session, self.raw = session, raw

    def pump(self) -> None:
        """Bytes both ways until neither side has more to say."""
        for _ in range(10):
            moved = False
            if self.outgoing.pending:
                self.session.data_received(self.outgoing.read())
                moved = True
            out = self.raw.take()
            if out:
                self.incoming.write(out)
                moved = True
            if not moved:
                return

    def handshake(self) -> None:
        for _ in range(10):
            try:
                self.tls.do_handshake()
                break
            except ssl.SSLWantReadError:
                self.pump()
        self.pump()

    def read_all(self) -> bytes:
        data = b""
        while True:
            try:
                chunk = self.tls.read(65536)
            except ssl.SSLWantReadError:
                return data
            if not chunk:
                return data
            data += chunk


@pytest.fixture
def loop():
    made = asyncio.new_event_loop()
    yield made
    made.close()


def session_on(loop, pki: Pki, app: App, timeout: float = 5.0) -> tuple[TlsSession, RecordingTransport]:
    cert, key = pki.server("localhost", "localhost")
    context = server_context([TLSConfig(status=True, cert_chain=cert, private_key=key)])
    session = TlsSession(context, app, timeout, loop)
    raw = RecordingTransport()
    raw.protocol = session  # type: ignore[assignment]
    session.connection_made(raw)
    return session, raw


def turn(loop) -> None:
    loop.run_until_complete(asyncio.sleep(0))


@pytest.fixture
def pki(tmp_path):
    return Pki(tmp_path)


def test_records_both_ways_after_the_handshake(loop, pki):
    app = App()
    session, raw = session_on(loop, pki, app)
    client = Client(pki, session, raw)
    client.handshake()
    assert app.transport is session and session.handshake.done() and session.handshake.exception() is None
    assert session.get_extra_info("ssl_object").version() == "TLSv1.3"
    client.tls.write(b"x" * 40000)  # three records
    client.pump()
    assert b"".join(app.chunks) == b"x" * 40000 and max(map(len, app.chunks)) <= 16384
    session.write(b"y" * 50000)
    client.pump()
    assert client.read_all() == b"y" * 50000


def test_a_paused_connection_gets_the_rest_after_it_resumes(loop, pki):
    app = App(pause_after=1)
    session, raw = session_on(loop, pki, app)
    client = Client(pki, session, raw)
    client.handshake()
    for n in range(3):
        client.tls.write(b"%d" % n * 100)  # three records in one read
    session.data_received(client.outgoing.read())
    assert app.chunks == [b"0" * 100] and raw.reading_paused
    turn(loop)
    assert len(app.chunks) == 1  # still paused: nothing more
    session.resume_reading()
    assert len(app.chunks) == 1  # not inside the caller's call
    turn(loop)
    assert app.chunks == [b"0" * 100, b"1" * 100, b"2" * 100] and not raw.reading_paused


def test_close_notify_ends_the_connection_and_ours_answers(loop, pki):
    app = App()
    session, raw = session_on(loop, pki, app)
    client = Client(pki, session, raw)
    client.handshake()
    with pytest.raises(ssl.SSLWantReadError):
        client.tls.unwrap()
    session.data_received(client.outgoing.read())
    assert app.eof and raw.closed and app.lost == [None]
    client.incoming.write(raw.take())
    client.tls.unwrap()  # the proxy's close_notify arrived


def test_a_failed_handshake_sends_the_alert_and_makes_no_connection(loop, pki):
    app = App()
    session, raw = session_on(loop, pki, app)
    session.data_received(b"\x16\x03\x01\x00\x05hello")
    assert raw.take()[:1] == b"\x15"  # an alert record
    assert raw.closed and app.transport is None and app.lost == []
    assert isinstance(session.handshake.exception(), ssl.SSLError)


def test_a_silent_client_is_aborted_after_the_handshake_timeout(loop, pki):
    app = App()
    session, raw = session_on(loop, pki, app, timeout=0.01)
    loop.run_until_complete(asyncio.sleep(0.05))
    assert raw.aborted and isinstance(session.handshake.exception(), TimeoutError) and app.transport is None


def test_writes_after_close_are_dropped(loop, pki):
    app = App()
    session, raw = session_on(loop, pki, app)
    client = Client(pki, session, raw)
    client.handshake()
    session.close()
    raw.take()
    session.write(b"late")
    assert raw.take() == b"" and session.is_closing()


def test_a_record_openssl_refuses_ends_the_connection_with_its_error(loop, pki):
    app = App()
    session, raw = session_on(loop, pki, app)
    client = Client(pki, session, raw)
    client.handshake()
    session.data_received(b"\x17\x03\x03\x00\x20" + b"\x00" * 32)  # a record no key of this session decrypts
    assert raw.aborted and len(app.lost) == 1 and isinstance(app.lost[0], ssl.SSLError)
