"""Config files for the origin and the three proxies, all written under bench/.work.

Every peer gets the same job: accept HTTP/1.1 on 127.0.0.1 and forward every request to one
origin over a pool of kept-alive upstream connections, with no access log. Differences beyond
that would measure configuration, not the proxy.
"""

from __future__ import annotations

import json
from pathlib import Path

ORIGIN_BODY = "hello from the bench origin\n"


def _nginx_common(work: Path, name: str) -> str:
    # Every path nginx would otherwise take from its compiled-in prefix (/var/lib/nginx,
    # /var/log/nginx) is pointed at bench/.work so runs never touch the system's nginx; errors go
    # to stderr, which the harness keeps in bench/.work/run/<name>.log.
    tmp = work / f"{name}-tmp"
    tmp.mkdir(parents=True, exist_ok=True)
    return f"""
worker_processes 1;
daemon off;
pid {work}/{name}.pid;
error_log stderr warn;
events {{ worker_connections 4096; }}
"""


def _nginx_http_common(work: Path, name: str) -> str:
    tmp = work / f"{name}-tmp"
    return f"""
    access_log off;
    client_body_temp_path {tmp}/body;
    proxy_temp_path {tmp}/proxy;
    fastcgi_temp_path {tmp}/fastcgi;
    uwsgi_temp_path {tmp}/uwsgi;
    scgi_temp_path {tmp}/scgi;
    keepalive_requests 1000000;
    keepalive_timeout 300s;
"""


def nginx_origin(work: Path, port: int) -> Path:
    # `return` answers from memory: the origin should cost as little CPU as possible, because it
    # shares CPU 0 with wrk.
    body = ORIGIN_BODY.replace("\n", "\\n")
    text = (
        _nginx_common(work, "origin")
        + f"""
http {{
{_nginx_http_common(work, "origin")}
    server {{
        listen 127.0.0.1:{port} reuseport;
        default_type text/plain;
        location / {{ return 200 "{body}"; }}
    }}
}}
"""
    )
    path = work / "origin.nginx.conf"
    path.write_text(text)
    return path


def nginx_proxy(work: Path, port: int, origin_port: int) -> Path:
    # proxy_http_version 1.1 + an empty Connection header is what makes nginx reuse upstream
    # connections from the keepalive pool instead of opening one per request.
    text = (
        _nginx_common(work, "nginx-proxy")
        + f"""
http {{
{_nginx_http_common(work, "nginx-proxy")}
    upstream origin {{
        server 127.0.0.1:{origin_port};
        keepalive 64;
        keepalive_requests 1000000;
    }}
    server {{
        listen 127.0.0.1:{port};
        location / {{
            proxy_pass http://origin;
            proxy_http_version 1.1;
            proxy_set_header Connection "";
        }}
    }}
}}
"""
    )
    path = work / "nginx-proxy.nginx.conf"
    path.write_text(text)
    return path


# The filter chain of the pipeline issue's benchmark, in Envoy's v3 shape, run by both Envoy and
# pymosn: RBAC with 3 policies (the one that admits the benchmark's GET / is the last checked),
# a local rate limit that never trips, and header mutation (one request and one response header).
BENCH_CHAIN = [
    {
        "name": "envoy.filters.http.rbac",
        "typed_config": {
            "@type": "type.googleapis.com/envoy.extensions.filters.http.rbac.v3.RBAC",
            "rules": {
                "action": "ALLOW",
                "policies": {
                    "admin": {
                        "permissions": [{"url_path": {"path": {"prefix": "/admin"}}}],
                        "principals": [{"header": {"name": "x-admin-token", "present_match": True}}],
                    },
                    "health": {
                        "permissions": [{"and_rules": {"rules": [
                            {"header": {"name": ":method", "string_match": {"exact": "GET"}}},
                            {"url_path": {"path": {"exact": "/healthz"}}},
                        ]}}],
                        "principals": [{"any": True}],
                    },
                    "local-get": {
                        "permissions": [{"header": {"name": ":method", "string_match": {"exact": "GET"}}}],
                        "principals": [{"direct_remote_ip": {"address_prefix": "127.0.0.0", "prefix_len": 8}}],
                    },
                },
            },
        },
    },
    {
        "name": "envoy.filters.http.local_ratelimit",
        "typed_config": {
            "@type": "type.googleapis.com/envoy.extensions.filters.http.local_ratelimit.v3.LocalRateLimit",
            "stat_prefix": "bench_rl",
            "token_bucket": {"max_tokens": 1000000000, "tokens_per_fill": 1000000000, "fill_interval": "1s"},
            "filter_enabled": {"runtime_key": "bench_rl_enabled",
                               "default_value": {"numerator": 100, "denominator": "HUNDRED"}},
            "filter_enforced": {"runtime_key": "bench_rl_enforced",
                                "default_value": {"numerator": 100, "denominator": "HUNDRED"}},
        },
    },
    {
        "name": "envoy.filters.http.header_mutation",
        "typed_config": {
            "@type": "type.googleapis.com/envoy.extensions.filters.http.header_mutation.v3.HeaderMutation",
            "mutations": {
                "request_mutations": [{"append": {
                    "header": {"key": "x-bench-client", "value": "%DOWNSTREAM_REMOTE_ADDRESS%"},
                    "append_action": "OVERWRITE_IF_EXISTS_OR_ADD"}}],
                "response_mutations": [{"append": {
                    "header": {"key": "x-bench-proxy", "value": "chain"},
                    "append_action": "OVERWRITE_IF_EXISTS_OR_ADD"}}],
            },
        },
    },
]


