"""Role-based access control shared by the HTTP filter (filter/http/rbac.py) and the network
filter (filter/network/rbac.py): Envoy's `envoy.config.rbac.v3.RBAC` decoded with paths and
compiled once, at config load, into plain closures, so checking a request is a few attribute
reads and compares (see docs/design/rbac.md).

- matchers.py: PathMatcher and CidrRange decoded and compiled, the leaf for a HeaderMatcher (read by
  filter/http/header_match.py, compiled by router/header_match.py as everywhere), and/or/not;
- policies.py: Permission and Principal trees (any / and / or / not and the leaves);
- engine.py: RBAC rules (action, policies in name order) and the engine checking them;
- inline.py: the engine's policies fused into one generated function (one call per request);
- stats.py: Envoy's counters (allowed, denied, shadow_*) and their names."""
