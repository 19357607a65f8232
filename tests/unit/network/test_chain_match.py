"""Filter chain selection: Envoy's most-specific-wins rules per criterion, no backtracking, the
default chain; and a property test against a direct reading of Envoy's pruning description."""

from __future__ import annotations

import ipaddress

from hypothesis import assume, given, settings
from hypothesis import strategies as st

from pymosn.config import model
from pymosn.config.filter_chain_match import combinations, match_keys
from pymosn.network.chain_match import ChainSelector, ConnectionFacts


def m(**fields) -> model.FilterChainMatch:
    for key in ("prefix_ranges", "source_prefix_ranges"):
        if key in fields:
            fields[key] = tuple(model.CidrPrefix(address_prefix=a, prefix_len=int(n))
                                for a, n in (c.split("/") for c in fields[key]))
    for key in ("server_names", "application_protocols", "source_ports"):
        if key in fields:
            fields[key] = tuple(fields[key])
    return model.FilterChainMatch(**fields)


def facts(port=443, dst="10.0.0.1", src="192.168.1.9", sport=5555, transport="raw_buffer", sni="", alpn=()):
    return ConnectionFacts((dst, port), (src, sport), transport, sni, tuple(alpn))


def test_one_chain_without_conditions_takes_everything():
    selector = ChainSelector([(None, "only")])
    assert selector.select(facts()) == "only"
    assert not selector.needs_inspection


def test_exact_server_name_beats_wildcards_which_beat_none():
    selector = ChainSelector([
        (m(server_names=["www.example.com"]), "exact"),
        (m(server_names=["*.example.com"]), "wild"),
        (m(server_names=["*.com"]), "tld"),
        (None, "any"),
    ])
    assert selector.needs_inspection
    assert selector.select(facts(sni="www.example.com")) == "exact"
    assert selector.select(facts(sni="api.example.com")) == "wild"
    assert selector.select(facts(sni="a.b.example.com")) == "wild"  # a wildcard spans several labels
    assert selector.select(facts(sni="example.com")) == "tld"
    assert selector.select(facts(sni="example.org")) == "any"
    assert selector.select(facts(sni="")) == "any"


def test_destination_port_first_and_no_backtracking():
    selector = ChainSelector([
        (m(destination_port=443, server_names=["a.example.com"]), "443-a"),
        (m(server_names=["b.example.com"]), "any-port-b"),
    ], default="default")
    assert selector.select(facts(port=443, sni="a.example.com")) == "443-a"
    # port 443 chains are the most specific for port 443, and none of them serves b: Envoy
    # does not fall back to the any-port chain
    assert selector.select(facts(port=443, sni="b.example.com")) == "default"
    assert selector.select(facts(port=8443, sni="b.example.com")) == "any-port-b"
    assert selector.select(facts(port=8443, sni="a.example.com")) == "default"


def test_no_match_without_default_is_none():
    selector = ChainSelector([(m(destination_port=80), "http")])
    assert selector.select(facts(port=81)) is None


def test_transport_and_alpn():
    selector = ChainSelector([
        (m(transport_protocol="tls", application_protocols=["h2"]), "tls-h2"),
        (m(transport_protocol="tls"), "tls"),
        (m(transport_protocol="raw_buffer"), "plain"),
    ])
    assert selector.select(facts(transport="tls", alpn=["h2", "http/1.1"])) == "tls-h2"
    assert selector.select(facts(transport="tls", alpn=["http/1.1", "h2"])) == "tls-h2"  # h2 is the only listed one
    assert selector.select(facts(transport="tls", alpn=["http/1.1"])) == "tls"
    assert selector.select(facts(transport="raw_buffer")) == "plain"


def test_first_client_protocol_that_a_chain_lists_wins():
    selector = ChainSelector([(m(application_protocols=["h2"]), "h2"), (m(application_protocols=["http/1.1"]), "h1")])
    assert selector.select(facts(alpn=["http/1.1", "h2"])) == "h1"
    assert selector.select(facts(alpn=["h2", "http/1.1"])) == "h2"
    assert selector.select(facts(alpn=["spdy/3"])) is None


def test_longest_prefix_wins_for_destination_and_source():
    selector = ChainSelector([
        (m(prefix_ranges=["10.0.0.0/8"]), "ten"),
        (m(prefix_ranges=["10.1.0.0/16"]), "ten-one"),
        (m(prefix_ranges=["::/0"]), "v6"),
        (m(source_prefix_ranges=["127.0.0.0/8"]), "local-source"),
        (None, "rest"),
    ])
    assert selector.select(facts(dst="10.1.2.3")) == "ten-one"
    assert selector.select(facts(dst="10.2.2.3")) == "ten"
    assert selector.select(facts(dst="::1")) == "v6"
    assert selector.select(facts(dst="::ffff:10.1.0.1")) == "ten-one"  # v4-mapped
    assert selector.select(facts(dst="172.16.0.1", src="127.0.0.1")) == "local-source"
    assert selector.select(facts(dst="172.16.0.1", src="8.8.8.8")) == "rest"


