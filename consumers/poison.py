"""What a consumer does with each message it decodes and applies: which failures are the
message's (park it) and which the infrastructure's (retry the batch), and per-request isolation.

Guarantees:
- `decode` never raises: it returns the envelope, a `NewerSchema` to wait for, or the reason
  the message is parked (a null value, bytes that are not JSON, nesting too deep …).
- `apply_isolated` applies a batch in order inside the caller's transaction and returns what it
  parked: every exception while applying one message parks that message unless
  `is_infrastructure` says the database or the network failed (then it raises, and the caller
  retries the whole batch). Events of a request that already has a parked event — in
  `dead_letters`, or parked earlier in this batch — are parked behind it, never applied out of
  order or skipped. The other requests' events are applied in one statement batch when they
  can be; only a batch that fails is applied message by message (one savepoint each) to find
  the culprits. A caller that can roll its transaction back applies the batch first with no
  savepoint at all (`isolate=False`), and again isolated only if a message failed.
"""

from __future__ import annotations

from collections.abc import Collection, Sequence

import sqlalchemy as sa
from kafka.consumer.fetcher import ConsumerRecord

from consumers import dead_letters
from consumers.dead_letters import Parked, reason_of
from projections.base import ReadModel
from projections.envelope import Envelope, NewerSchema

Decoded = tuple[ConsumerRecord, Envelope | None, str | None]

# SQLSTATE classes of a server that is away, busy or was told to stop, not of bad data:
# connection (08), resources (53), operator intervention incl. statement timeout (57),
# system (58), transaction rollback (40: deadlock, serialization), lock not available,
# undefined table (the schema is not there yet).
TRANSIENT_SQLSTATE_CLASSES = ("08", "53", "57", "58", "40", "XX")
TRANSIENT_SQLSTATES = ("55P03", "42P01", "3D000", "28000", "28P01")


def is_infrastructure(error: BaseException) -> bool:
    """True when `error` comes from the infrastructure (retry the batch); False when it comes
    from one message's content (park the message): everything not known to be the
    infrastructure's is the message's."""
    if isinstance(error, sa.exc.DBAPIError):
        if error.connection_invalidated:
            return True
        code = getattr(error.orig, "pgcode", None) or getattr(error.orig, "sqlstate", None)
        if code:
            return code.startswith(TRANSIENT_SQLSTATE_CLASSES) or code in TRANSIENT_SQLSTATES
        return isinstance(error, (sa.exc.OperationalError, sa.exc.InterfaceError))
    if isinstance(error, sa.exc.StatementError):
        return error.orig is not None and is_infrastructure(error.orig)
    return isinstance(error, (sa.exc.SQLAlchemyError, OSError))


def decode(record: ConsumerRecord) -> tuple[Envelope | NewerSchema | None, str | None]:
    """The record's envelope; a `NewerSchema` to wait for; or None and why it is parked."""
    try:
        return Envelope.from_json(record.value), None
    except NewerSchema as newer:
        return newer, None
    except Exception as error:  # noqa: BLE001 - whatever a message holds, it parks, never kills
        return None, reason_of(error)


class MessageRefused(Exception):
    """A message of the batch was refused while applying it without savepoints: the caller
    rolls the transaction back and applies the batch again with `isolate`."""


def apply_isolated(
    conn: sa.Connection,
    model: ReadModel,
    decoded: Sequence[Decoded],
    held: Collection[str] | None = None,
    isolate: bool = True,
) -> list[Parked]:
    """Applies the decoded records (see the module's guarantees); returns those parked.
    `held`: the requests the model holds parked events of, when the caller knows them (else
    they are looked up). Without `isolate`, the batch is applied with no savepoint, and a
    message's failure raises `MessageRefused` (the transaction is then the caller's to roll
    back and retry with `isolate`)."""
    parked = [Parked(r, reason) for r, env, reason in decoded if env is None and reason]
    envs = [(r, env) for r, env, _ in decoded if env is not None]
    if held is None:
        held = dead_letters.blocked_requests(conn, model.name, {e.request_id for _, e in envs})
    behind = [(r, e) for r, e in envs if e.request_id in held]
    free = [(r, e) for r, e in envs if e.request_id not in held]
    parked += [
        Parked(
            r, "held behind an earlier parked event of the same request", e.request_id, e.version
        )
        for r, e in behind
    ]
    if not isolate:
        try:
            model.apply(conn, [env for _, env in free])
        except Exception as error:
            if is_infrastructure(error):
                raise
            raise MessageRefused(reason_of(error)) from error
        return _in_log_order(parked)
    try:
        with conn.begin_nested():
            model.apply(conn, [env for _, env in free])
        return _in_log_order(parked)
    except Exception as error:
        if is_infrastructure(error):
            raise
    first: dict[str, str] = {}
    for record, env in free:  # one savepoint per message: find the culprits
        if env.request_id in first:
            parked.append(
                Parked(
                    record,
                    f"held behind {first[env.request_id]} of the same request",
                    env.request_id,
                    env.version,
                )
            )
            continue
        try:
            with conn.begin_nested():
                model.apply(conn, [env])
        except Exception as error:
            if is_infrastructure(error):
                raise
            parked.append(Parked(record, reason_of(error), env.request_id, env.version))
            first[env.request_id] = f"{record.partition}@{record.offset}"
    return _in_log_order(parked)


def _in_log_order(parked: list[Parked]) -> list[Parked]:
    return sorted(parked, key=lambda p: (p.record.partition, p.record.offset))
