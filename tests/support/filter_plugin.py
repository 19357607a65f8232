"""The probe filter (probe_filter.py) for a real pymosn process in a test, installed as a
third-party package with a `pymosn.http_filters` entry point; a config names it
(`"stream_filters": [{"type": "probe"}]`).

    site = install_probe(tmp_path, monkeypatch)   # then start Pymosn as usual
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from tests.support import probe_filter
from tests.support.plugins import install_plugin


def install_probe(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    site = tmp_path / "site"
    install_plugin(site, "probe_filter", Path(probe_filter.__file__).read_text(),
                   "[pymosn.http_filters]\nprobe = probe_filter:FACTORY\n")
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join(filter(None, [str(site), os.environ.get("PYTHONPATH")])))
    return site
