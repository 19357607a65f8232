"""A route's mirror policies as compiled once per load: the share sampled, the cluster picked."""

from __future__ import annotations

from pymosn.config import model
from pymosn.router.mirror_policy import MirrorPolicy, compile_policies
from tests.unit.router.builders import routes_table


def policy(**fields) -> MirrorPolicy:
    return MirrorPolicy(model.MirrorPolicy(**fields))


def test_the_share_is_the_numerator_over_the_denominator():
    values = [i / 100 for i in range(100)]  # one pass over [0, 1) in steps of 1 %
    for percent, denominator, expected in [(30, 100, 30), (2500, 10_000, 25), (10_000, 1_000_000, 1)]:
        share = policy(cluster="m", percent=percent, denominator=denominator)
        assert sum(share.sampled(lambda value=value: value) for value in values) == expected


def test_every_request_is_sampled_at_or_over_the_whole_without_drawing():
    def never() -> float:
        raise AssertionError("a whole share needs no random draw")

    assert policy(cluster="m", percent=100).sampled(never)
    assert policy(cluster="m", percent=250).sampled(never)  # over the denominator: all, as MOSN and Envoy


def test_policies_that_copy_nothing_are_compiled_away():
    kept = compile_policies((model.MirrorPolicy(cluster="a", percent=0), model.MirrorPolicy(cluster="b", percent=1)))
    assert [p.cluster for p in kept] == ["b"]
    assert compile_policies((model.MirrorPolicy(cluster="a"),)) == ()  # MOSN's default percent is 0


def test_the_cluster_is_fixed_or_named_by_a_header():
    fixed, by_header = policy(cluster="m", percent=1), policy(cluster_header="X-Mirror", percent=1)
    assert fixed.cluster_for({}) == "m"
    assert by_header.cluster_for({"x-mirror": "other"}) == "other"
    assert by_header.cluster_for({}) is None and by_header.cluster_for({"x-mirror": ""}) is None


def test_a_route_entry_holds_its_compiled_policies_and_other_routes_none():
    table = routes_table([
        {"match": {"prefix": "/m"}, "route": {"cluster_name": "c"},
         "request_mirror_policies": [{"cluster": "m", "percent": 50, "host_suffix": "-shadow"}]},
        {"match": {"prefix": "/"}, "route": {"cluster_name": "c"}},
    ])
    mirrored, plain = (table.match("h", path, "", {}) for path in ("/m", "/x"))
    assert plain.mirror_policies == ()
    (compiled,) = mirrored.mirror_policies
    assert (compiled.cluster, compiled.share, compiled.host_suffix) == ("m", 0.5, b"-shadow")

