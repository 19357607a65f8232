"""Where each value of a translated config came from, so issues name the Envoy path.

The translator registers the dicts it produces (and single keys of them) with the Envoy path
they were read from. Once the MOSN-shaped tree is complete, `resolve` walks it to learn each
registered object's MOSN path; `rewrite` then turns the path of an issue found by the MOSN
pipeline into the Envoy path: the longest registered prefix is replaced, the rest kept (the
rest is spelled the same in both formats wherever the translator did not register a key)."""

from __future__ import annotations

import re
from typing import Any

from pymosn.api.errors import ConfigIssue
from pymosn.config.issues import ROOT

# One step of a path: .name or [index]
_STEP = re.compile(r"\.[^.\[\s]+|\[\d+\]")
# A path inside a message ("... (first at $.cluster_manager.clusters[0])")
_EMBEDDED = re.compile(r"\$(?:\.[A-Za-z_][\w]*|\[\d+\])+")


class Origins:
    def __init__(self) -> None:
        self._nodes: dict[int, str] = {}
        self._fields: dict[tuple[int, str], str] = {}
        self._keep: list[Any] = []  # the registered objects stay alive, so their ids stay theirs
        self._map: dict[str, str] = {}

    def node(self, obj: Any, source: str) -> None:
        self._nodes[id(obj)] = source
        self._keep.append(obj)

    def field(self, obj: dict, key: str, source: str) -> None:
        self._fields[(id(obj), key)] = source
        self._keep.append(obj)

    def source_of(self, obj: dict, key: str) -> str | None:
        return self._fields.get((id(obj), key))

    def resolve(self, tree: Any) -> None:
        self._map = {}
        self._walk(tree, ROOT)

    def _walk(self, obj: Any, path: str) -> None:
        source = self._nodes.get(id(obj))
        if source is not None:
            self._map[path] = source
        if isinstance(obj, dict):
            for key, value in obj.items():
                sub = f"{path}.{key}"
                field_source = self._fields.get((id(obj), key))
                if field_source is not None:
                    self._map[sub] = field_source
                self._walk(value, sub)
        elif isinstance(obj, list):
            for index, value in enumerate(obj):
                self._walk(value, f"{path}[{index}]")

    def rewrite(self, path: str) -> str:
        if not path.startswith(ROOT):
            return path
        steps = _STEP.findall(path[len(ROOT):])
        for n in range(len(steps), -1, -1):
            prefix = ROOT + "".join(steps[:n])
            source = self._map.get(prefix)
            if source is not None:
                return source + "".join(steps[n:])
        return path

    def rewrite_issue(self, issue: ConfigIssue) -> ConfigIssue:
        message = _EMBEDDED.sub(lambda m: self.rewrite(m.group(0)), issue.message)
        return ConfigIssue(self.rewrite(issue.path), message)