def envoy_bootstrap(
    work: Path, port: int, admin_port: int, origin_port: int, chain: bool = False, name: str = "envoy"
) -> Path:
    """Envoy's v3 bootstrap of the HTTP benchmark; `chain` puts BENCH_CHAIN before the router.
    pymosn loads the same file for its Envoy-format targets."""
    # Written as JSON, which is valid YAML: Envoy reads it as its v3 bootstrap YAML, and no YAML
    # library is needed here.
    router = {
        "name": "envoy.filters.http.router",
        "typed_config": {"@type": "type.googleapis.com/envoy.extensions.filters.http.router.v3.Router"},
    }
    hcm = {
        "@type": "type.googleapis.com/envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager",
        "stat_prefix": "bench",
        "codec_type": "HTTP1",
        "route_config": {
            "name": "bench_route",
            "virtual_hosts": [
                {
                    "name": "all",
                    "domains": ["*"],
                    "routes": [{"match": {"prefix": "/"}, "route": {"cluster": "origin"}}],
                }
            ],
        },
        "http_filters": [*(BENCH_CHAIN if chain else []), router],
    }
    bootstrap = {
        "admin": {"address": {"socket_address": {"address": "127.0.0.1", "port_value": admin_port}}},
        "static_resources": {
            "listeners": [
                {
                    "name": "bench",
                    "address": {"socket_address": {"address": "127.0.0.1", "port_value": port}},
                    "filter_chains": [
                        {
                            "filters": [
                                {"name": "envoy.filters.network.http_connection_manager", "typed_config": hcm}
                            ]
                        }
                    ],
                }
            ],
            "clusters": [
                {
                    "name": "origin",
                    "type": "STATIC",
                    "connect_timeout": "1s",
                    "lb_policy": "ROUND_ROBIN",
                    "load_assignment": {
                        "cluster_name": "origin",
                        "endpoints": [
                            {
                                "lb_endpoints": [
                                    {
                                        "endpoint": {
                                            "address": {
                                                "socket_address": {
                                                    "address": "127.0.0.1",
                                                    "port_value": origin_port,
                                                }
                                            }
                                        }
                                    }
                                ]
                            }
                        ],
                    },
                }
            ],
        },
    }
    path = work / f"{name}.yaml"
    path.write_text(json.dumps(bootstrap, indent=1))
    return path


def _mosn_routes(route_count: int) -> list[dict]:
    """`route_count` routes: half exact `path`, half `prefix`, then the catch-all "/".

    With route_count=10000 that is 5,000 + 5,000 + 1, as the benchmark's issue asks; a small
    count keeps the same shape so the two tables differ only in size.
    """
    half = route_count // 2
    routes = [{"match": {"path": exact_path(i)}, "route": {"cluster_name": "origin"}} for i in range(half)]
    routes += [
        {"match": {"prefix": prefix_path(i)}, "route": {"cluster_name": "origin"}} for i in range(half)
    ]
    routes.append({"match": {"prefix": "/"}, "route": {"cluster_name": "origin"}})
    return routes


def exact_path(i: int) -> str:
    return f"/exact/{i}"


def prefix_path(i: int) -> str:
    # The trailing slash keeps /svc/12/ from being a prefix of /svc/1234/...
    return f"/svc/{i}/"


def mosn_config(
    work: Path, name: str, port: int, admin_port: int, origin_port: int, route_count: int | None
) -> Path:
    """The MOSN JSON config from the issue; route_count=None gives the single catch-all route."""
    routes = (
        [{"match": {"prefix": "/"}, "route": {"cluster_name": "origin"}}]
        if route_count is None
        else _mosn_routes(route_count)
    )
    config = {
        "servers": [
            {
                "default_log_path": "stderr",
                "listeners": [
                    {
                        "name": "bench",
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
                                            "router_config_name": "bench_router",
                                        },
                                    }
                                ]
                            }
                        ],
                    }
                ],
                "routers": [
                    {
                        "router_config_name": "bench_router",
                        "virtual_hosts": [{"name": "all", "domains": ["*"], "routers": routes}],
                    }
                ],
            }
        ],
        "cluster_manager": {
            "clusters": [
                {
                    "name": "origin",
                    "type": "SIMPLE",
                    "lb_type": "LB_ROUNDROBIN",
                    "max_request_per_conn": 0,
                    "hosts": [{"address": f"127.0.0.1:{origin_port}"}],
                }
            ]
        },
        "admin": {"address": {"socket_address": {"address": "127.0.0.1", "port_value": admin_port}}},
    }
    path = work / f"{name}.mosn.json"
    path.write_text(json.dumps(config, indent=1))
    return path


