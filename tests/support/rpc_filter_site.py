"""Until listener configs can name stream filters for RPC listeners, this gives every RPC
(X-Protocol) proxy listener of a real pymosn process a chain of built-in filters, through a
sitecustomize on the process's PYTHONPATH. Each element is (filter module under
pymosn.filter.http, its MOSN-shaped config, phase name):

    inject_rpc_filters(tmp_path, monkeypatch, [("fault", {"abort": {...}}, "AFTER_ROUTE")])
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

_SITE = '''"""Test-only (tests/support/rpc_filter_site.py): RPC listeners get the stream filters {chain!r}."""
import dataclasses
import functools
import importlib
import json

from pymosn.api.stream_filter import FilterPhase
from pymosn.config.issues import IssueLog
from pymosn.filter import registry as _registry
from pymosn.proxy.filter_manager import FilterChainEntry, FilterChainPlan

_entries = []
for _name, _raw, _phase in json.loads({chain!r}):
    _module = importlib.import_module("pymosn.filter.http." + _name)
    _log = IssueLog()
    _decoded = _module.decode_mosn(_raw, "$.stream_filters." + _name, _log)
    assert _decoded is not None and not _log.errors, _log.errors
    _entries.append(FilterChainEntry(_name, _module.FACTORY.create_config(_decoded), FilterPhase[_phase]))
_registry.RpcSettings = functools.partial(_registry.RpcSettings, filter_plan=FilterChainPlan(_entries))
'''


def inject_rpc_filters(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, chain: list[tuple[str, dict, str]]) -> Path:
    site = tmp_path / "rpc_filter_site"
    site.mkdir(exist_ok=True)
    (site / "sitecustomize.py").write_text(_SITE.format(chain=json.dumps(chain)))
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join(filter(None, [str(site), os.environ.get("PYTHONPATH")])))
    return site
