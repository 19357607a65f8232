"""Small valid configs to break one piece at a time, and helpers to read what the loader says."""

import copy
import json
from pathlib import Path

import pytest

from pymosn.api.errors import ConfigError
from pymosn.config.loader import load_config_dict

FIXTURES = Path(__file__).parent / "fixtures"


def sample() -> dict:
    return json.loads((FIXTURES / "mosn_config.json").read_text())


_MINIMAL = {
    "servers": [{
        "listeners": [{
            "name": "l0",
            "address": "127.0.0.1:2045",
            "filter_chains": [{"filters": [{"type": "proxy", "config": {"router_config_name": "r0"}}]}],
        }],
        "routers": [{
            "router_config_name": "r0",
            "virtual_hosts": [{
                "name": "vh0",
                "domains": ["*"],
                "routers": [{"match": {"prefix": "/"}, "route": {"cluster_name": "c0"}}],
            }],
        }],
    }],
    "cluster_manager": {"clusters": [{"name": "c0", "lb_type": "LB_RANDOM", "hosts": [{"address": "127.0.0.1:8080"}]}]},
}


def minimal() -> dict:
    return copy.deepcopy(_MINIMAL)


def listener(raw: dict, index: int = 0) -> dict:
    return raw["servers"][0]["listeners"][index]


def proxy_config(raw: dict) -> dict:
    return listener(raw)["filter_chains"][0]["filters"][0]["config"]


def route(raw: dict) -> dict:
    return raw["servers"][0]["routers"][0]["virtual_hosts"][0]["routers"][0]


def cluster(raw: dict, index: int = 0) -> dict:
    return raw["cluster_manager"]["clusters"][index]


def errors(raw: dict) -> list[str]:
    """Every error the loader reports, as 'path: message' lines."""
    with pytest.raises(ConfigError) as caught:
        load_config_dict(raw)
    return [str(issue) for issue in caught.value.issues]


def warnings(raw: dict) -> list[str]:
    return [str(issue) for issue in load_config_dict(raw).warnings]
