"""TLS transport sockets: server contexts (several certificates chosen by SNI, ALPN, versions,
ciphers, client certificate verification) and client contexts for upstreams, from MOSN's
tls_context. Python's ssl (OpenSSL) does the TLS; `cryptography` reads certificate names."""

from __future__ import annotations

import os
import ssl
import tempfile
from collections.abc import Sequence

from pymosn.config import model

_VERSIONS = {
    "TLSv1_0": ssl.TLSVersion.TLSv1,
    "TLSv1_1": ssl.TLSVersion.TLSv1_1,
    "TLSv1_2": ssl.TLSVersion.TLSv1_2,
    "TLSv1_3": ssl.TLSVersion.TLSv1_3,
}


def _pem_file(value: str) -> str:
    """MOSN accepts inline PEM where a path is expected; ssl wants paths."""
    if "-----BEGIN" not in value:
        return value
    fd, path = tempfile.mkstemp(prefix="pymosn-tls-", suffix=".pem")
    with os.fdopen(fd, "w") as f:
        f.write(value)
    return path


def _pem_bytes(value: str) -> bytes:
    if "-----BEGIN" in value:
        return value.encode()
    with open(value, "rb") as f:
        return f.read()


def _apply_common(ctx: ssl.SSLContext, cfg: model.TLSConfig) -> None:
    if cfg.min_version:
        ctx.minimum_version = _VERSIONS[cfg.min_version]
    if cfg.max_version:
        ctx.maximum_version = _VERSIONS[cfg.max_version]
    if cfg.cipher_suites:
        ctx.set_ciphers(cfg.cipher_suites.replace(",", ":"))
    if cfg.ecdh_curves:
        ctx.set_ecdh_curve(cfg.ecdh_curves.split(",")[0])
    if cfg.alpn:
        ctx.set_alpn_protocols([p.strip() for p in cfg.alpn.split(",") if p.strip()])


def _server_context(cfg: model.TLSConfig) -> ssl.SSLContext:
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.tls_config = cfg  # what local_uri_sans reads
    ctx.load_cert_chain(_pem_file(cfg.cert_chain), _pem_file(cfg.private_key))
    _apply_common(ctx, cfg)
    if cfg.ca_cert and (cfg.verify_client or cfg.require_client_cert):
        # Python's ssl cannot require a certificate without verifying it: both mean "require
        # and verify against ca_cert".
        ctx.load_verify_locations(_pem_file(cfg.ca_cert))
        ctx.verify_mode = ssl.CERT_REQUIRED
    return ctx


def _subject_alt_names(cert_chain: str, kind_name: str) -> tuple[list[str], object]:
    """(the leaf certificate's SANs of one x509 general-name type, the certificate)."""
    from cryptography import x509  # only some listeners need it: imported on first use

    cert = x509.load_pem_x509_certificate(_pem_bytes(cert_chain))
    try:
        san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    except x509.ExtensionNotFound:
        return [], cert
    return san.get_values_for_type(getattr(x509, kind_name)), cert


def certificate_names(cert_chain: str) -> list[str]:
    """The DNS names (SANs, else the CN) the leaf certificate serves."""
    from cryptography import x509

    names, cert = _subject_alt_names(cert_chain, "DNSName")
    if not names:
        names = [a.value for a in cert.subject.get_attributes_for_oid(x509.NameOID.COMMON_NAME)]
    return [n.lower() for n in names]


def local_uri_sans(ctx: ssl.SSLContext) -> tuple[str, ...]:
    """The URI SANs (our SPIFFE ID in a mesh) of the certificate a server context presents,
    read once per certificate (a reload forgets them)."""
    found = getattr(ctx, "local_uri_sans", None)
    if found is None:
        cfg = getattr(ctx, "tls_config", None)
        found = tuple(_subject_alt_names(cfg.cert_chain, "UniformResourceIdentifier")[0]) if cfg else ()
        ctx.local_uri_sans = found
    return found


