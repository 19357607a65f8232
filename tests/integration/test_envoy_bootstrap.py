"""pymosn started from Envoy v3 bootstraps (YAML, in the shapes of Envoy's own quick-start and
tcp_proxy samples): HTTP to a real origin, TCP to an echo server, a TLS listener, Dubbo, and
`pymosn validate` naming Envoy paths on a bad config."""

from __future__ import annotations

import os
import socket
import ssl
import subprocess
import sys
import textwrap

import httpx

from pymosn.protocol.xprotocol import bolt, dubbo
from tests.support.certs import Pki
from tests.support.proxy import free_port, wait_port
from tests.support.tcp_servers import TcpServer
from tests.support.xexample_peer import BOLT, DUBBO, XExampleClient, XExampleServer


class EnvoyBootstrap:
    """`pymosn start -c envoy.yaml` for a YAML text; `port` is the one to wait for."""

    def __init__(self, text: str, tmp_path, port: int) -> None:
        self.path = tmp_path / f"envoy-{port}.yaml"
        self.path.write_text(textwrap.dedent(text))
        self.port = port
        self.proc = None

    def __enter__(self) -> EnvoyBootstrap:
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "pymosn", "start", "-c", str(self.path), "--concurrency", "1"],
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=dict(os.environ, PYTHONUNBUFFERED="1"))
        wait_port(self.port, timeout=20.0, proc=self.proc)
        return self

    def __exit__(self, *exc) -> None:
        self.proc.terminate()
        try:
            self.output, self.errors = self.proc.communicate(timeout=15)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.output, self.errors = self.proc.communicate()


def http_manager(routes: str, indent: int, extra: str = "") -> str:
    text = f"""\
    - name: envoy.filters.network.http_connection_manager
      typed_config:
        "@type": type.googleapis.com/envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager
        stat_prefix: ingress_http
        codec_type: AUTO
{extra}
        route_config:
          name: local_route
          virtual_hosts:
          - name: backend
            domains: ["*"]
            routes:
{routes}
        http_filters:
        - name: envoy.filters.http.router
          typed_config:
            "@type": type.googleapis.com/envoy.extensions.filters.http.router.v3.Router
"""
    return textwrap.indent(textwrap.dedent(text), " " * indent)


def static_cluster(name: str, port: int, extra: str = "") -> str:
    return textwrap.indent(textwrap.dedent(f"""\
    - name: {name}
      type: STATIC
      connect_timeout: 1s
      lb_policy: ROUND_ROBIN
{extra}
      load_assignment:
        cluster_name: {name}
        endpoints:
        - lb_endpoints:
          - endpoint:
              address:
                socket_address: {{address: 127.0.0.1, port_value: {port}}}
    """), "  ")


def test_http_front_proxy_from_an_envoy_bootstrap(tmp_path, origin):
    port, admin = free_port(), free_port()
    log_path = tmp_path / "access.log"
    routes = textwrap.indent(textwrap.dedent("""\
    - match: {path: "/ok"}
      direct_response: {status: 200, body: {inline_string: "fine"}}
    - match:
        prefix: "/api"
        headers:
        - name: x-canary
          string_match: {exact: "yes"}
      route: {cluster: canary, prefix_rewrite: "/echo/canary"}
    - match: {prefix: "/api"}
      route: {cluster: service, prefix_rewrite: "/echo", timeout: 5s}
      request_headers_to_add:
      - header: {key: x-from, value: envoy-config}
      response_headers_to_add:
      - header: {key: x-served-by, value: pymosn}
    """), " " * 12)
    access_log = textwrap.indent(textwrap.dedent(f"""\
    access_log:
    - name: envoy.access_loggers.file
      typed_config:
        "@type": type.googleapis.com/envoy.extensions.access_loggers.file.v3.FileAccessLog
        path: {log_path}
        log_format:
          text_format_source:
            inline_string: "%REQ(:METHOD)% %REQ(X-ENVOY-ORIGINAL-PATH?:PATH)% %RESPONSE_CODE%\\n"
    """), " " * 8)
    text = f"""\
admin:
  address:
    socket_address: {{address: 127.0.0.1, port_value: {admin}}}
static_resources:
  listeners:
  - name: listener_0
    address:
      socket_address: {{address: 127.0.0.1, port_value: {port}}}
    filter_chains:
    - filters:
{http_manager(routes, 6, access_log)}
  clusters:
{static_cluster("service", origin.port)}
{static_cluster("canary", origin.port)}
"""
    with EnvoyBootstrap(text, tmp_path, port):
        with httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=10) as client:
            ok = client.get("/ok")
            assert (ok.status_code, ok.text) == (200, "fine")
            proxied = client.get("/api/items", headers={"x-request-id": "r1"})
            assert proxied.status_code == 200 and proxied.headers["x-served-by"] == "pymosn"
            seen = proxied.json()
            assert seen["path"] == "/echo/items" and seen["headers"]["x-from"] == "envoy-config"
            assert client.get("/api/x", headers={"x-canary": "yes"}).json()["path"] == "/echo/canary/x"
            assert client.get("/nothing").status_code == 404
        ready = httpx.get(f"http://127.0.0.1:{admin}/ready", timeout=10)
        assert ready.status_code == 200
    lines = log_path.read_text().splitlines()
    assert "GET /ok 200" in lines and "GET /nothing 404" in lines


