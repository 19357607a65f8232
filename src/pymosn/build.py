"""Which build of pymosn runs: the compiled one (the hot modules below as C extensions built by
mypyc from the same source) or pure Python.

The compiled build is the default wherever it was built; `PYMOSN_NO_EXTENSIONS=1` in the
environment selects the pure-Python modules even then (as aiohttp, yarl and multidict do), so
the two builds are each other's oracle. This module is never compiled: it decides, at the
package's first import, which file each of the modules below is loaded from.

setup.py reads COMPILED_MODULES from this file (by parsing it, not importing it), so the list
lives in one place. A class in one of these modules can only be subclassed by a class that is
compiled too (mypyc's native classes); tests/unit/test_build.py checks that for src and tests."""

from __future__ import annotations

import importlib.abc
import importlib.machinery
import importlib.util
import os
import sys
from collections.abc import Sequence
from types import ModuleType

NO_EXTENSIONS_ENV = "PYMOSN_NO_EXTENSIONS"

# The request path, by layer. Each compiles with its whole import graph type-checked by mypyc.
COMPILED_MODULES = (
    "pymosn.api.connection",
    "pymosn.api.headers",
    "pymosn.api.request_id",
    "pymosn.api.stream_info",
    "pymosn.network.connection",
    "pymosn.network.deadlines",
    "pymosn.network.listener",
    "pymosn.network.tls_session",
    "pymosn.metrics.counter",
    "pymosn.metrics.groups",
    "pymosn.metrics.histogram",
    "pymosn.metrics.response_class",
    "pymosn.protocol.http1.decoder",
    "pymosn.protocol.http1.diagnosis",
    "pymosn.protocol.http1.encoder",
    "pymosn.protocol.http1.framing",
    "pymosn.protocol.http1.grammar",
    "pymosn.protocol.http1.head",
    "pymosn.protocol.http1.header_view",
    "pymosn.protocol.http2.fast_client",
    "pymosn.protocol.http2.fast_server",
    "pymosn.protocol.http2.flood",
    "pymosn.protocol.http2.frame_codec",
    "pymosn.protocol.http2.frame_writer",
    "pymosn.protocol.http2.frames",
    "pymosn.protocol.http2.headers",
    "pymosn.protocol.http2.hpack_encoder",
    "pymosn.protocol.http2.settings",
    "pymosn.protocol.http2.upstream_conversion",
    "pymosn.protocol.xprotocol.header_map",
    "pymosn.stream.http1.client",
    "pymosn.stream.http1.server",
    "pymosn.stream.http1.whole_connection",
    "pymosn.stream.http2.client",
    "pymosn.stream.http2.client_stream",
    "pymosn.stream.http2.flood_guard",
    "pymosn.stream.http2.server",
    "pymosn.stream.http2.server_stream",
    "pymosn.router.entry",
    "pymosn.router.manager",
    "pymosn.router.route_index",
    "pymosn.router.route_table",
    "pymosn.upstream.cluster",
    "pymosn.upstream.h2pool",
    "pymosn.upstream.host",
    "pymosn.upstream.load_balancer",
    "pymosn.upstream.pool",
    "pymosn.proxy.active_stream",
    "pymosn.proxy.filter_manager",
    "pymosn.proxy.filtered_stream",
    "pymosn.proxy.grpc",
    "pymosn.proxy.header_plan",
    "pymosn.proxy.local_reply",
    "pymosn.proxy.route_headers",
    "pymosn.proxy.settings",
    "pymosn.proxy.router",
    "pymosn.proxy.upstream_request",
    "pymosn.filter.network.proxy",
    "pymosn.filter.token_bucket",
    "pymosn.filter.http.header_rules",
    "pymosn.filter.http.local_ratelimit_filter",
    "pymosn.filter.http.rbac_filter",
    "pymosn.filter.rbac.native",
    "pymosn.proxy.filter_chain",
    "pymosn.proxy.filter_sides",
)


def extensions_disabled() -> bool:
    return os.environ.get(NO_EXTENSIONS_ENV, "") not in ("", "0")


_PACKAGE_DIR = os.path.dirname(os.path.abspath(__file__))
_stale: list[str] = []


def _stale_modules() -> list[str]:
    """In a source checkout (an editable install builds the extensions beside the .py files),
    compiled modules whose source changed after they were built: running them would run old
    code. An installed wheel writes both at once and is not checked."""
    if "site-packages" in _PACKAGE_DIR or "dist-packages" in _PACKAGE_DIR:
        return []
    stale = []
    for name in COMPILED_MODULES:
        base = os.path.join(os.path.dirname(_PACKAGE_DIR), *name.split("."))
        for suffix in importlib.machinery.EXTENSION_SUFFIXES:
            try:
                built = os.stat(base + suffix).st_mtime
            except OSError:
                continue
            if os.stat(base + ".py").st_mtime > built + 1.0:
                stale.append(name)
            break
    return stale


class _SourceOnlyFinder(importlib.abc.MetaPathFinder):
    """Finds the compiled modules' .py files, ahead of the path finder that prefers their .so."""

    def find_spec(
        self, fullname: str, path: Sequence[str] | None, target: ModuleType | None = None
    ) -> importlib.machinery.ModuleSpec | None:
        if fullname not in _COMPILED or path is None:
            return None
        leaf = fullname.rpartition(".")[2]
        for directory in path:
            source = os.path.join(directory, leaf + ".py")
            if os.path.isfile(source):
                return importlib.util.spec_from_file_location(fullname, source)
        return None


_COMPILED = frozenset(COMPILED_MODULES)


def select() -> None:
    """Called once by pymosn/__init__.py, before any compiled module can be imported. Either
    every compiled module runs compiled or none does: compiled modules call each other's
    classes directly, so a mix would hold two versions of a class."""
    if any(isinstance(finder, _SourceOnlyFinder) for finder in sys.meta_path):
        return
    if not extensions_disabled():
        _stale[:] = _stale_modules()
        if not _stale:
            return
    sys.meta_path.insert(0, _SourceOnlyFinder())


def compiled_modules() -> list[str]:
    """The hot modules that are running compiled (imports them)."""
    found = []
    for name in COMPILED_MODULES:
        module = importlib.import_module(name)
        if not (getattr(module, "__file__", "") or "").endswith(".py"):
            found.append(name)
    return found


def describe() -> str:
    """One line for `pymosn version` and the test log: which build this is."""
    running = compiled_modules()
    if len(running) == len(COMPILED_MODULES):
        return f"compiled build ({len(running)} modules compiled by mypyc)"
    if running:
        return f"partly compiled ({len(running)} of {len(COMPILED_MODULES)} modules): reinstall to rebuild"
    if extensions_disabled():
        return f"pure-Python build ({NO_EXTENSIONS_ENV} is set)"
    if _stale:
        return (f"pure-Python build (the compiled modules are older than their source, {_stale[0]} "
                "first: pip install -e . rebuilds them)")
    return "pure-Python build (no compiled modules are installed)"