class CertificateReloader:
    """Reloads certificates whose files changed into the same SSL contexts: new handshakes use
    the new certificate, established connections keep theirs. A file that fails to load (say,
    half written) keeps the old certificate and is tried again on the next check."""

    def __init__(self, pairs: list[tuple[ssl.SSLContext, model.TLSConfig]]) -> None:
        self.pairs = [(ctx, cfg) for ctx, cfg in pairs if "-----BEGIN" not in cfg.cert_chain]
        self.mtimes = [self._mtimes(cfg) for _, cfg in self.pairs]
        self.reloads = 0

    @staticmethod
    def _mtimes(cfg: model.TLSConfig) -> tuple:
        try:
            return tuple(os.stat(p).st_mtime_ns for p in (cfg.cert_chain, cfg.private_key) if "-----BEGIN" not in p)
        except OSError:
            return ()

    def check(self) -> None:
        for i, (ctx, cfg) in enumerate(self.pairs):
            current = self._mtimes(cfg)
            if not current or current == self.mtimes[i]:
                continue
            try:
                ctx.load_cert_chain(cfg.cert_chain, _pem_file(cfg.private_key))
            except (OSError, ssl.SSLError):
                continue
            self.mtimes[i] = current
            self.reloads += 1
            vars(ctx).pop("local_uri_sans", None)


def server_context(configs: Sequence[model.TLSConfig]) -> ssl.SSLContext:
    """The first certificate is the default; the others are picked by the client's SNI,
    matched against each certificate's own names (exact, then `*.suffix`). The context's
    `reloader` reloads certificates whose files change."""
    contexts = [_server_context(c) for c in configs]
    default = contexts[0]
    default.reloader = CertificateReloader(list(zip(contexts, configs)))
    if len(contexts) == 1:
        default.sni_callback = _record_server_name
        return default
    exact: dict[str, ssl.SSLContext] = {}
    wildcard: dict[str, ssl.SSLContext] = {}
    for cfg, ctx in zip(configs, contexts):
        names = [cfg.server_name.lower()] if cfg.server_name else certificate_names(cfg.cert_chain)
        for name in names:
            if name.startswith("*."):
                wildcard.setdefault(name[1:], ctx)
            else:
                exact.setdefault(name, ctx)

    def pick(sock: ssl.SSLObject, server_name: str | None, _: ssl.SSLContext) -> None:
        _record_server_name(sock, server_name, _)
        if not server_name:
            return
        name = server_name.lower()
        chosen = exact.get(name)
        if chosen is None and "." in name:
            chosen = wildcard.get(name[name.index(".") :])
        if chosen is not None:
            sock.context = chosen

    default.sni_callback = pick
    return default


# OpenSSL tells the server the client's SNI only during the handshake: kept on the SSLObject
_SERVER_NAME = "pymosn_server_name"


def _record_server_name(sock: ssl.SSLObject, server_name: str | None, _: ssl.SSLContext) -> None:
    setattr(sock, _SERVER_NAME, server_name)


def requested_server_name(ssl_object: ssl.SSLObject) -> str | None:
    """The TLS server name of a session: the one the client asked us for (server side), or the
    one we sent (client side)."""
    if ssl_object.server_side:
        return getattr(ssl_object, _SERVER_NAME, None)
    return ssl_object.server_hostname


def client_context(cfg: model.TLSConfig) -> ssl.SSLContext:
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    if cfg.insecure_skip:
        ctx.check_hostname = False
        ctx.verify_mode = ssl.CERT_NONE
    elif cfg.ca_cert:
        ctx.load_verify_locations(_pem_file(cfg.ca_cert))
    else:
        ctx.load_default_certs()
    if cfg.cert_chain:
        ctx.load_cert_chain(_pem_file(cfg.cert_chain), _pem_file(cfg.private_key))
    _apply_common(ctx, cfg)
    return ctx


def peer_sans(transport) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """The peer certificate's URI SANs and DNS SANs, each in certificate order."""
    cert = transport.get_extra_info("peercert") if transport is not None else None
    if not cert:
        return (), ()
    sans = cert.get("subjectAltName", ())
    return tuple(v for kind, v in sans if kind == "URI"), tuple(v for kind, v in sans if kind == "DNS")
