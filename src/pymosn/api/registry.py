"""One typed registry per kind of extension (network filter, HTTP filter, listener filter,
X-Protocol codec, load balancer, access-log sink, tracer).

An extension is known by its name (what a MOSN config writes) and, where Envoy has one, by the
type URL of its `typed_config`. Its config is a msgspec Struct type, so a config is decoded once,
at load, with paths for errors. The config layer needs only names and config types, while the
code that runs an extension lives in upper layers; so a name is *declared* (name, type URL,
config type) where the config layer can see it and its factory is *bound* later by the layer
that owns it. A third-party extension is a Python entry point in the kind's group
(`pymosn.network_filters`, ...), declared and bound at once when the registry is first asked;
a plugin that fails to load or clashes with a name already known is logged and skipped, so it
can neither take the proxy down nor replace a built-in. Nothing here runs per request."""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from importlib.metadata import EntryPoint, entry_points
from typing import Generic, TypeVar, cast

import msgspec

from pymosn.api.errors import PymosnError

log = logging.getLogger("pymosn.extensions")

T = TypeVar("T")


class RegistryError(PymosnError):
    """A registration or a look-up the registry refuses."""

    def __init__(self, kind: str, name: str, message: str) -> None:
        self.kind = kind
        self.name = name
        super().__init__(message)


class DuplicateExtension(RegistryError):
    """A name, or a type URL, is registered twice within one kind."""

    def __init__(self, kind: str, name: str, *, type_url: str = "", holder: str = "") -> None:
        self.type_url = type_url
        self.holder = holder  # the extension that already has the name or type URL
        if type_url:
            message = f"{kind} type URL {type_url!r} of {name!r} is already registered by {holder!r}"
        elif holder and holder != name:
            message = f"{kind} {name!r} is already registered as {holder!r}"
        else:
            message = f"{kind} {name!r} is already registered"
        super().__init__(kind, name, message)


class UnknownExtension(RegistryError, LookupError):
    """A name no extension of this kind has; `known` lists the names that exist."""

    def __init__(self, kind: str, name: str, known: tuple[str, ...]) -> None:
        self.known = known
        super().__init__(kind, name, f"unknown {kind} {name!r}; known: {', '.join(known) or '(none)'}")


class UnboundExtension(RegistryError):
    """A declared name whose factory no layer has bound: a pymosn bug, not a config error."""

    def __init__(self, kind: str, name: str) -> None:
        super().__init__(kind, name, f"{kind} {name!r} is declared but has no factory")


@dataclass(frozen=True, slots=True)
class Declaration:
    """What the config layer knows of an extension."""

    name: str
    type_url: str = ""  # Envoy's typed_config message name, "" when Envoy has none
    config_type: type[msgspec.Struct] | None = None  # None: the extension takes no config
    builtin: bool = True


@dataclass(frozen=True, slots=True)
class Plugin(Generic[T]):
    """What an acceptor makes of a loaded entry point."""

    factory: T
    type_url: str = ""
    config_type: type[msgspec.Struct] | None = None


def plugin_from_attributes(loaded: object) -> Plugin[object]:
    """The default acceptor: the loaded object is the factory and may carry `config_type`
    (a msgspec Struct type) and `type_url` (a str) as attributes."""
    config_type = getattr(loaded, "config_type", None)
    if config_type is not None and not (isinstance(config_type, type) and issubclass(config_type, msgspec.Struct)):
        raise TypeError(f"config_type must be a msgspec.Struct type, got {config_type!r}")
    type_url = getattr(loaded, "type_url", "")
    if not isinstance(type_url, str):
        raise TypeError(f"type_url must be a str, got {type_url!r}")
    if not callable(loaded):
        raise TypeError(f"{loaded!r} is not callable")
    return Plugin(loaded, type_url, config_type)


