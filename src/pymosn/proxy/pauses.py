"""Why a stream stopped reading one of its sides.

Several causes can hold one side at once (the router waiting for an upstream stream with a
request body in hand, the upstream connection's full write buffer, stream filters holding more
than their buffer limit), and each ends at its own time. Each cause is a bit: reading resumes
when the last cause that paused it has resumed, never when another cause's pause ends."""

from __future__ import annotations

from typing import Final

# the downstream (request) side: ActiveStream.pause_downstream / resume_downstream
HELD_FOR_UPSTREAM: Final = 1  # the router holds request bytes past its bound until a try's stream is ready
UPSTREAM_BUFFER_FULL: Final = 2  # the try's connection is above its write high watermark
DECODER_FILTERS_FULL: Final = 4  # the decoder filters hold more than the buffer limit

# the upstream (response) side: Router.pause_upstream / resume_upstream
DOWNSTREAM_BUFFER_FULL: Final = 1  # the client reads slower than the upstream sends
ENCODER_FILTERS_FULL: Final = 2  # the encoder filters hold more than the buffer limit
