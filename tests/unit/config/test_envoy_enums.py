"""Envoy enums read as Envoy's JSON parser reads them (checked against `envoy --mode validate`
1.40): a name in any case, or its number, also as a decimal string; reserved numbers and names
only the v2 API had are refused."""

from __future__ import annotations

import pytest

from pymosn.config.envoy.clusters import LB_POLICIES
from pymosn.config.envoy.message import enum_value
from pymosn.config.envoy.tls import TLS_VERSIONS
from tests.support.envoy_bootstraps import (
    C0,
    HC,
    bootstrap,
    cluster,
    errors,
    hcm,
    listener,
    load,
    proxy,
    tls_socket,
)


@pytest.mark.parametrize(("value", "name"), [
    ("round_robin", "ROUND_ROBIN"), ("Round_Robin", "ROUND_ROBIN"), ("rOUND_rOBIN", "ROUND_ROBIN"),
    (3, "RANDOM"), ("3", "RANDOM"), ("MAGLEV", "MAGLEV"), (5, "MAGLEV"),
])
def test_names_in_any_case_and_numbers_as_ints_or_strings(value, name):
    assert enum_value(value, LB_POLICIES) == name


@pytest.mark.parametrize("value", [4, "4", 8, -1, "-1", "round-robin", " round_robin", "", True, 1.0, "３"])
def test_reserved_numbers_other_spellings_and_other_types_are_no_value(value):
    assert enum_value(value, LB_POLICIES) is None


def test_mixed_case_proto_names_match_in_any_case():
    assert [enum_value(v, TLS_VERSIONS) for v in ("tlsv1_2", "TLSV1_3", "TLSv1_1")] == ["TLSv1_2", "TLSv1_3", "TLSv1_1"]


def test_lower_case_enums_load_everywhere():
    raw = bootstrap(listener(hcm(codec_type="auto", forward_client_cert_details="sanitize_set")),
                    clusters=[cluster(type="strict_dns", lb_policy="random", dns_lookup_family="v4_only")])
    raw["static_resources"]["listeners"][0]["filter_chains"][0]["transport_socket"] = tls_socket(common_tls_context={
        "tls_params": {"tls_minimum_protocol_version": "tlsv1_2"},
        "tls_certificates": [{"certificate_chain": {"inline_string": "-----BEGIN x"},
                              "private_key": {"inline_string": "-----BEGIN y"}}]})
    config = load(raw)
    p = proxy(config)
    assert (p.downstream_protocol, p.forward_client_cert_details) == ("Auto", "SANITIZE_SET")
    assert config.servers[0].listeners[0].filter_chains[0].tls_context.min_version == "TLSv1_2"
    assert config.cluster_manager.clusters[0].lb_type == "LB_RANDOM"


def test_unknown_values_list_the_names_without_reserved_ones():
    assert errors(bootstrap(clusters=[cluster(lb_policy=4)])) == [
        f"{C0}.lb_policy: unknown value 4; known: CLUSTER_PROVIDED, LEAST_REQUEST, LOAD_BALANCING_POLICY_CONFIG, "
        "MAGLEV, RANDOM, RING_HASH, ROUND_ROBIN"]
    assert errors(bootstrap(listener(hcm(codec_type="http 1")))) == [
        f"{HC}.codec_type: unknown value 'http 1'; known: AUTO, HTTP1, HTTP2, HTTP3"]


def test_a_v2_enum_name_is_named_as_the_v2_api():
    odst = {"name": "o", "type": "ORIGINAL_DST", "lb_policy": "original_dst_lb"}
    assert errors(bootstrap(clusters=[cluster(), odst])) == [
        "$.static_resources.clusters[1].lb_policy: ORIGINAL_DST_LB is the v2 API; v3 uses CLUSTER_PROVIDED (with "
        "cluster type ORIGINAL_DST)"]
