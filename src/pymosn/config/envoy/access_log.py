"""Access loggers (envoy.access_loggers.file / stdout / stderr) as MOSN's access_logs entries.
pymosn's default format is Envoy's, and it reads Envoy's %COMMAND% operators."""

from __future__ import annotations

from pathlib import Path

from pymosn.config.envoy import schemas as s
from pymosn.config.envoy.extensions import Extension, display, extension
from pymosn.config.envoy.message import Context, Message, data_source
from pymosn.config.issues import child
from pymosn.config.registries import ACCESS_LOG_SINKS

_FILE = "envoy.access_loggers.file"
_DEVICES = {"/dev/stdout": "stdout", "/dev/stderr": "stderr"}
_STREAMS = {"envoy.access_loggers.stdout": "stdout", "envoy.access_loggers.stderr": "stderr"}


def access_logs(owner: Message, field: str, ctx: Context) -> list[dict]:
    out = []
    for m in owner.messages(field, s.ACCESS_LOG):
        ext = extension(m)
        if m.has("filter"):
            m.warn("filter", "pymosn logs every request; the filter is ignored")
            m.ignore("filter")
        m.finish()
        if ext is None:
            continue
        if ext.name == _FILE:
            config = Message(ext.config, ext.path, s.FILE_ACCESS_LOG, ctx)
            path = config.str("path")
            if not path:
                config.error("path", "missing: a file access log needs a path")
                continue
            entry = ctx.node({}, ext.path)
            # Envoy's samples log to /dev/stdout; pymosn writes its own stdout without reopening it
            ctx.put(entry, "log_path", _DEVICES.get(path, path), config.at("path"))
        elif ext.name in _STREAMS:
            config = Message(ext.config, ext.path, s.STREAM_ACCESS_LOG, ctx)
            entry = ctx.node({"log_path": _STREAMS[ext.name]}, ext.path)
        elif (plugin := _plugin_sink(ext.type)) is not None:
            out.append(_plugin_entry(plugin, ext, ctx))
            continue
        else:
            ctx.log.warning(m.path, f"access logger {display(ext)} is not implemented by pymosn yet; ignored")
            continue
        log_format = _format(config, ctx)
        if log_format:
            ctx.put(entry, "log_format", log_format, config.at("log_format") if config.has("log_format")
                    else config.at("format"))
        config.finish()
        out.append(entry)
    return out


def _plugin_sink(type_url: str) -> str | None:
    """The name of the plugin sink that registered `type_url`, if one did."""
    declared = ACCESS_LOG_SINKS.by_type_url(type_url) if type_url else None
    return declared.name if declared is not None and not declared.builtin else None


def _plugin_entry(name: str, ext: Extension, ctx: Context) -> dict:
    """The typed_config's fields go to the plugin sink's config Struct, decoded (with these
    paths) by the config rules."""
    config = ctx.node({}, ext.path)
    for key, value in ext.config.items():
        ctx.put(config, key, value, child(ext.path, key))
    entry = ctx.node({"sink": name, "config": config}, ext.path)
    ctx.origins.field(entry, "config", ext.path)
    return entry


def _format(config: Message, ctx: Context) -> str:
    if "format" in config.schema.fields and config.has("format"):
        return config.str("format")  # FileAccessLog's older spelling of a text format
    log_format = config.message("log_format", s.SUBSTITUTION_FORMAT_STRING)
    if log_format is None:
        return ""
    kind = log_format.one_of("text_format", "json_format", "text_format_source")
    text = ""
    if kind == "text_format":
        text = log_format.str(kind)
    elif kind == "text_format_source":
        source = log_format.message(kind, s.DATA_SOURCE)
        filename = source.raw("filename") if source is not None else None
        value = data_source(source, ctx)
        if isinstance(filename, str) and value == filename:
            try:
                value = Path(filename).read_text(encoding="utf-8")
            except (OSError, UnicodeDecodeError) as error:
                log_format.error(kind, f"cannot read {filename!r}: {error}")
                value = ""
        text = value or ""
    elif kind == "json_format":
        log_format.warn(kind, "JSON access logs are not implemented by pymosn yet; the default text format is used")
        log_format.ignore(kind)
    log_format.finish()
    return text
