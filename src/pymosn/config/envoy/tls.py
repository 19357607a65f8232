"""Transport sockets: envoy.transport_sockets.tls (Downstream/UpstreamTlsContext) as MOSN's
tls_context, raw_buffer as plaintext."""

from __future__ import annotations

import ssl
from functools import cache

from pymosn.config.envoy import schemas as s
from pymosn.config.envoy.extensions import display, extension
from pymosn.config.envoy.message import Context, Message, Schema, data_source
from pymosn.config.issues import item

TLS_SOCKET = "envoy.transport_sockets.tls"
RAW_BUFFER = "envoy.transport_sockets.raw_buffer"
_DOWNSTREAM = "envoy.extensions.transport_sockets.tls.v3.DownstreamTlsContext"
_UPSTREAM = "envoy.extensions.transport_sockets.tls.v3.UpstreamTlsContext"
TLS_VERSIONS = ("TLS_AUTO", "TLSv1_0", "TLSv1_1", "TLSv1_2", "TLSv1_3")
_TRUST = ("VERIFY_TRUST_CHAIN", "ACCEPT_UNTRUSTED")


def transport_socket(m: Message | None, ctx: Context, *, upstream: bool,
                     handshake_timeout: float | None = None) -> list[dict]:
    """MOSN tls_context dicts for a transport socket: none for plaintext, one per certificate."""
    if m is None:
        return []
    ext = extension(m)
    m.finish()
    if ext is None or ext.name == RAW_BUFFER:
        return []
    if ext.name != TLS_SOCKET:
        m.error("name" if m.has("name") else None, f"transport socket {display(ext)} is not implemented by pymosn "
                                                   f"yet; known: {RAW_BUFFER}, {TLS_SOCKET}")
        return []
    wanted = _UPSTREAM if upstream else _DOWNSTREAM
    if ext.type and ext.type != wanted:
        side = "a cluster" if upstream else "a listener"
        ctx.log.error(ext.path, f"{side} takes {wanted.rsplit('.', 1)[-1]}, got {ext.type}")
        return []
    tls = Message(ext.config, ext.path, s.UPSTREAM_TLS_CONTEXT if upstream else s.DOWNSTREAM_TLS_CONTEXT, ctx)
    base = ctx.node({"status": True}, ext.path)
    if handshake_timeout is not None:
        base["handshake_timeout"] = handshake_timeout
    common = tls.message("common_tls_context", s.COMMON_TLS_CONTEXT)
    refused: set[str] = set()
    certificates = _common(common, base, ctx, upstream, refused) if common is not None else []
    if upstream:
        return [_upstream(tls, base, certificates, ctx)]
    return _downstream(tls, base, certificates, ctx, refused)


# Where else a context can take its certificates or its peer validation from (all refused)
_CERTIFICATE_SOURCES = ("tls_certificate_provider_instance", "tls_certificate_certificate_provider",
                        "tls_certificate_certificate_provider_instance", "custom_tls_certificate_selector")
_VALIDATION_SOURCES = ("combined_validation_context", "validation_context_certificate_provider",
                       "validation_context_certificate_provider_instance")


def _common(m: Message, out: dict, ctx: Context, upstream: bool, refused: set[str]) -> list[tuple[dict, Message]]:
    """The certificates; `refused` gets "certificates" / "validation" when a source of either
    was refused, so their absence is not reported again."""
    if any(m.has(field) for field in _CERTIFICATE_SOURCES):
        refused.add("certificates")
    if any(m.has(field) for field in _VALIDATION_SOURCES):
        refused.add("validation")
    params = m.message("tls_params", s.TLS_PARAMETERS)
    if params is not None:
        versions = []
        for field, key in (("tls_minimum_protocol_version", "min_version"),
                           ("tls_maximum_protocol_version", "max_version")):
            version = params.enum(field, TLS_VERSIONS)
            if version not in (None, "TLS_AUTO"):
                ctx.put(out, key, version, params.at(field))
                versions.append(TLS_VERSIONS.index(version))
        if len(versions) == 2 and versions[0] > versions[1]:
            params.error("tls_minimum_protocol_version", "is above tls_maximum_protocol_version")
        ciphers = params.strings("cipher_suites")
        if ciphers:
            # BoringSSL's equal-preference groups "[A|B]" become plain OpenSSL list entries
            names = [name for entry in ciphers for name in entry.strip("[]").split("|") if name]
            ctx.put(out, "cipher_suites", ":".join(names), params.at("cipher_suites"))
            for index, entry in enumerate(ciphers):
                # OpenSSL takes a list if it knows any one cipher of it; Envoy wants every one known
                unknown = [name for name in entry.strip("[]").split("|") if name and not _known_cipher(name)]
                if unknown:
                    ctx.log.error(item(params.at("cipher_suites"), index),
                                  f"unknown cipher {', '.join(map(repr, unknown))} (as in Envoy, every one must be known)")
        curves = params.strings("ecdh_curves")
        if curves:
            ctx.put(out, "ecdh_curves", ",".join(curves), params.at("ecdh_curves"))
            if len(curves) > 1:
                params.warn("ecdh_curves", "Python's ssl takes one curve; pymosn uses the first")
        params.finish()
    alpn = m.strings("alpn_protocols")
    if alpn:
        ctx.put(out, "alpn", ",".join(alpn), m.at("alpn_protocols"))
    validation = m.message("validation_context", s.CERTIFICATE_VALIDATION_CONTEXT)
    named = m.message("validation_context_sds_secret_config", s.SDS_SECRET_CONFIG)
    if named is not None:
        if validation is not None:
            m.error(None, "set only one of validation_context, validation_context_sds_secret_config")
        validation = _from_secret(named, "validation_context", s.CERTIFICATE_VALIDATION_CONTEXT, ctx)
        if validation is None:
            refused.add("validation")
    if validation is not None:
        ca = data_source(validation.message("trusted_ca", s.DATA_SOURCE), ctx)
        if ca:
            ctx.put(out, "ca_cert", ca, validation.at("trusted_ca"))
        if validation.bool("allow_expired_certificate"):
            validation.warn("allow_expired_certificate", "pymosn refuses expired certificates")
        if validation.enum("trust_chain_verification", _TRUST) == "ACCEPT_UNTRUSTED":
            validation.warn("trust_chain_verification", "pymosn verifies the peer's chain")
        if upstream and validation.has("system_root_certs"):
            validation.ignore("system_root_certs")
            out["system_roots"] = True  # read by _upstream, removed there
        validation.ignore("watched_directory")  # pymosn reloads changed certificate files itself
        validation.finish()
    certificates = []
    named = [_from_secret(c, "tls_certificate", s.TLS_CERTIFICATE, ctx)
             for c in m.messages("tls_certificate_sds_secret_configs", s.SDS_SECRET_CONFIG)]
    if None in named:
        refused.add("certificates")
    for cert in [*m.messages("tls_certificates", s.TLS_CERTIFICATE), *(c for c in named if c is not None)]:
        pair = {}
        for field, key in (("certificate_chain", "cert_chain"), ("private_key", "private_key")):
            value = data_source(cert.message(field, s.DATA_SOURCE), ctx)
            if value:
                ctx.put(pair, key, value, cert.at(field))
            elif not cert.has(field):
                cert.error(field, "missing: a certificate needs certificate_chain and private_key")
        cert.ignore("watched_directory")
        certificates.append((pair, cert))
    m.finish()
    return certificates