class Registry(Generic[T]):
    """The extensions of one kind. `kind` names it in messages ("network filter"); `group` is
    its entry-point group; `accept` turns a loaded entry point into a Plugin or raises."""

    def __init__(self, kind: str, group: str,
                 accept: Callable[[object], Plugin[T]] | None = None,
                 case_insensitive: bool = False) -> None:
        self.kind = kind
        self.group = group
        self._accept = accept
        self._case_insensitive = case_insensitive  # MOSN matches some names so ("bolt", "Bolt")
        self._declared: dict[str, Declaration] = {}
        self._by_type_url: dict[str, str] = {}
        self._factories: dict[str, T] = {}
        self._plugins_loaded = False

    def declare(self, name: str, *, type_url: str = "", config_type: type[msgspec.Struct] | None = None,
                builtin: bool = True) -> Declaration:
        if not name:
            raise RegistryError(self.kind, name, f"a {self.kind} needs a name")
        holder = self._find_name(name)
        if holder is not None:
            raise DuplicateExtension(self.kind, name, holder=holder)
        if type_url and type_url in self._by_type_url:
            raise DuplicateExtension(self.kind, name, type_url=type_url, holder=self._by_type_url[type_url])
        declaration = Declaration(name, type_url, config_type, builtin)
        self._declared[name] = declaration
        if type_url:
            self._by_type_url[type_url] = name
        return declaration

    def bind(self, name: str, factory: T) -> None:
        """Attach the factory of a declared name (once)."""
        if name not in self._declared:
            raise UnknownExtension(self.kind, name, self._names())
        if name in self._factories:
            raise DuplicateExtension(self.kind, name)
        self._factories[name] = factory

    def register(self, name: str, factory: T, *, type_url: str = "",
                 config_type: type[msgspec.Struct] | None = None, builtin: bool = True) -> Declaration:
        """Declare and bind at once (extensions whose factory the config layer may see)."""
        declaration = self.declare(name, type_url=type_url, config_type=config_type, builtin=builtin)
        self._factories[name] = factory
        return declaration

    def names(self) -> tuple[str, ...]:
        """Every known name, built-ins first, in registration order."""
        self.load_plugins()
        return self._names()

    def find(self, name: str) -> Declaration | None:
        self.load_plugins()
        canonical = self._find_name(name)
        return None if canonical is None else self._declared[canonical]

    def get(self, name: str) -> Declaration:
        found = self.find(name)
        if found is None:
            raise UnknownExtension(self.kind, name, self._names())
        return found

    def by_type_url(self, type_url: str) -> Declaration | None:
        self.load_plugins()
        name = self._by_type_url.get(type_url)
        return None if name is None else self._declared[name]

    def factory(self, name: str) -> T:
        declaration = self.get(name)
        try:
            return self._factories[declaration.name]
        except KeyError:
            raise UnboundExtension(self.kind, declaration.name) from None

    def factories(self) -> dict[str, T]:
        """Every bound factory by name, in registration order."""
        self.load_plugins()
        return {name: self._factories[name] for name in self._declared if name in self._factories}

    def unbound(self) -> tuple[str, ...]:
        """Declared names without a factory (checked by tests once every layer is imported)."""
        return tuple(name for name in self._declared if name not in self._factories)

    def load_plugins(self) -> None:
        """Declare and bind every entry point of the group, once."""
        if self._plugins_loaded:
            return
        self._plugins_loaded = True
        self.add_plugins(entry_points(group=self.group))

    def add_plugins(self, found: Iterable[EntryPoint]) -> None:
        for ep in found:
            name, value = ep.name, ep.value
            if self._find_name(name) is not None:
                log.error("%s plugin %s (%s) ignored: %r is already registered", self.kind, name, value, name)
                continue
            try:
                loaded = ep.load()
                plugin = (self._accept(loaded) if self._accept is not None
                          else cast(Plugin[T], plugin_from_attributes(loaded)))
                self.declare(name, type_url=plugin.type_url, config_type=plugin.config_type, builtin=False)
            except Exception as error:  # a broken plugin must not take the proxy down
                log.error("%s plugin %s (%s) failed to load: %s", self.kind, name, value, error)
                continue
            self._factories[name] = plugin.factory

    def _names(self) -> tuple[str, ...]:
        return tuple(self._declared)

    def _find_name(self, name: str) -> str | None:
        if name in self._declared:
            return name
        if self._case_insensitive:
            folded = name.casefold()
            return next((known for known in self._declared if known.casefold() == folded), None)
        return None