def test_tcp_proxy_to_an_echo_server(tmp_path):
    echo = TcpServer("echo")
    try:
        port = free_port()
        text = f"""\
static_resources:
  listeners:
  - name: tcp_listener
    address:
      socket_address: {{address: 127.0.0.1, port_value: {port}}}
    filter_chains:
    - filters:
      - name: envoy.filters.network.tcp_proxy
        typed_config:
          "@type": type.googleapis.com/envoy.extensions.filters.network.tcp_proxy.v3.TcpProxy
          stat_prefix: destination
          cluster: echo
          idle_timeout: 30s
  clusters:
{static_cluster("echo", echo.port)}
"""
        with EnvoyBootstrap(text, tmp_path, port):
            with socket.create_connection(("127.0.0.1", port), timeout=10) as conn:
                conn.sendall(b"hello through pymosn")
                conn.shutdown(socket.SHUT_WR)
                received = b""
                while chunk := conn.recv(65536):
                    received += chunk
            assert received == b"hello through pymosn"
    finally:
        echo.close()


def test_tls_listener_with_envoy_tls_context(tmp_path, origin):
    pki = Pki(tmp_path)
    cert, key = pki.server("localhost")
    port = free_port()
    routes = textwrap.indent(textwrap.dedent("""\
    - match: {prefix: "/"}
      route: {cluster: service}
    """), " " * 12)
    text = f"""\
static_resources:
  listeners:
  - name: https
    address:
      socket_address: {{address: 127.0.0.1, port_value: {port}}}
    listener_filters:
    - name: envoy.filters.listener.tls_inspector
      typed_config:
        "@type": type.googleapis.com/envoy.extensions.filters.listener.tls_inspector.v3.TlsInspector
    filter_chains:
    - filter_chain_match:
        server_names: ["localhost"]
      transport_socket:
        name: envoy.transport_sockets.tls
        typed_config:
          "@type": type.googleapis.com/envoy.extensions.transport_sockets.tls.v3.DownstreamTlsContext
          common_tls_context:
            alpn_protocols: ["http/1.1"]
            tls_params: {{tls_minimum_protocol_version: TLSv1_2}}
            tls_certificates:
            - certificate_chain: {{filename: {cert}}}
              private_key: {{filename: {key}}}
      filters:
{http_manager(routes, 6)}
  clusters:
{static_cluster("service", origin.port)}
"""
    with EnvoyBootstrap(text, tmp_path, port):
        context = ssl.create_default_context(cafile=pki.ca_path)
        with httpx.Client(verify=context, timeout=10) as client:
            response = client.get(f"https://localhost:{port}/echo/tls")
        assert response.status_code == 200 and response.json()["path"] == "/echo/tls"
        with socket.create_connection(("127.0.0.1", port), timeout=10) as raw:
            with context.wrap_socket(raw, server_hostname="localhost") as tls:
                assert tls.version() in ("TLSv1.2", "TLSv1.3") and tls.selected_alpn_protocol() == "http/1.1"


def test_dubbo_proxy_routes_on_the_interface(tmp_path):
    with XExampleServer("a", dialect=DUBBO) as a, XExampleServer("b", dialect=DUBBO) as b:
        port = free_port()
        text = f"""\
static_resources:
  listeners:
  - name: dubbo
    address:
      socket_address: {{address: 127.0.0.1, port_value: {port}}}
    filter_chains:
    - filters:
      - name: envoy.filters.network.dubbo_proxy
        typed_config:
          "@type": type.googleapis.com/envoy.extensions.filters.network.dubbo_proxy.v3.DubboProxy
          stat_prefix: dubbo_incoming
          protocol_type: Dubbo
          serialization_type: Hessian2
          route_config:
          - name: echo
            interface: com.acme.Echo
            routes:
            - match:
                method:
                  name: {{exact: shout}}
              route: {{cluster: b}}
            - match:
                method:
                  name: {{prefix: ""}}
              route: {{cluster: a}}
          dubbo_filters:
          - name: envoy.filters.dubbo.router
  clusters:
{static_cluster("a", a.port)}
{static_cluster("b", b.port)}
"""
        with EnvoyBootstrap(text, tmp_path, port):
            client = XExampleClient(port, dialect=DUBBO)
            try:
                assert DUBBO.body(client.call({"service": "com.acme.Echo", "method": "echo"}, b"to a")) == b"to a"
                assert DUBBO.body(client.call({"service": "com.acme.Echo", "method": "shout"}, b"to b")) == b"to b"
                assert client.call({"service": "com.acme.Other"}).status == dubbo.SERVICE_NOT_FOUND
                assert (len(a.requests), len(b.requests)) == (1, 1)
            finally:
                client.close()



