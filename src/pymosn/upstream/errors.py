"""Errors of the upstream layer."""

from pymosn.api.errors import UpstreamFailure


class UpstreamConnectError(Exception):
    """Dialling a host failed; `failure` says how (its detail is the message)."""

    def __init__(self, failure: UpstreamFailure) -> None:
        super().__init__(failure.detail)
        self.failure = failure
