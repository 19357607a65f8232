"""MOSN's deprecated connection_manager network filter: its router config is lifted into the
server's routers (as pkg/mosn/mosn.go does), with a warning, and its issues keep their paths.
The shape is the one MOSN's test/benchmark and pkg/mosn test configs use."""

from pymosn.config.loader import config_to_builtins, load_config_dict

from .configs import errors, listener, minimal, warnings

MANAGER = "$.servers[0].listeners[0].filter_chains[0].filters[1]"


def _with_manager(raw: dict, config: dict) -> dict:
    listener(raw)["filter_chains"][0]["filters"].append({"type": "connection_manager", "config": config})
    return raw


def _manager(name: str, cluster: str = "c0") -> dict:
    return {"router_config_name": name, "virtual_hosts": [{
        "name": "sofa", "domains": ["*"],
        "routers": [{"match": {"headers": [{"name": "service", "value": "com.alipay.test.TestService:1.0"}]},
                     "route": {"cluster_name": cluster}}]}]}


def test_routers_inside_the_filter_chain_are_lifted_with_a_deprecation_warning():
    raw = _with_manager(minimal(), _manager("test_router"))
    del raw["servers"][0]["routers"]
    listener(raw)["filter_chains"][0]["filters"][0]["config"]["router_config_name"] = "test_router"
    result = load_config_dict(raw)
    server = result.config.servers[0]
    assert [r.router_config_name for r in server.routers] == ["test_router"]
    assert server.routers[0].virtual_hosts[0].routers[0].route.cluster_name == "c0"
    assert [f.type for f in server.listeners[0].filter_chains[0].filters] == ["proxy"]
    assert [str(w) for w in result.warnings] == [
        f"{MANAGER}: network filter 'connection_manager' is deprecated in MOSN; its router config 'test_router' is "
        "served as if it were in the server's routers (move it there)"]
    assert load_config_dict(config_to_builtins(result.config)).config == result.config


def test_issues_inside_a_lifted_router_keep_their_paths_in_the_file():
    raw = _with_manager(minimal(), _manager("old_router", cluster="nope"))
    raw["servers"][0]["routers"] = []
    listener(raw)["filter_chains"][0]["filters"][0]["config"]["router_config_name"] = "old_router"
    assert errors(raw) == [f"{MANAGER}.config.virtual_hosts[0].routers[0].route.cluster_name: unknown cluster 'nope'; "
                           "known: c0"]


def test_a_server_router_of_the_same_name_replaces_it_as_in_mosn():
    raw = _with_manager(minimal(), _manager("r0", cluster="nope"))
    result = load_config_dict(raw)
    assert [r.router_config_name for r in result.config.servers[0].routers] == ["r0"]
    assert [str(w) for w in result.warnings] == [
        f"{MANAGER}: network filter 'connection_manager' is deprecated in MOSN; its router config 'r0' is replaced "
        "by $.servers[0].routers[0] (as in MOSN)"]


def test_without_a_router_config_name_it_does_nothing_as_in_mosn():
    raw = _with_manager(minimal(), {"virtual_hosts": []})
    assert warnings(raw) == [f"{MANAGER}: network filter 'connection_manager' is deprecated in MOSN; without a "
                             "router_config_name it does nothing (as in MOSN); ignored"]


def test_a_later_one_of_the_same_name_replaces_an_earlier_one():
    raw = minimal()
    second = {**listener(raw), "name": "l1", "address": "127.0.0.1:2046"}
    raw["servers"][0]["listeners"].append(second)
    raw = _with_manager(raw, _manager("shared"))
    second["filter_chains"] = [{"filters": [second["filter_chains"][0]["filters"][0],
                                            {"type": "connection_manager", "config": _manager("shared")}]}]
    result = load_config_dict(raw)
    assert [r.router_config_name for r in result.config.servers[0].routers] == ["r0", "shared"]
    assert [str(w) for w in result.warnings][1] == (
        "$.servers[0].listeners[1].filter_chains[0].filters[1]: network filter 'connection_manager' is deprecated "
        f"in MOSN; its router config 'shared' replaces the one at {MANAGER}.config (as in MOSN)")
