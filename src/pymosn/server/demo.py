"""`pymosn demo`: a proxy on 127.0.0.1 with a direct-response route, a proxied route to a
built-in echo upstream, and an admin server. Prints the curl lines to try."""

from __future__ import annotations

import socket

from pymosn.config.loader import load_config_dict
from pymosn.server.cli import serve


def demo_config(port: int, admin_port: int, upstream_port: int) -> dict:
    return {
        "servers": [
            {
                "default_log_path": "stderr",
                "listeners": [
                    {
                        "name": "demo",
                        "address": f"127.0.0.1:{port}",
                        "bind_port": True,
                        "filter_chains": [
                            {
                                "filters": [
                                    {
                                        "type": "proxy",
                                        "config": {
                                            "downstream_protocol": "Http1",
                                            "upstream_protocol": "Http1",
                                            "router_config_name": "demo_router",
                                        },
                                    }
                                ]
                            }
                        ],
                        "access_logs": [{"log_path": "stdout"}],
                    }
                ],
                "routers": [
                    {
                        "router_config_name": "demo_router",
                        "virtual_hosts": [
                            {
                                "name": "demo",
                                "domains": ["*"],
                                "routers": [
                                    {
                                        "match": {"path": "/"},
                                        "direct_response": {"status": 200, "body": "Welcome to pymosn!\n"},
                                    },
                                    {
                                        "match": {"prefix": "/echo"},
                                        "route": {"cluster_name": "demo_upstream", "timeout": "5s"},
                                    },
                                ],
                            }
                        ],
                    }
                ],
            }
        ],
        "cluster_manager": {
            "clusters": [
                {
                    "name": "demo_upstream",
                    "type": "SIMPLE",
                    "lb_type": "LB_ROUNDROBIN",
                    "hosts": [{"address": f"127.0.0.1:{upstream_port}"}],
                }
            ]
        },
        "admin": {"address": {"socket_address": {"address": "127.0.0.1", "port_value": admin_port}}},
    }


def _free(port: int) -> int:
    """The requested port if it is free, else an ephemeral one (the demo must just work)."""
    with socket.socket() as s:
        try:
            s.bind(("127.0.0.1", port))
        except OSError:
            s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def run_demo(port: int, admin_port: int) -> int:
    from pymosn.server.demo_upstream import start_echo_upstream

    port = _free(port)
    admin_port = _free(admin_port)
    upstream_port = _free(0)
    config = load_config_dict(demo_config(port, admin_port, upstream_port)).config
    message = "\n".join(
        [
            f"pymosn demo: proxy on 127.0.0.1:{port}, admin on 127.0.0.1:{admin_port}",
            "try:",
            f"  curl -i http://127.0.0.1:{port}/              # direct response",
            f"  curl -i http://127.0.0.1:{port}/echo/hello    # proxied to the built-in upstream",
            f"  curl -i http://127.0.0.1:{port}/nothing       # 404, no route (flag NR)",
            f"  curl http://127.0.0.1:{admin_port}/stats/prometheus",
            f"  curl http://127.0.0.1:{admin_port}/clusters",
            "Ctrl-C to stop.",
        ]
    )
    return serve(config, ready_message=message, before_start=lambda: start_echo_upstream(port=upstream_port))