def test_x_proxy_carries_sofarpc_bolt_routed_on_the_header_map(tmp_path):
    """MOSN's x_proxy in an Envoy listener (a TypedStruct holding MOSN's proxy config): Bolt
    requests routed by an Envoy RouteConfiguration on the SOFA header map."""
    with XExampleServer("a", dialect=BOLT) as a, XExampleServer("b", dialect=BOLT) as b:
        port = free_port()
        text = f"""\
static_resources:
  listeners:
  - name: sofarpc
    address:
      socket_address: {{address: 127.0.0.1, port_value: {port}}}
    filter_chains:
    - filters:
      - name: x_proxy
        typed_config:
          "@type": type.googleapis.com/udpa.type.v1.TypedStruct
          type_url: type.googleapis.com/mosn.proxy
          value:
            downstream_protocol: X
            upstream_protocol: X
            extend_config: {{sub_protocol: bolt}}
            route_config:
              name: sofa
              virtual_hosts:
              - name: all
                domains: ["*"]
                routes:
                - match:
                    prefix: ""
                    headers:
                    - name: service
                      string_match: {{exact: com.acme.Echo:1.0}}
                    - name: sofa_head_method_name
                      string_match: {{exact: shout}}
                  route: {{cluster: b}}
                - match:
                    prefix: ""
                    headers:
                    - name: service
                      string_match: {{prefix: com.acme.}}
                  route: {{cluster: a, timeout: 2s}}
  clusters:
{static_cluster("a", a.port)}
{static_cluster("b", b.port)}
"""
        with EnvoyBootstrap(text, tmp_path, port):
            client = XExampleClient(port, dialect=BOLT)
            try:
                echo = {"service": "com.acme.Echo:1.0", "sofa_head_method_name": "echo"}
                assert BOLT.body(client.call(echo, b"to a")) == b"to a"
                assert BOLT.body(client.call({**echo, "sofa_head_method_name": "shout"}, b"to b")) == b"to b"
                assert client.call({"service": "org.other.Svc"}).status == bolt.NO_PROCESSOR
                assert (len(a.requests), len(b.requests)) == (1, 1)
            finally:
                client.close()


def test_x_proxy_without_routes_or_config_is_refused_at_its_envoy_path(tmp_path):
    path = tmp_path / "bad-x.yaml"
    path.write_text(textwrap.dedent("""\
    static_resources:
      listeners:
      - name: sofarpc
        address:
          socket_address: {address: 127.0.0.1, port_value: 12220}
        filter_chains:
        - filters:
          - name: x_proxy
            typed_config:
              "@type": type.googleapis.com/udpa.type.v1.TypedStruct
              type_url: type.googleapis.com/mosn.proxy
              value: {downstream_protocol: X, extend_config: {sub_protocol: bolt-ish}}
        - filters:
          - name: rpc_proxy
    """))
    done = subprocess.run([sys.executable, "-m", "pymosn", "validate", "-c", str(path)], capture_output=True, text=True)
    assert done.returncode == 1
    value = "$.static_resources.listeners[0].filter_chains[0].filters[0].typed_config.value"
    assert f"{value}: needs route_config" in done.stderr
    assert f"{value}.extend_config.sub_protocol: unknown X-Protocol sub_protocol 'bolt-ish'" in done.stderr
    assert "$.static_resources.listeners[0].filter_chains[1].filters[0].typed_config: rpc_proxy needs" in done.stderr


