"""A third-party plugin "installed" for a test: its module and a .dist-info with its entry
points in a directory that a pymosn process finds through PYTHONPATH."""

from __future__ import annotations

import shutil
import tomllib
from pathlib import Path

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"


def install_plugin(site: Path, module: str, source: str, entry_points: str) -> None:
    """Writes `module`.py and its distribution's metadata into `site` (created if missing);
    `entry_points` is the text of entry_points.txt."""
    site.mkdir(exist_ok=True)
    (site / f"{module}.py").write_text(source)
    dist = site / f"{module}-1.0.dist-info"
    dist.mkdir()
    (dist / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {module.replace('_', '-')}\nVersion: 1.0\n")
    (dist / "entry_points.txt").write_text(entry_points)


def install_example(site: Path, name: str) -> None:
    """Installs the example package examples/`name` into `site` as pip would: its modules
    (setuptools' py-modules) and a .dist-info with the entry points its pyproject declares."""
    root = EXAMPLES / name
    project = tomllib.loads((root / "pyproject.toml").read_text())
    site.mkdir(exist_ok=True)
    modules = project["tool"]["setuptools"]["py-modules"]
    for module in modules:
        shutil.copy(root / f"{module}.py", site / f"{module}.py")
    meta = project["project"]
    dist = site / f"{meta['name'].replace('-', '_')}-{meta['version']}.dist-info"
    dist.mkdir()
    (dist / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {meta['name']}\nVersion: {meta['version']}\n")
    groups = meta.get("entry-points", {})
    (dist / "entry_points.txt").write_text("".join(
        f"[{group}]\n" + "".join(f"{ep} = {target}\n" for ep, target in points.items())
        for group, points in groups.items()))
