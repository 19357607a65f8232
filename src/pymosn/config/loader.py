"""Loads a MOSN JSON/YAML config (or an Envoy v3 bootstrap, see config/envoy/) into the typed model, or says everything that is wrong with it.

    result = load_config_file("mosn_config.json")   # raises ConfigError listing every issue
    for warning in result.warnings: ...             # MOSN keys pymosn ignores, with their paths
"""

from __future__ import annotations

import difflib
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import msgspec
import yaml

from pymosn.api.errors import ConfigError, ConfigIssue
from pymosn.config import model
from pymosn.config.detect import MOSN_ONLY_KEYS, ConfigFormat, detect_format
from pymosn.config.envoy.translator import translate_bootstrap
from pymosn.config.issues import INVALID, ROOT, IssueLog, type_name
from pymosn.config.mosn_only_keys import NOT_IMPLEMENTED, report_not_implemented
from pymosn.config.references import check_config
from pymosn.config.rules import build_rules
from pymosn.config.walker import Walker
from pymosn.config.wire_forms import PREPARE, WIRE_FORMS

_YAML_SUFFIXES = (".yaml", ".yml")
_YamlLoader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
_RULES = build_rules()


@dataclass(frozen=True)
class LoadResult:
    config: model.Config
    warnings: list[ConfigIssue]


def load_config_file(path: str | Path) -> LoadResult:
    """Read JSON, or YAML when the name ends in .yaml/.yml, and load it as `load_config_dict` does."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as error:
        raise ConfigError([ConfigIssue(ROOT, f"cannot read config file {str(path)!r}: {error}")]) from error
    raw = _parse_yaml(text) if path.suffix.lower() in _YAML_SUFFIXES else _parse_json(text)
    return load_config_dict(raw)


def load_config_dict(raw: Any) -> LoadResult:
    """Validate an already-parsed config; raise ConfigError with every error found, not just the first."""
    if not isinstance(raw, dict):
        raise ConfigError([ConfigIssue(ROOT, f"expected object, got {type_name(raw)}")])
    if detect_format(raw) is ConfigFormat.ENVOY_V3:
        return _load_envoy(raw)
    _refuse_unknown_format(raw)
    log = IssueLog()
    config = _build(raw, log)
    if log.errors or config is INVALID:
        raise ConfigError(log.errors)
    return LoadResult(config=config, warnings=log.warnings)


def _refuse_unknown_format(raw: dict) -> None:
    """A file none of whose top-level keys belongs to either format (an xDS resource dump, some
    other program's JSON) is named as such once, not told of each key MOSN's schema lacks."""
    mosn_keys = set(model.Config.__struct_fields__) | MOSN_ONLY_KEYS
    names = [key.casefold() for key in raw if isinstance(key, str)]
    if not raw or any(name in mosn_keys or difflib.get_close_matches(name, mosn_keys, 1, 0.8) for name in names):
        return  # MOSN's (a misspelt key is told "did you mean")
    keys = [str(key) for key in raw]
    shown = ", ".join(keys[:3]) + (f" and {len(keys) - 3} more" if len(keys) > 3 else "")
    raise ConfigError([ConfigIssue(ROOT, (
        f"neither a MOSN config nor an Envoy bootstrap; none of its top-level keys ({shown}) is MOSN's "
        "(servers, cluster_manager, admin, ...) or Envoy's (static_resources, dynamic_resources, node, ...)"))])


def _build(raw: dict, log: IssueLog) -> Any:
    walker = Walker(log, WIRE_FORMS, NOT_IMPLEMENTED, report_not_implemented, _RULES, PREPARE)
    config = walker.struct(raw, model.Config, ROOT)
    if config is not INVALID:
        # Always, even when parts were dropped: what was built can still have broken references.
        check_config(config, ROOT, walker, xds=_has_key(raw, "dynamic_resources"))
    return config


def _has_key(raw: dict, key: str) -> bool:
    return any(isinstance(k, str) and k.casefold() == key and raw[k] for k in raw)


def _load_envoy(raw: dict) -> LoadResult:
    """Translated to MOSN's shape, then checked like a MOSN config; every issue names the
    Envoy path it comes from."""
    translation = translate_bootstrap(raw)
    log = IssueLog()
    config = _build(translation.config, log)
    errors = _unique([*translation.log.errors, *translation.pipeline_issues(log.errors)])
    if errors or config is INVALID:
        raise ConfigError(errors)
    return LoadResult(config=config, warnings=_unique([*translation.log.warnings,
                                                       *map(translation.origins.rewrite_issue, log.warnings)]))


def _unique(issues: list[ConfigIssue]) -> list[ConfigIssue]:
    return list(dict.fromkeys(issues))


def config_to_builtins(config: model.Config) -> dict[str, Any]:
    """The effective config as plain JSON-ready values (for /config_dump); loads back unchanged."""
    return msgspec.to_builtins(config)


def _parse_json(text: str) -> Any:
    try:
        return json.loads(text)
    except json.JSONDecodeError as error:
        raise ConfigError([ConfigIssue(
            ROOT, f"invalid JSON at line {error.lineno} column {error.colno}: {error.msg}")]) from error


def _parse_yaml(text: str) -> Any:
    try:
        return yaml.load(text, Loader=_YamlLoader)  # a SafeLoader: plain data only
    except yaml.YAMLError as error:
        mark = getattr(error, "problem_mark", None)
        where = f" at line {mark.line + 1} column {mark.column + 1}" if mark is not None else ""
        problem = getattr(error, "problem", None) or str(error)
        raise ConfigError([ConfigIssue(ROOT, f"invalid YAML{where}: {problem}")]) from error
