"""The corpus test's own parts: classifying validate's output, normalizing a refusal, comparing
with the expectations, the expectations file's format, the generated summary, and the worker
pool's guard against hanging or dying workers."""

from __future__ import annotations

import json
import sys

import pytest
import yaml

from tests.corpus import expectations as exp
from tests.corpus import summary
from tests.corpus.runner import Kind, Outcome, classify, validate_all

CSRF = ("$.static_resources.listeners[0].filter_chains[0].filters[0].typed_config.http_filters[1]: http filter "
        "'envoy.filters.http.csrf' is not implemented by pymosn yet; refusing to run without what it enforces")


def refused(first_error: str) -> Outcome:
    return classify(1, "", f"warning: $.a: ignored\nerror: {first_error}\nerror: $.b: later\n", None)


def test_classify_reads_validates_exit_status_and_lines():
    assert classify(0, "c.json: ok\n", "", None).kind is Kind.LOADS
    assert classify(0, "c.json: ok\n", "warning: $.x: ignored\n", None).kind is Kind.WARNINGS
    outcome = refused(CSRF)
    assert (outcome.kind, outcome.first_error) == (Kind.REFUSED, CSRF)
    assert outcome.reason.startswith("http filter 'envoy.filters.http.csrf'")


def test_classify_never_takes_a_traceback_or_odd_exit_for_a_verdict():
    trace = "Traceback (most recent call last):\n  File ...\nKeyError: 'x'\n"
    assert classify(None, "", "", trace) == Outcome(Kind.TRACEBACK, "KeyError: 'x'", output=trace)
    assert classify(1, "", trace, None).kind is Kind.TRACEBACK  # printed, then exit 1
    assert classify(2, "", "usage: pymosn ...\n", None).kind is Kind.TRACEBACK
    assert classify(1, "", "nothing said\n", None).kind is Kind.TRACEBACK


@pytest.mark.parametrize(("issue", "reason"), [
    (CSRF, "http_filters: http filter 'envoy.filters.http.csrf' is not implemented by pymosn yet"),
    ("$.a.b['x.y'][0].tunneling_config: not implemented by pymosn yet; ignoring it would ...",
     "tunneling_config: not implemented by pymosn yet"),
    ("$.c['envoy.extensions.upstreams.http.v3.HttpProtocolOptions']: expected object, got list",
     "c: expected object, got list"),
    ("$.x.pipe: pipe addresses are not implemented by pymosn yet; known: socket_address",
     "pipe addresses are not implemented by pymosn yet"),  # the statement names the element
    ("$: invalid JSON at line 4 column 1: Expecting property name", "invalid JSON at line 4 column 1: Expecting property name"),
    ("not a path: something", "not a path: something"),
])
def test_a_refusal_is_keyed_by_its_element_and_statement(issue, reason):
    assert exp.short_reason(issue) == reason


def test_compare_reports_mismatches_missing_entries_and_entries_without_a_file():
    got = {
        "envoy/same.yaml": refused(CSRF),
        "envoy/shorter.yaml": refused(CSRF),
        "envoy/other_reason.yaml": refused("$.x.lb_type: lb_type 'LB_X' is not implemented by pymosn yet"),
        "mosn/now_loads.json": classify(0, "ok\n", "", None),
        "mosn/new.json": classify(0, "ok\n", "warning: $.a: ignored\n", None),
        "mosn/crashes.json": classify(None, "", "", "Traceback (most recent call last):\nKeyError: 'x'\n"),
    }
    expected = {
        "envoy/same.yaml": exp.expected_from(refused(CSRF)),
        "envoy/shorter.yaml": exp.Expectation(Kind.REFUSED, "envoy.filters.http.csrf"),
        "envoy/other_reason.yaml": exp.Expectation(Kind.REFUSED, "envoy.filters.http.csrf"),
        "mosn/now_loads.json": exp.Expectation(Kind.WARNINGS),
        "mosn/crashes.json": exp.Expectation(Kind.LOADS),
        "mosn/gone.json": exp.Expectation(Kind.LOADS),
    }
    differences = {d.file: (d.expected, d.got) for d in exp.compare(expected, got)}
    assert differences == {
        "envoy/other_reason.yaml": (
            "refused: envoy.filters.http.csrf",
            "refused: lb_type 'LB_X' is not implemented by pymosn yet   "
            "(first error: $.x.lb_type: lb_type 'LB_X' is not implemented by pymosn yet)",
        ),
        "mosn/now_loads.json": ("loads with warnings", "loads"),
        "mosn/new.json": ("(no entry)", "loads with warnings"),
        "mosn/crashes.json": ("loads", "traceback: KeyError: 'x'"),
        "mosn/gone.json": ("loads", "(no such file in the corpus)"),
    }
    report = exp.render_differences(exp.compare(expected, got))
    assert "mosn/crashes.json" in report and "| KeyError: 'x'" in report  # the traceback is shown


