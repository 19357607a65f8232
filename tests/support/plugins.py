"""A third-party plugin "installed" for a test: its module and a .dist-info with its entry
points in a directory that a pymosn process finds through PYTHONPATH."""

from __future__ import annotations

from pathlib import Path


def install_plugin(site: Path, module: str, source: str, entry_points: str) -> None:
    """Writes `module`.py and its distribution's metadata into `site` (created if missing);
    `entry_points` is the text of entry_points.txt."""
    site.mkdir(exist_ok=True)
    (site / f"{module}.py").write_text(source)
    dist = site / f"{module}-1.0.dist-info"
    dist.mkdir()
    (dist / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {module.replace('_', '-')}\nVersion: 1.0\n")
    (dist / "entry_points.txt").write_text(entry_points)