def test_source_ports():
    selector = ChainSelector([(m(source_ports=[1000, 1001]), "low"), (None, "other")])
    assert selector.select(facts(sport=1001)) == "low"
    assert selector.select(facts(sport=1002)) == "other"


# --- property test: the tree against Envoy's step-by-step pruning, read literally ------------

def _prefix_score(ranges, host):
    if not ranges:
        return 0
    address = ipaddress.ip_address(host)
    scores = [1 + n.prefixlen for n in ranges if n.version == address.version and address in n]
    return max(scores) if scores else None


def _score(keys_of_chain, criterion, f: ConnectionFacts):
    keys = [k for k in keys_of_chain if k is not None]
    if criterion == 0:
        return 0 if not keys else (1 if f.destination[1] in keys else None)
    if criterion == 1:
        return _prefix_score(keys, f.destination[0])
    if criterion == 2:
        if not keys:
            return 0
        if f.server_name in keys:
            return 10_000
        wild = [len(k) for k in keys if k.startswith("*.") and f.server_name.endswith(k[1:])]
        return max(wild) if wild else None
    if criterion == 3:
        return 0 if not keys else (1 if f.transport in keys else None)
    if criterion == 4:
        if not keys:
            return 0
        ranks = [len(f.application_protocols) - i for i, p in enumerate(f.application_protocols) if p in keys]
        return max(ranks) if ranks else None
    if criterion == 5:
        return _prefix_score(keys, f.source[0])
    return 0 if not keys else (1 if f.source[1] in keys else None)


def reference(chains, f):
    candidates = [(match_keys(match), name) for match, name in chains]
    for criterion in range(7):
        scored = [(_score(keys[criterion], criterion, f), keys, name) for keys, name in candidates]
        scored = [s for s in scored if s[0] is not None]
        if not scored:
            return None
        best = max(s[0] for s in scored)
        candidates = [(keys, name) for score, keys, name in scored if score == best]
    assert len(candidates) == 1
    return candidates[0][1]


_matches = st.builds(
    lambda port, prefixes, names, transport, alpn, sprefixes, sports: m(
        destination_port=port, prefix_ranges=prefixes, server_names=names, transport_protocol=transport,
        application_protocols=alpn, source_prefix_ranges=sprefixes, source_ports=sports),
    st.sampled_from([None, 80, 443]),
    st.lists(st.sampled_from(["10.0.0.0/8", "10.1.0.0/16", "0.0.0.0/0", "::/0"]), max_size=2, unique=True),
    st.lists(st.sampled_from(["a.example.com", "*.example.com", "*.com", "b.example.org"]), max_size=2, unique=True),
    st.sampled_from(["", "tls", "raw_buffer"]),
    st.lists(st.sampled_from(["h2", "http/1.1"]), max_size=2, unique=True),
    st.lists(st.sampled_from(["127.0.0.0/8", "192.168.0.0/16"]), max_size=1),
    st.lists(st.sampled_from([1000, 2000]), max_size=1),
)
_facts = st.builds(
    facts,
    port=st.sampled_from([80, 443, 8080]),
    dst=st.sampled_from(["10.1.2.3", "10.2.0.1", "172.16.0.1", "::1"]),
    src=st.sampled_from(["127.0.0.1", "192.168.3.4", "8.8.8.8"]),
    sport=st.sampled_from([1000, 2000, 3000]),
    transport=st.sampled_from(["tls", "raw_buffer"]),
    sni=st.sampled_from(["", "a.example.com", "c.example.com", "example.com", "b.example.org"]),
    alpn=st.lists(st.sampled_from(["h2", "http/1.1", "x"]), max_size=3, unique=True),
)


@settings(max_examples=300, deadline=None)
@given(st.lists(_matches, min_size=1, max_size=5), st.lists(_facts, min_size=1, max_size=8))
def test_selection_equals_envoys_pruning(matches, many_facts):
    seen = set()
    for match in matches:
        combos = set(combinations(match_keys(match)))
        assume(not combos & seen)  # config validation refuses overlapping chains
        seen |= combos
    chains = [(match, i) for i, match in enumerate(matches)]
    selector = ChainSelector(chains)
    for f in many_facts:
        assert selector.select(f) == reference(chains, f), f