def test_a_traceback_or_hang_is_never_written_as_an_expectation():
    with pytest.raises(ValueError):
        exp.expected_from(Outcome(Kind.HANG, "no answer within 30 s"))
    with pytest.raises(ValueError):
        exp.parse({"mosn": {"a.json": "traceback"}})
    with pytest.raises(ValueError):
        exp.parse({"mosn": {"a.json": {"refused": 3}}})


def test_the_expectations_file_reads_back_as_written():
    expectations = {
        "envoy/a.yaml": exp.Expectation(Kind.REFUSED, "name: transport socket 'x' \"quoted\": yes"),
        "envoy/b.yml": exp.Expectation(Kind.WARNINGS),
        "mosn/true": exp.Expectation(Kind.LOADS),  # a key YAML would read as a boolean
    }
    text = exp.dump(expectations)
    assert text.startswith(exp.HEADER) and "python -m tests.corpus.update" in exp.HEADER
    assert exp.parse(yaml.safe_load(text)) == expectations


def test_the_committed_expectations_parse_and_the_docs_table_is_generated_from_them():
    expectations = exp.load()
    assert expectations and all(e.kind in exp.EXPECTABLE for e in expectations.values())
    assert exp.EXPECTATIONS.read_text(encoding="utf-8") == exp.dump(expectations), \
        "expectations.yaml was edited by hand into another layout: python -m tests.corpus.update"
    assert summary.SUMMARY.read_text(encoding="utf-8") == summary.render(expectations), \
        "docs/corpus.md is out of date: python -m tests.corpus.update"


def test_summary_counts_per_dir_and_outcome_and_refusal_reasons():
    text = summary.render({
        "mosn/a.json": exp.Expectation(Kind.LOADS),
        "mosn/b.json": exp.Expectation(Kind.REFUSED, "type: network filter 'grpc' is not implemented"),
        "envoy/c.yaml": exp.Expectation(Kind.REFUSED, "type: network filter 'grpc' is not implemented"),
        "istio/d.json": exp.Expectation(Kind.REFUSED, "unknown field 'a|b'"),
    })
    assert "| mosn | 2 | 1 | 0 | 1 |" in text and "| **all** | 4 | 1 | 0 | 3 |" in text
    assert "| 2 | 1 | 1 |  | type: network filter 'grpc' is not implemented |" in text
    assert "| 1 |  |  | 1 | unknown field 'a\\|b' |" in text


def test_real_worker_validates_in_process_with_the_clis_output(tmp_path):
    good = tmp_path / "good.json"
    good.write_text(json.dumps({"servers": [{"listeners": []}]}))
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps({"servers": [{"listeners": [{"name": "l", "address": "nowhere"}]}]}))
    outcomes = validate_all([good, bad, tmp_path / "absent.json"], tmp_path)
    assert outcomes[good].kind in (Kind.LOADS, Kind.WARNINGS)
    assert f"{good}: ok" in outcomes[good].output
    assert outcomes[bad].kind is Kind.REFUSED and outcomes[bad].first_error.startswith("$.servers[0].listeners[0]")
    assert outcomes[tmp_path / "absent.json"].kind is Kind.REFUSED


FAKE_WORKER = """
import json, os, sys, time
for line in sys.stdin:
    path = line.strip()
    if path.endswith("hang"):
        time.sleep(3600)
    if path.endswith("crash"):
        os._exit(3)
    if path.endswith("garbled"):
        print("not json", flush=True)
        continue
    print(json.dumps({"rc": 0, "stdout": path + ": ok", "stderr": "", "traceback": None}), flush=True)
"""


def test_a_worker_that_hangs_dies_or_garbles_fails_that_file_and_is_replaced(tmp_path):
    script = tmp_path / "fake_worker.py"
    script.write_text(FAKE_WORKER)
    paths = [tmp_path / name for name in ("a", "hang", "b", "crash", "c", "garbled", "d")]
    outcomes = validate_all(paths, tmp_path, workers=1, timeout=4.0, command=(sys.executable, str(script)))
    assert {p.name: o.kind for p, o in outcomes.items()} == {
        "a": Kind.LOADS, "hang": Kind.HANG, "b": Kind.LOADS, "crash": Kind.TRACEBACK, "c": Kind.LOADS,
        "garbled": Kind.TRACEBACK, "d": Kind.LOADS,
    }
    assert outcomes[tmp_path / "crash"].reason == "the worker died (exit status 3)"
