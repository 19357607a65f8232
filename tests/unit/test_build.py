"""The two builds: which modules are compiled, that they can be, and that the switch works."""

from __future__ import annotations

import ast
import os
import subprocess
import sys
from pathlib import Path

import pytest

import pymosn
from pymosn import build

ROOT = Path(__file__).resolve().parents[2]
PACKAGE = Path(pymosn.__file__).resolve().parent  # src/pymosn, or site-packages/pymosn for a wheel
SOURCES = sorted((ROOT / "src").rglob("*.py")) + sorted((ROOT / "tests").rglob("*.py"))


def _module_name(path: Path) -> str:
    relative = path.relative_to(ROOT / "src") if path.is_relative_to(ROOT / "src") else path.relative_to(ROOT)
    return ".".join(relative.with_suffix("").parts)


def _classes_of_compiled_modules() -> dict[str, str]:
    """Those that refuse interpreted subclasses: all but the ones marked
    `@mypyc_attr(allow_interpreted_subclasses=True)`."""
    defined: dict[str, str] = {}
    for name in build.COMPILED_MODULES:
        tree = ast.parse((ROOT / "src" / (name.replace(".", "/") + ".py")).read_text())
        for node in tree.body:
            if isinstance(node, ast.ClassDef) and not _takes_interpreted_subclasses(node):
                defined[node.name] = name
    return defined


def _takes_interpreted_subclasses(node: ast.ClassDef) -> bool:
    return any(
        isinstance(d, ast.Call) and isinstance(d.func, ast.Name) and d.func.id == "mypyc_attr"
        and any(k.arg == "allow_interpreted_subclasses" and isinstance(k.value, ast.Constant) and k.value.value
                for k in d.keywords)
        for d in node.decorator_list
    )


def _base_names(node: ast.ClassDef) -> list[str]:
    names = []
    for base in node.bases:
        if isinstance(base, ast.Name):
            names.append(base.id)
        elif isinstance(base, ast.Attribute):
            names.append(base.attr)
    return names


def test_every_compiled_module_exists() -> None:
    for name in build.COMPILED_MODULES:
        assert (ROOT / "src" / (name.replace(".", "/") + ".py")).is_file(), name
    assert "pymosn.build" not in build.COMPILED_MODULES  # it chooses the build: never compiled


def test_no_interpreted_class_subclasses_a_compiled_one() -> None:
    # mypyc's native classes refuse interpreted subclasses at run time ("interpreted classes
    # cannot inherit from compiled"), so such a subclass works in the pure-Python build only.
    # Matching by class name is deliberately broad: a same-named class elsewhere is renamed.
    compiled_classes = _classes_of_compiled_modules()
    compiled = set(build.COMPILED_MODULES)
    offenders = []
    for path in SOURCES:
        if _module_name(path) in compiled:
            continue
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ClassDef):
                for base in _base_names(node):
                    if base in compiled_classes:
                        offenders.append(f"{path.relative_to(ROOT)}: {node.name}({base}) [{compiled_classes[base]}]")
    assert offenders == [], "compile these modules too, or do not subclass:\n" + "\n".join(offenders)


def _describe(env: dict[str, str]) -> str:
    code = "from pymosn import build; import pymosn.proxy.router as r; print(build.describe()); print(r.__file__)"
    done = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True)
    return done.stdout


def test_no_extensions_selects_the_python_source() -> None:
    env = dict(os.environ, PYMOSN_NO_EXTENSIONS="1")
    out = _describe(env)
    assert out.splitlines() == ["pure-Python build (PYMOSN_NO_EXTENSIONS is set)", str(PACKAGE / "proxy/router.py")]


def test_the_default_is_the_compiled_build_where_one_is_installed() -> None:
    env = {k: v for k, v in os.environ.items() if k != "PYMOSN_NO_EXTENSIONS"}
    compiled_present = any((PACKAGE / "proxy").glob("router.*.so"))
    if not compiled_present:
        pytest.skip("no compiled build installed here (pip install -e . with a C compiler builds one)")
    first, module = _describe(env).splitlines()
    assert first == f"compiled build ({len(build.COMPILED_MODULES)} modules compiled by mypyc)"
    assert module.endswith(".so")


def test_no_compiled_function_reuses_an_except_name_for_another_type() -> None:
    # mypyc gives `except A as e` and a later `except B as e` in one function one variable of
    # type A, so catching a B raises TypeError there (seen: MalformedHeaders vs ProtocolError).
    offenders = []
    for name in build.COMPILED_MODULES:
        path = ROOT / "src" / (name.replace(".", "/") + ".py")
        for function in ast.walk(ast.parse(path.read_text())):
            if not isinstance(function, ast.FunctionDef | ast.AsyncFunctionDef):
                continue
            types: dict[str, set[str]] = {}
            for node in ast.walk(function):
                if isinstance(node, ast.ExceptHandler) and node.name:
                    types.setdefault(node.name, set()).add(ast.unparse(node.type) if node.type else "")
            offenders += [f"{path.relative_to(ROOT)}:{function.lineno} {function.name}: {var} {sorted(caught)}"
                          for var, caught in types.items() if len(caught) > 1]
    assert offenders == []


def test_mypy_checks_every_compiled_module() -> None:
    # mypyc refuses to build what does not type-check; the test command's mypy says so first
    import tomllib

    files = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["mypy"]["files"]
    unchecked = [name for name in build.COMPILED_MODULES
                 if not any(f"src/{name.replace('.', '/')}.py" == f or
                            f"src/{name.replace('.', '/')}.py".startswith(f.rstrip("/") + "/") for f in files)]
    assert unchecked == []
