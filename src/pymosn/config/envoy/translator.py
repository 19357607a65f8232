"""An Envoy v3 bootstrap (static resources) as the MOSN-shaped config the rest of pymosn reads.

    translation = translate_bootstrap(raw)     # never raises; issues are in translation.log
    translation.config                          # MOSN's shape, for the MOSN loader to validate
    translation.origins.rewrite_issue(issue)    # a MOSN-path issue as the Envoy path it came from

The translator reports what only it can see (unknown Envoy fields, Envoy enum values,
features pymosn lacks); everything the MOSN pipeline checks anyway (ports, regexes, cluster
references, TLS files) is left to it, and its issues are mapped back to Envoy paths."""

from __future__ import annotations

from dataclasses import dataclass

from pymosn.api.errors import ConfigIssue
from pymosn.config.envoy import cluster_schemas as cs
from pymosn.config.envoy import schemas as s
from pymosn.config.envoy.addresses import socket_address
from pymosn.config.envoy.bootstrap_fields import dynamic_resources, process_wide_fields
from pymosn.config.envoy.clusters import cluster
from pymosn.config.envoy.listeners import listener
from pymosn.config.envoy.message import Context, Message
from pymosn.config.envoy.origins import Origins
from pymosn.config.issues import ROOT, IssueLog, child


@dataclass
class Translation:
    config: dict
    log: IssueLog
    origins: Origins

    def pipeline_issues(self, issues: list[ConfigIssue]) -> list[ConfigIssue]:
        """Issues the MOSN pipeline found, at the Envoy paths they come from, without those about
        an element holding something the translation already refused: they would only repeat
        that refusal in MOSN's words (a route whose cluster plugin was refused "needs a
        cluster"). Issues inside a refused element stay: a refusal for a missing field is
        reported at its parent, beside which other fields can still be wrong."""
        refused = [issue.path for issue in self.log.errors]
        found = map(self.origins.rewrite_issue, issues)
        return [issue for issue in found if not any(holds(issue.path, path) for path in refused)]


def holds(outer: str, inner: str) -> bool:
    """Whether the element at path `outer` is, or contains, the one at `inner`."""
    return inner == outer or inner.startswith(outer) and inner[len(outer)] in ".["


# What Envoy's admin server prints, which people take for a config: key -> what it is
_ADMIN_DUMPS = {
    "configs": "Envoy's admin /config_dump (envoy.admin.v3.ConfigDump); the bootstrap it ran with is the "
               "'bootstrap' of its BootstrapConfigDump entry",
    "bootstrap": "Envoy's admin bootstrap dump (envoy.admin.v3.BootstrapConfigDump); the bootstrap is its "
                 "'bootstrap'",
}


def translate_bootstrap(raw: dict) -> Translation:
    ctx = Context()
    dump = next((what for key, what in _ADMIN_DUMPS.items() if key in raw and set(raw) <= {key, "last_updated"}), None)
    if dump is not None:
        ctx.log.error(ROOT, f"not a bootstrap: this is {dump}")
        return Translation({}, ctx.log, ctx.origins)
    m = Message(raw, ROOT, s.BOOTSTRAP, ctx)
    dynamic_resources(m)
    out = ctx.node({}, ROOT)
    admin = m.message("admin", s.ADMIN)
    if admin is not None:
        address = socket_address(admin.message("address", s.ADDRESS), "the admin server")
        if address is not None:
            host, port, where = address
            ctx.put(out, "admin", ctx.node({"address": {"socket_address": ctx.node(
                {"address": host, "port_value": port}, where)}}, admin.path), admin.path)
        admin.finish()
    static = m.message("static_resources", s.STATIC_RESOURCES)
    listeners: list[dict] = []
    clusters: list[dict] = []
    static_path = m.at("static_resources")
    if static is not None:
        for secret in static.messages("secrets", s.SECRET):
            _secret(secret, ctx)
        listeners = [x for x in (listener(lst, ctx) for lst in static.messages("listeners", s.LISTENER)) if x]
        clusters = [cluster(c, ctx) for c in static.messages("clusters", cs.CLUSTER)]
        static.finish()
    process_wide_fields(m, {lst["name"] for lst in listeners})
    m.finish()
    server = ctx.node({"listeners": ctx.node(listeners, child(static_path, "listeners")),
                       "routers": ctx.routers}, static_path)
    out["servers"] = [server]
    out["cluster_manager"] = ctx.node({"clusters": ctx.node(clusters, child(static_path, "clusters"))}, static_path)
    ctx.origins.resolve(out)
    return Translation(out, ctx.log, ctx.origins)


def _secret(m: Message, ctx: Context) -> None:
    """A static secret, read where a TLS context names it (tls_certificate_sds_secret_configs,
    validation_context_sds_secret_config)."""
    name = m.str("name")
    if not name:
        m.error("name", "missing: a secret needs a name")
    elif name in ctx.secrets:
        m.error("name", f"duplicate secret name {name!r}")
    else:
        ctx.secrets[name] = {kind: (m.raw(kind), m.at(kind)) for kind in ("tls_certificate", "validation_context")
                             if m.raw(kind) is not None}
    m.finish()
