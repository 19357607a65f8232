"""Stream filters for a real pymosn process in a test: the probe filter (probe_filter.py)
installed as a third-party package with a `pymosn.http_filters` entry point, and, until
listener configs can name stream filters, a sitecustomize that gives every HTTP proxy
listener of the process the chain of those entry points (in the order given).

    site = install_probe(tmp_path, monkeypatch)   # then start Pymosn as usual
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from tests.support import probe_filter
from tests.support.plugins import install_plugin

_INJECT = '''"""Test-only (tests/support/filter_plugin.py): every HTTP proxy listener of this process
gets the stream filters {names!r}, from their pymosn.http_filters entry points."""
import dataclasses
import importlib.metadata

from pymosn.filter import registry as _registry
from pymosn.proxy.filter_manager import FilterChainEntry, FilterChainPlan

_points = {{p.name: p for p in importlib.metadata.entry_points(group="pymosn.http_filters")}}
_entries = []
for _name in {names!r}:
    _factory = _points[_name].load()
    _entries.append(FilterChainEntry(_name, _factory.create_config(_factory.config_type())))
_PLAN = FilterChainPlan(_entries)
_settings = _registry._proxy_settings


def _with_filters(cfg, ctx):
    return dataclasses.replace(_settings(cfg, ctx), filter_plan=_PLAN)


_registry._proxy_settings = _with_filters
'''


def install_probe(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, chain: tuple[str, ...] = ("probe",)) -> Path:
    site = tmp_path / "site"
    install_plugin(site, "probe_filter", Path(probe_filter.__file__).read_text(),
                   "[pymosn.http_filters]\nprobe = probe_filter:FACTORY\n")
    (site / "sitecustomize.py").write_text(_INJECT.format(names=list(chain)))
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join(filter(None, [str(site), os.environ.get("PYTHONPATH")])))
    return site
