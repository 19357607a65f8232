"""Builds the compiled modules (pymosn/build.py's COMPILED_MODULES) with mypyc where it can.

Everything else about the package is in pyproject.toml. With no C compiler, or with
PYMOSN_NO_EXTENSIONS=1 at install time, this installs the pure-Python build and says so in one
line; the same source runs either way."""

from __future__ import annotations

import ast
import os
import sys
from pathlib import Path

from setuptools import setup
from setuptools.command.build_ext import build_ext

ROOT = Path(__file__).resolve().parent
NOTE = "pymosn: installing the pure-Python build"
# Set where a build without the extensions would be wrong (the wheels cibuildwheel builds).
REQUIRE = os.environ.get("PYMOSN_REQUIRE_EXTENSIONS", "") not in ("", "0")


def _fall_back(reason: str) -> None:
    if REQUIRE:
        raise SystemExit(f"pymosn: PYMOSN_REQUIRE_EXTENSIONS is set, and {reason}")
    print(f"{NOTE} ({reason})", file=sys.stderr)


def _compiled_modules() -> list[str]:
    # Parsed, not imported: the package's dependencies need not be installed to build it.
    tree = ast.parse((ROOT / "src/pymosn/build.py").read_text())
    for node in tree.body:
        if isinstance(node, ast.Assign) and any(getattr(t, "id", "") == "COMPILED_MODULES" for t in node.targets):
            return list(ast.literal_eval(node.value))
    raise RuntimeError("src/pymosn/build.py defines no COMPILED_MODULES")


def _remove_orphans() -> None:
    """An editable build leaves its extensions in src/; one for a module no longer compiled
    would shadow that module's .py and ask the new shared library for code it does not hold."""
    compiled = set(_compiled_modules())
    for path in (ROOT / "src/pymosn").rglob("*.so"):
        module = ".".join(path.relative_to(ROOT / "src").with_name(path.name.split(".")[0]).parts)
        if module not in compiled:
            path.unlink()


class _OptionalBuildExt(build_ext):
    """A failed compile leaves no extension behind: the per-module shims need the whole group."""

    def run(self) -> None:
        _remove_orphans()
        try:
            super().run()
        except Exception as error:  # compiler missing or failing: CCompilerError, DistutilsError...
            for output in self.get_outputs():
                Path(output).unlink(missing_ok=True)
            _fall_back(f"the C extensions did not compile: {error}")


def _extensions() -> list:
    if os.environ.get("PYMOSN_NO_EXTENSIONS", "") not in ("", "0"):
        _fall_back("PYMOSN_NO_EXTENSIONS is set")
        return []
    try:
        from mypyc.build import mypycify
    except ImportError:
        _fall_back("mypyc is not available")
        return []
    paths = [f"src/{name.replace('.', '/')}.py" for name in _compiled_modules()]
    # follow-imports=silent: mypyc type-checks the compiled modules strictly; the modules they
    # import are read for their types only.
    try:
        return mypycify(["--follow-imports=silent", *paths], opt_level="3", group_name="pymosn_native")
    except (Exception, SystemExit) as error:  # mypyc exits on a type error in a compiled module
        _fall_back(f"mypyc could not compile the hot modules: {error}")
        return []


setup(ext_modules=_extensions(), cmdclass={"build_ext": _OptionalBuildExt})