def route_paths(work: Path, name: str, route_count: int, count: int = 300) -> Path:
    """A file of `count` request paths that hit routes spread evenly over the table.

    Half hit exact routes and half hit prefix routes (with a suffix, so only the prefix rule can
    match them), indexes stepping through the whole table including its last entries, so a
    linear matcher pays for the late routes, not only the first few.
    """
    half = route_count // 2
    lines = []
    for k in range(count // 2):
        i = half - 1 - (k * half) // (count // 2)  # from the last route backwards, evenly spaced
        lines.append(exact_path(i))
        lines.append(prefix_path(i) + "item")
    path = work / f"{name}.paths.txt"
    path.write_text("\n".join(lines) + "\n")
    return path


# --- L4 (TCP proxy) -------------------------------------------------------------------------
#
# Every L4 proxy runs one process with two listeners: "bulk" relays to the iperf3 server and
# "rr" to the nginx origin (wrk speaks HTTP through it, the proxy only moves bytes). An idle
# listener costs nothing, and one process per peer keeps the CPU accounting per peer. Each peer
# keeps its default buffer sizes: the comparison is of the proxies as shipped.

L4_LISTENERS = ("bulk", "rr")


def mosn_l4_config(work: Path, name: str, ports: dict[str, int], backends: dict[str, int]) -> Path:
    """pymosn with a `tcp_proxy` listener per entry of `ports` (listener -> port), each to the
    cluster of the same name (cluster -> backend port in `backends`)."""
    listeners = [
        {
            "name": listener,
            "address": f"127.0.0.1:{port}",
            "bind_port": True,
            "filter_chains": [{"filters": [{"type": "tcp_proxy", "config": {"cluster": listener}}]}],
        }
        for listener, port in ports.items()
    ]
    clusters = [
        {
            "name": listener,
            "type": "SIMPLE",
            "lb_type": "LB_ROUNDROBIN",
            "max_request_per_conn": 0,
            "hosts": [{"address": f"127.0.0.1:{backends[listener]}"}],
        }
        for listener in ports
    ]
    config = {
        "servers": [{"default_log_path": "stderr", "listeners": listeners}],
        "cluster_manager": {"clusters": clusters},
    }
    path = work / f"{name}.mosn.json"
    path.write_text(json.dumps(config, indent=1))
    return path


def _envoy_static_cluster(name: str, port: int) -> dict:
    return {
        "name": name,
        "type": "STATIC",
        "connect_timeout": "1s",
        "lb_policy": "ROUND_ROBIN",
        "load_assignment": {
            "cluster_name": name,
            "endpoints": [
                {
                    "lb_endpoints": [
                        {
                            "endpoint": {
                                "address": {"socket_address": {"address": "127.0.0.1", "port_value": port}}
                            }
                        }
                    ]
                }
            ],
        },
    }


def envoy_l4_bootstrap(work: Path, ports: dict[str, int], admin_port: int, backends: dict[str, int]) -> Path:
    """Envoy with an `envoy.filters.network.tcp_proxy` listener per entry of `ports`."""
    listeners = [
        {
            "name": listener,
            "address": {"socket_address": {"address": "127.0.0.1", "port_value": port}},
            "filter_chains": [
                {
                    "filters": [
                        {
                            "name": "envoy.filters.network.tcp_proxy",
                            "typed_config": {
                                "@type": "type.googleapis.com/envoy.extensions.filters.network.tcp_proxy.v3.TcpProxy",
                                "stat_prefix": f"l4_{listener}",
                                "cluster": listener,
                            },
                        }
                    ]
                }
            ],
        }
        for listener, port in ports.items()
    ]
    bootstrap = {
        "admin": {"address": {"socket_address": {"address": "127.0.0.1", "port_value": admin_port}}},
        "static_resources": {
            "listeners": listeners,
            "clusters": [_envoy_static_cluster(listener, backends[listener]) for listener in ports],
        },
    }
    path = work / "envoy-l4.yaml"
    path.write_text(json.dumps(bootstrap, indent=1))
    return path


def nginx_l4_proxy(work: Path, ports: dict[str, int], backends: dict[str, int], stream_module: str) -> Path:
    """nginx's `stream {}` module, one `server` with `proxy_pass` per listener.

    `stream_module` is the .so to load (Debian builds the stream module dynamically, package
    libnginx-mod-stream), or "" when this nginx has it built in.
    """
    load = f"load_module {stream_module};\n" if stream_module else ""
    servers = "\n".join(
        f"""    server {{
        listen 127.0.0.1:{port};
        proxy_pass 127.0.0.1:{backends[listener]};
    }}"""
        for listener, port in ports.items()
    )
    text = load + _nginx_common(work, "nginx-l4") + f"\nstream {{\n{servers}\n}}\n"
    path = work / "nginx-l4.nginx.conf"
    path.write_text(text)
    return path
