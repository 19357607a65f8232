from __future__ import annotations

import pytest

from pymosn.api.errors import ConfigError
from pymosn.config.loader import load_config_dict


def config(tcp: dict) -> dict:
    return {
        "servers": [
            {
                "listeners": [
                    {"name": "l4", "address": "127.0.0.1:9000", "filter_chains": [{"filters": [{"type": "tcp_proxy", "config": tcp}]}]}
                ]
            }
        ],
        "cluster_manager": {"clusters": [{"name": "c", "hosts": [{"address": "127.0.0.1:9001"}]}]},
    }


def test_tcp_proxy_config_loads_with_durations():
    cfg = load_config_dict(config({"cluster": "c", "idle_timeout": "5s", "max_connect_attempts": 3})).config
    f = cfg.servers[0].listeners[0].filter_chains[0].filters[0]
    assert f.config.idle_timeout == 5.0 and f.config.max_connect_attempts == 3


def test_tcp_proxy_errors_carry_paths():
    with pytest.raises(ConfigError) as info:
        load_config_dict(
            config(
                {
                    "weighted_clusters": {"clusters": [{"name": "nope", "weight": 0}]},
                    "routes": [{"cluster": "c", "destination_port": "99999", "source_addrs": [{"address": "not-an-ip", "length": 8}]}],
                    "max_connect_attempts": 0,
                }
            )
        )
    text = str(info.value)
    base = "$.servers[0].listeners[0].filter_chains[0].filters[0].config"
    assert f"{base}.max_connect_attempts: must be >= 1" in text
    assert f"{base}.weighted_clusters.clusters[0].weight: must be >= 1" in text
    assert f"{base}.weighted_clusters.clusters[0].name: unknown cluster 'nope'" in text
    assert f"{base}.routes[0].destination_port:" in text
    assert f"{base}.routes[0].source_addrs[0]:" in text


def test_tcp_proxy_needs_a_destination():
    with pytest.raises(ConfigError) as info:
        load_config_dict(config({}))
    assert "needs a cluster, weighted_clusters or routes" in str(info.value)
