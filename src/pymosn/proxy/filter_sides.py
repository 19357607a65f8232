"""The two sides of a stream's filter chain: what differs between the request (decoder) and
the response (encoder) chain, which is the method each filter is called with and the owner's
method an item ends in. Each side writes out its straight loops: the code every item of every
filtered stream runs while no filter stops (see filter_chain.py). The two sides' loops are
alike on purpose: one loop parameterised by side would look the method up per filter per item,
which is what the straight loops exist to avoid (docs/design/stream-filters.md, the cost table)."""

from __future__ import annotations

from typing import Any, ClassVar, Final

from pymosn.api.stream_filter import CONTINUE
from pymosn.proxy.filter_chain import DATA, HEADERS, IDLE, TRAILERS, Chain, Item

_CONTINUE: Final = CONTINUE  # (a C static in the compiled build: no module lookup per filter call)


class DecoderChain(Chain):
    decoder: ClassVar[bool] = True

    def headers(self, headers: Any, end_stream: bool) -> None:
        if self.aborted:  # (headers_entered is the encoder side's: a local reply reads it)
            return
        shape = self.shape
        if self.stops is not None or shape.hooks is not None:
            self.deliver(0, (HEADERS, headers, end_stream))
            return
        filters = self.filters
        position = IDLE
        status: Any = _CONTINUE
        try:
            for position, entry in shape.headers_calls:
                self.calling = position
                status = filters[entry].decode_headers(headers, end_stream)
                if status is not _CONTINUE or self.aborted:
                    break
            else:
                position = IDLE
        except Exception as error:  # a filter's bug must not take the worker down
            self._raised(position, error)
            return
        if position == IDLE:
            self.calling = IDLE
            self.owner.on_decoded_headers(headers, end_stream)
        else:
            self._returned(position, (HEADERS, headers, end_stream), status)

    def data(self, data: bytes, end_stream: bool) -> None:
        if self.aborted:
            return
        if self.stops is not None:
            self.deliver(0, (DATA, data, end_stream))
            return
        calls = self.shape.data_calls
        if not calls:  # no filter's class takes data (the usual chain): straight on
            self.owner.on_decoded_data(data, end_stream)
            return
        filters = self.filters
        position = IDLE
        status: Any = _CONTINUE
        try:
            for position, entry in calls:
                self.calling = position
                status = filters[entry].decode_data(data, end_stream)
                if status is not _CONTINUE or self.aborted:
                    break
            else:
                position = IDLE
        except Exception as error:
            self._raised(position, error)
            return
        if position == IDLE:
            self.calling = IDLE
            self.owner.on_decoded_data(data, end_stream)
        else:
            self._returned(position, (DATA, data, end_stream), status)

    def trailers(self, trailers: Any) -> None:
        if self.aborted:
            return
        if self.stops is not None:
            self.deliver(0, (TRAILERS, trailers, True))
            return
        filters = self.filters
        position = IDLE
        status: Any = _CONTINUE
        try:
            for position, entry in self.shape.trailers_calls:
                self.calling = position
                status = filters[entry].decode_trailers(trailers)
                if status is not _CONTINUE or self.aborted:
                    break
            else:
                position = IDLE
        except Exception as error:
            self._raised(position, error)
            return
        if position == IDLE:
            self.calling = IDLE
            self.owner.on_decoded_trailers(trailers)
        else:
            self._returned(position, (TRAILERS, trailers, True), status)

    def _invoke(self, filter: Any, kind: int, payload: Any, end_stream: bool) -> Any:
        if kind == HEADERS:
            return filter.decode_headers(payload, end_stream)
        if kind == DATA:
            return filter.decode_data(payload, end_stream)
        return filter.decode_trailers(payload)

    def _sink(self, item: Item) -> None:
        kind, payload, end_stream = item
        owner = self.owner
        if kind == HEADERS:
            owner.on_decoded_headers(payload, end_stream)
        elif kind == DATA:
            owner.on_decoded_data(payload, end_stream)
        else:
            owner.on_decoded_trailers(payload)


class EncoderChain(Chain):
    decoder: ClassVar[bool] = False

    def headers(self, headers: Any, end_stream: bool) -> None:
        self.headers_entered = True
        if self.aborted:
            return
        shape = self.shape
        if self.stops is not None:
            self.deliver(0, (HEADERS, headers, end_stream))
            return
        filters = self.filters
        code = self.status
        position = IDLE
        status: Any = _CONTINUE
        try:
            for position, entry in shape.headers_calls:
                self.calling = position
                status = filters[entry].encode_headers(code, headers, end_stream)
                if status is not _CONTINUE or self.aborted:
                    break
            else:
                position = IDLE
        except Exception as error:
            self._raised(position, error)
            return
        if position == IDLE:
            self.calling = IDLE
            self.headers_sent = True
            self.owner.on_encoded_headers(code, headers, end_stream)
        else:
            self._returned(position, (HEADERS, headers, end_stream), status)

    def data(self, data: bytes, end_stream: bool) -> None:
        if self.aborted:
            return
        if self.stops is not None:
            self.deliver(0, (DATA, data, end_stream))
            return
        calls = self.shape.data_calls
        if not calls:  # no filter's class takes data (the usual chain): straight on
            self.owner.on_encoded_data(data, end_stream)
            return
        filters = self.filters
        position = IDLE
        status: Any = _CONTINUE
        try:
            for position, entry in calls:
                self.calling = position
                status = filters[entry].encode_data(data, end_stream)
                if status is not _CONTINUE or self.aborted:
                    break
            else:
                position = IDLE
        except Exception as error:
            self._raised(position, error)
            return
        if position == IDLE:
            self.calling = IDLE
            self.owner.on_encoded_data(data, end_stream)
        else:
            self._returned(position, (DATA, data, end_stream), status)

    def trailers(self, trailers: Any) -> None:
        if self.aborted:
            return
        if self.stops is not None:
            self.deliver(0, (TRAILERS, trailers, True))
            return
        filters = self.filters
        position = IDLE
        status: Any = _CONTINUE
        try:
            for position, entry in self.shape.trailers_calls:
                self.calling = position
                status = filters[entry].encode_trailers(trailers)
                if status is not _CONTINUE or self.aborted:
                    break
            else:
                position = IDLE
        except Exception as error:
            self._raised(position, error)
            return
        if position == IDLE:
            self.calling = IDLE
            self.owner.on_encoded_trailers(trailers)
        else:
            self._returned(position, (TRAILERS, trailers, True), status)

    def _invoke(self, filter: Any, kind: int, payload: Any, end_stream: bool) -> Any:
        if kind == HEADERS:
            return filter.encode_headers(self.status, payload, end_stream)
        if kind == DATA:
            return filter.encode_data(payload, end_stream)
        return filter.encode_trailers(payload)

    def _sink(self, item: Item) -> None:
        kind, payload, end_stream = item
        owner = self.owner
        if kind == HEADERS:
            self.headers_sent = True
            owner.on_encoded_headers(self.status, payload, end_stream)
        elif kind == DATA:
            owner.on_encoded_data(payload, end_stream)
        else:
            owner.on_encoded_trailers(payload)
