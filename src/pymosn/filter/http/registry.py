"""The built-in HTTP filter kinds, registered in HTTP_FILTERS under their MOSN names: the one
place that lists them. Each module's FACTORY carries its config type and readers (see
config/http_filters.py); a new built-in filter adds one line to BUILTINS."""

from __future__ import annotations

from pymosn.config.http_filters import HttpFilterFactory, message_name
from pymosn.config.registries import HTTP_FILTERS
from pymosn.filter.http import fault, flow_control, header_mutation, local_ratelimit, payload_limit, rbac

# MOSN name -> factory (its type_url: Envoy's typed_config type)
BUILTINS: dict[str, HttpFilterFactory] = {
    fault.MOSN_NAME: fault.FACTORY,
    payload_limit.MOSN_NAME: payload_limit.FACTORY,
    header_mutation.MOSN_NAME: header_mutation.FACTORY,
    rbac.MOSN_NAME: rbac.FACTORY,
    local_ratelimit.MOSN_NAME: local_ratelimit.FACTORY,
    flow_control.MOSN_NAME: flow_control.FACTORY,
}

for _name, _factory in BUILTINS.items():
    HTTP_FILTERS.register(_name, _factory, type_url=message_name(getattr(_factory, "type_url", "")),
                          config_type=_factory.config_type)
