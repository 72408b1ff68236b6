"""Errors a command handler raises besides the domain's own refusals."""


class RequestNotFound(LookupError):
    """No request has this reference in this council."""


class ConcurrencyConflict(RuntimeError):
    """Someone else changed the request first: reload and try again on fresh state."""
