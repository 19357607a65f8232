"""A listener's stream-filter chain as prepared once per config load: the entries, the phase
order, and the layout learnt from the classes the entries' configs make (which entries are
decoders and encoders, where each sits in its chain, which methods their classes override).
Streams share all of it; filter_manager.py makes a stream's filters and chains from it."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from pymosn.api.stream_filter import DecoderFilter, EncoderFilter, FilterConfig, FilterPhase
from pymosn.proxy.filter_chain import HOST_HOOK, ROUTE_AND_HOST_HOOK, ROUTE_HOOK


@dataclass(frozen=True, slots=True)
class FilterChainEntry:
    """One configured filter of a listener's chain: made once per config load."""

    name: str
    config: FilterConfig
    phase: FilterPhase = FilterPhase.BEFORE_ROUTE


class FilterChainPlan:
    """A listener's filter chain, prepared once per config load for the streams to share.

    Which filters are decoders and encoders, and which methods their classes override, depends
    on the classes their configs make; the plan learns that layout from the first stream and
    reuses it while the classes stay the same."""

    __slots__ = ("entries", "names", "configs", "decoder_order", "phased", "expected", "usual_layout")

    def __init__(self, entries: Sequence[FilterChainEntry]) -> None:
        self.entries = tuple(entries)
        self.names = tuple(entry.name for entry in self.entries)
        self.configs = tuple(entry.config for entry in self.entries)
        # decoders run by phase, configured order within one (sorted is stable)
        self.decoder_order = tuple(sorted(range(len(self.entries)), key=lambda i: self.entries[i].phase))
        self.phased = any(entry.phase != FilterPhase.BEFORE_ROUTE for entry in self.entries)
        # (config, the class it made last) per entry, and the layout of those classes
        self.expected: tuple[tuple[FilterConfig, type | None], ...] = tuple((config, None) for config in self.configs)
        self.usual_layout: Layout | None = None

    def layout(self, made: list[DecoderFilter | EncoderFilter | None]) -> Layout:
        """The layout of a stream whose filters are not of the usual classes (or the first)."""
        layout = Layout(self, made)
        if None not in made:  # a failed stream's layout is not the usual one
            self.expected = tuple(zip(self.configs, map(type, made), strict=True))
            self.usual_layout = layout
        return layout


class Layout:
    """Where each entry sits in the decoder and encoder chains (-1: not on that side), and what
    its class overrides: a method left at the API's default (which continues, or does nothing)
    is not called."""

    __slots__ = ("decoders", "encoders", "decoder_names", "encoder_names", "decoder_position",
                 "encoder_position", "hooks", "decoder_shape", "encoder_shape", "destroyed")

    def __init__(self, plan: FilterChainPlan, made: list[DecoderFilter | EncoderFilter | None]) -> None:
        entries = plan.entries
        self.decoder_position = [-1] * len(entries)
        self.encoder_position = [-1] * len(entries)
        decoders: list[int] = []
        hooks: list[int] = []
        previous = FilterPhase.BEFORE_ROUTE
        for i in plan.decoder_order:
            if isinstance(made[i], DecoderFilter):
                self.decoder_position[i] = len(decoders)
                decoders.append(i)
                hooks.append(_hook(previous, entries[i].phase))
                previous = entries[i].phase
        encoders: list[int] = []
        for i in range(len(entries) - 1, -1, -1):
            if isinstance(made[i], EncoderFilter):
                self.encoder_position[i] = len(encoders)
                encoders.append(i)
        self.decoders = tuple(decoders)
        self.encoders = tuple(encoders)
        self.decoder_names = [plan.names[i] for i in decoders]
        self.encoder_names = [plan.names[i] for i in encoders]
        self.hooks = tuple(hooks) if plan.phased else None
        classes = [type(filter) for filter in made]
        self.decoder_shape = ChainShape(
            decoders, self.decoder_names,
            [_overrides(classes[i], "decode_data", DecoderFilter) for i in decoders],
            [_overrides(classes[i], "decode_trailers", DecoderFilter) for i in decoders],
            hooks if plan.phased else None)
        self.encoder_shape = ChainShape(
            encoders, self.encoder_names,
            [_overrides(classes[i], "encode_data", EncoderFilter) for i in encoders],
            [_overrides(classes[i], "encode_trailers", EncoderFilter) for i in encoders],
            None)
        # the entries whose on_destroy is called: any but the API's no-op default (and a filter
        # that was not made)
        self.destroyed = tuple(i for i, filter in enumerate(made) if filter is not None and _destroys(filter))


def _overrides(cls: type, method: str, base: type) -> bool:
    """Whether `cls` has a `method` of its own. A class registered as a filter
    (`DecoderFilter.register`, as the compiled built-in filters are: a native class cannot
    subclass the API's) inherits none of the base's methods: one it leaves out is the default."""
    default = getattr(base, method)
    return getattr(cls, method, default) is not default


_NO_DESTROY = (DecoderFilter.on_destroy, EncoderFilter.on_destroy)


def _destroys(filter: object) -> bool:
    method = getattr(type(filter), "on_destroy", None)
    if method is None:
        # a registered filter class leaves the API's no-op out; an object of neither side is
        # called anyway, and reported as raising
        return not isinstance(filter, (DecoderFilter, EncoderFilter))
    return method not in _NO_DESTROY


def _hook(previous: FilterPhase, phase: FilterPhase) -> int:
    route = previous < FilterPhase.AFTER_ROUTE <= phase
    host = previous < FilterPhase.AFTER_CHOOSE_HOST <= phase
    return ROUTE_AND_HOST_HOOK if route and host else ROUTE_HOOK if route else HOST_HOOK if host else 0


class ChainShape:
    """One direction of a plan's layout: shared by every stream whose filters have its classes."""

    __slots__ = ("entries", "names", "headers_calls", "data_calls", "trailers_calls", "takes_data",
                 "takes_trailers", "hooks")

    def __init__(self, entries: list[int], names: list[str], takes_data: list[bool], takes_trailers: list[bool],
                 hooks: list[int] | None) -> None:
        self.entries = tuple(entries)  # position -> the filter's entry in the plan (and the stream's list)
        self.names = tuple(names)
        self.takes_data = tuple(takes_data)  # per position: its class overrides *_data
        self.takes_trailers = tuple(takes_trailers)
        # (position, entry) of the positions each kind of item is given to
        self.headers_calls = tuple(enumerate(entries))
        self.data_calls = tuple(pair for pair in self.headers_calls if takes_data[pair[0]])
        self.trailers_calls = tuple(pair for pair in self.headers_calls if takes_trailers[pair[0]])
        # per position, the phase boundary crossed before it; None when no filter is past BEFORE_ROUTE
        self.hooks = None if hooks is None or not any(hooks) else tuple(hooks)
