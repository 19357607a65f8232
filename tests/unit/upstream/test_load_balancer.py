from __future__ import annotations

import collections

from pymosn.metrics.stats import HostStats
from pymosn.upstream.host import Host
from pymosn.upstream.load_balancer import Random, RoundRobin, WeightedRoundRobin


def hosts(*weights):
    return [Host("127.0.0.1", 8000 + i, w, {}, "", HostStats()) for i, w in enumerate(weights)]


def test_round_robin_cycles_and_skips_unhealthy():
    hs = hosts(1, 1, 1)
    lb = RoundRobin(hs)
    assert [lb.choose().port for _ in range(6)] == [8000, 8001, 8002, 8000, 8001, 8002]
    hs[1].healthy = False
    assert {lb.choose().port for _ in range(6)} == {8000, 8002}
    for h in hs:
        h.healthy = False
    assert lb.choose() is None
    assert RoundRobin([]).choose() is None


def test_weighted_round_robin_is_exact_and_smooth():
    lb = WeightedRoundRobin(hosts(5, 1, 1))
    picks = [lb.choose().port for _ in range(7)]
    assert collections.Counter(picks) == {8000: 5, 8001: 1, 8002: 1}
    # smooth: the heavy host is never picked more than twice in a row (nginx's sequence a a b a c a a)
    assert picks == [8000, 8000, 8001, 8000, 8002, 8000, 8000]


def test_random_covers_all_hosts():
    lb = Random(hosts(1, 1))
    assert {lb.choose().port for _ in range(100)} == {8000, 8001}
