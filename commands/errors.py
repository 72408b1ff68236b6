"""Errors a command handler raises besides the domain's own refusals."""


class RequestNotFound(LookupError):
    """No request has this reference in this council."""


class ConcurrencyConflict(RuntimeError):
    """Someone else changed the request first: reload and try again on fresh state."""


class StaleVersion(ConcurrencyConflict):
    """The caller acted on a version of the request that is no longer the current one."""

    def __init__(self, reference: str, *, expected: int, current: int) -> None:
        super().__init__(
            f"request {reference} is at version {current}, not {expected}: reload it and try again"
        )
        self.expected, self.current = expected, current


class AttachmentNotFound(LookupError):
    """No attachment of the council has this content hash."""