def test_validate_prints_envoy_paths_for_a_bad_bootstrap(tmp_path):
    path = tmp_path / "bad.yaml"
    path.write_text(textwrap.dedent("""\
    static_resources:
      listeners:
      - name: listener_0
        address:
          socket_address: {address: 127.0.0.1, port_value: 10000}
        filter_chains:
        - filters:
          - name: envoy.filters.network.http_connection_manager
            typed_config:
              "@type": type.googleapis.com/envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager
              stat_prefix: ingress_http
              route_config:
                virtual_hosts:
                - name: backend
                  domains: ["*"]
                  routes:
                  - match: {prefix: "/"}
                    route: {cluster: servce}
              http_filters:
              - name: envoy.filters.http.ext_authz
              - name: envoy.filters.http.router
      clusters:
      - name: service
        connect_timeout: 0.25s
        type: STATIC
        lb_policy: RANDOM_ROBIN
        load_assignment:
          cluster_name: service
          endpoints:
          - lb_endpoints:
            - endpoint:
                address:
                  socket_address: {address: 127.0.0.1, port_value: 8080}
    """))
    done = subprocess.run([sys.executable, "-m", "pymosn", "validate", "-c", str(path)], capture_output=True,
                          text=True, timeout=60)
    assert done.returncode == 1
    manager = "$.static_resources.listeners[0].filter_chains[0].filters[0].typed_config"
    assert done.stderr.splitlines() == [
        f"error: {manager}.http_filters[0]: http filter 'envoy.filters.http.ext_authz' is not implemented by pymosn yet; "
        "refusing to run without what it enforces",
        "error: $.static_resources.clusters[0].lb_policy: unknown value 'RANDOM_ROBIN'; known: CLUSTER_PROVIDED, "
        "LEAST_REQUEST, LOAD_BALANCING_POLICY_CONFIG, MAGLEV, RANDOM, RING_HASH, ROUND_ROBIN",
        f"error: {manager}.route_config.virtual_hosts[0].routes[0].route.cluster: unknown cluster 'servce'; "
        "known: service",
    ]


def test_http2_to_a_cluster_that_asks_for_it_and_http1_to_the_others(tmp_path, origin):
    from tests.support.h2_origin import H2Origin

    port = free_port()
    routes = textwrap.indent(textwrap.dedent("""\
    - match: {prefix: "/h2"}
      route: {cluster: grpc_backend, prefix_rewrite: "/echo"}
    - match: {prefix: "/"}
      route: {cluster: legacy}
    """), " " * 12)
    h2_options = textwrap.indent(textwrap.dedent("""\
    typed_extension_protocol_options:
      envoy.extensions.upstreams.http.v3.HttpProtocolOptions:
        "@type": type.googleapis.com/envoy.extensions.upstreams.http.v3.HttpProtocolOptions
        explicit_http_config:
          http2_protocol_options: {}
    """), " " * 6)
    with H2Origin() as h2_origin:
        text = f"""\
static_resources:
  listeners:
  - name: listener_0
    address:
      socket_address: {{address: 127.0.0.1, port_value: {port}}}
    filter_chains:
    - filters:
{http_manager(routes, 6)}
  clusters:
{static_cluster("grpc_backend", h2_origin.port, h2_options)}
{static_cluster("legacy", origin.port)}
"""
        with EnvoyBootstrap(text, tmp_path, port):
            with httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=10) as client:
                over_h2 = client.get("/h2/a")
                assert over_h2.status_code == 200 and over_h2.json()["path"] == "/echo/a"
                assert client.get("/echo/b").json()["path"] == "/echo/b"  # HTTP/1.1 origin
            # h2c with prior knowledge on the AUTO codec, to both kinds of cluster
            with httpx.Client(base_url=f"http://127.0.0.1:{port}", http1=False, http2=True, timeout=10) as client:
                response = client.get("/h2/c")
                assert response.http_version == "HTTP/2" and response.json()["path"] == "/echo/c"
                assert client.get("/echo/d").json()["path"] == "/echo/d"
        assert [r["path"] for r in h2_origin.requests] == ["/echo/a", "/echo/c"]
        assert [r["path"] for r in origin.requests] == ["/echo/b", "/echo/d"]


def test_http_health_check_takes_a_failing_host_out(tmp_path, origin_b):
    from tests.integration.test_health_check import host_health, wait_until

    port, admin = free_port(), free_port()
    routes = textwrap.indent(textwrap.dedent("""\
    - match: {prefix: "/"}
      route: {cluster: service}
    """), " " * 12)
    # the origin answers the check's path with 503: the host must leave load balancing
    check = textwrap.indent(textwrap.dedent("""\
    health_checks:
    - timeout: 1s
      interval: 0.2s
      unhealthy_threshold: 1
      healthy_threshold: 1
      http_health_check: {path: "/status/503"}
    """), " " * 6)
    text = f"""\
admin:
  address:
    socket_address: {{address: 127.0.0.1, port_value: {admin}}}
static_resources:
  listeners:
  - name: listener_0
    address:
      socket_address: {{address: 127.0.0.1, port_value: {port}}}
    filter_chains:
    - filters:
{http_manager(routes, 6)}
  clusters:
{static_cluster("service", origin_b.port, check)}
"""
    with EnvoyBootstrap(text, tmp_path, port):
        address = f"127.0.0.1:{origin_b.port}"
        wait_until(lambda: host_health(admin, "service")[address] == "UNHEALTHY")
        response = httpx.get(f"http://127.0.0.1:{port}/echo", timeout=10)
        assert response.status_code == 503  # no healthy upstream
        assert any(r["path"] == "/status/503" for r in origin_b.requests)
        assert not any(r["path"] == "/echo" for r in origin_b.requests)