def _from_secret(m: Message, kind: str, schema: Schema, ctx: Context) -> Message | None:
    """The part of a static secret an SdsSecretConfig names; one served by an SDS server
    (sds_config) is not implemented."""
    name = m.str("name")
    if m.has("sds_config"):
        m.refuse("sds_config", "serve without the secret it fetches")
        m.finish()
        return None
    m.finish()
    secret = ctx.secrets.get(name)
    if secret is None:
        m.error("name", f"unknown secret {name!r}; known: {', '.join(sorted(ctx.secrets)) or '(none)'}")
        return None
    if kind not in secret:
        m.error("name", f"secret {name!r} has no {kind}")
        return None
    raw, path = secret[kind]
    found = Message(raw, path, schema, ctx)
    return found if found.valid else None


def _downstream(m: Message, base: dict, certificates: list[tuple[dict, Message]], ctx: Context,
                refused: set[str]) -> list[dict]:
    if m.bool("require_client_certificate"):
        if "ca_cert" in base:
            ctx.put(base, "require_client_cert", True, m.at("require_client_certificate"))
            base["verify_client"] = True
        elif "validation" not in refused:
            m.error("require_client_certificate", "needs common_tls_context.validation_context.trusted_ca to verify "
                                                  "client certificates against")
    elif "ca_cert" in base:
        base["verify_client"] = True
        ctx.log.warning(ctx.origins.source_of(base, "ca_cert"), "pymosn requires a client certificate whenever it verifies "
                                                           "one (Python's ssl cannot verify optional ones); Envoy "
                                                           "would also accept clients without a certificate")
    m.finish()
    if not certificates:
        if "certificates" not in refused:
            ctx.log.error(m.path, "a listener's TLS needs common_tls_context.tls_certificates (certificate_chain and "
                                  "private_key)")
        return []
    contexts = []
    for pair, cert in certificates:
        tls = ctx.node({**base, **pair}, cert.path)
        for key in pair:
            ctx.origins.field(tls, key, ctx.origins.source_of(pair, key))
        for key in base:
            source = ctx.origins.source_of(base, key)
            if source is not None:
                ctx.origins.field(tls, key, source)
        cert.finish()
        contexts.append(tls)
    return contexts


def _upstream(m: Message, base: dict, certificates: list[tuple[dict, Message]], ctx: Context) -> dict:
    system_roots = base.pop("system_roots", False)
    sni = m.str("sni")
    if sni:
        ctx.put(base, "server_name", sni, m.at("sni"))
    if "ca_cert" not in base and not system_roots:
        base["insecure_skip"] = True  # Envoy verifies an upstream only when given what to verify against
    elif not sni:
        m.warn(None, "pymosn also checks that the upstream's certificate names the host it dials (the endpoint's "
                     "hostname, else its address); set sni to the name the certificate carries")
    if certificates:
        pair, cert = certificates[0]
        base.update(pair)
        for key in pair:
            ctx.origins.field(base, key, ctx.origins.source_of(pair, key))
        cert.finish()
        for _, extra in certificates[1:]:
            extra.warn(None, "pymosn presents one client certificate: the first")
            extra.finish()
    m.finish()
    return base


@cache
def _known_cipher(name: str) -> bool:
    """Whether this Python's OpenSSL can offer the TLS 1.2 cipher `name`."""
    try:
        ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER).set_ciphers(name)
    except ssl.SSLError:
        return False
    return True
