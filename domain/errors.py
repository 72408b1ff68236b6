"""Domain errors: each names the rule a command broke. Raising one writes nothing."""


class DomainError(Exception):
    """A command was refused by a rule of the domain or of the council's policy."""


class RequestClosed(DomainError):
    """The request is closed: its lifecycle cannot change any more."""


class AlreadyAcknowledged(DomainError):
    """A request is acknowledged once."""


class EscalationRefused(DomainError):
    """The target level is not above the request's current level, or not in the chain."""


class LodgementRefused(DomainError):
    """The council's policy refuses this lodgement (channel, anonymity, category …)."""


class InvalidCommand(DomainError):
    """A command lacks something the rule needs (a reason, a text, a later date …)."""


class OutOfBounds(InvalidCommand):
    """A value is longer than the domain records (`domain.bounds`): bad input."""


class NoticeRefused(DomainError):
    """The rules do not allow this notice now: it was issued already, or what it reports has
    not happened (a closure notice before closure, a progress notice after it)."""


class RecordErased(DomainError):
    """The customer's personal data was erased: their record can no longer change."""


class ErasureRefused(DomainError):
    """Personal data cannot be erased yet: a request that needs it is still open."""


class DisposalRefused(DomainError):
    """A request's record cannot be disposed of: it is open, still within its retention period,
    already disposed of, or its customer's personal data is still needed by another request."""


class RequestDisposed(DomainError):
    """The request's record was disposed of at the end of its retention: nothing more is ever
    recorded on it (a reopening, a note, a link, a notice …)."""


class UserRefused(DomainError):
    """A change to a staff user breaks a rule: a role held twice or not held, the last role,
    an unknown role or team, a user disabled twice, the last administrator removed."""


class NotPermitted(DomainError):
    """The acting user may not do this: none given, unknown, disabled, acting in a role they do
    not hold, or no role of theirs allows the action."""


class SubjectOfficerRefused(DomainError):
    """A complaint is never worked by the officer it is about (recorded subject officer)."""


class AssigneeRefused(InvalidCommand):
    """A request is assigned only to a known, active staff user of the council whose roles may
    work it (`Permissions.can_hold_work`): any other officer id is bad input."""
