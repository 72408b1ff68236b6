"""A council's staff user: who they are, the roles they hold and the teams they work in, with
every grant, revocation and disabling recorded as an event (who did it, when, in which role).

Public methods check the rules and raise a `DomainError` (nothing recorded); the events'
`apply` methods only mutate, because they run again on every replay.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Collection, Sequence
from datetime import datetime
from typing import Any

from eventsourcing.domain import Aggregate

from domain.errors import InvalidCommand, UserRefused
from domain.values import Actor

STAFF_NAMESPACE = uuid.UUID("0b3f7c0e-31a4-4f6e-9d52-2a8e5c7d9b14")
USER_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9._@-]{0,63}")
ADDED_TOPIC = "councilcrm:StaffUser.Added"


def staff_user_id(council: str, user_id: str) -> uuid.UUID:
    """The aggregate id of a council's staff user: the same user id, the same aggregate."""
    return uuid.uuid5(STAFF_NAMESPACE, f"{council}/{user_id.strip()}")


def _require_aware(instant: datetime) -> None:
    if instant.tzinfo is None or instant.utcoffset() is None:
        raise InvalidCommand("an instant must carry its timezone")


def _known(values: Sequence[str], known: Collection[str], what: str, council: str) -> None:
    unknown = [v for v in values if v not in known]
    if unknown:
        raise UserRefused(
            f"unknown {what} {', '.join(map(repr, unknown))} for council {council} "
            f"(known: {', '.join(known)})"
        )


class StaffUser(Aggregate):
    """A staff user of one council. A user always holds at least one role; a disabled user
    keeps their history but may no longer act."""

    TOPIC = "councilcrm:StaffUser"

    class Event(Aggregate.Event):
        occurred_at: datetime
        actor: Actor

    class Added(Event, Aggregate.Created):
        TOPIC = ADDED_TOPIC
        council: str
        user_id: str
        name: str
        roles: tuple[str, ...]
        teams: tuple[str, ...]
        email: str | None
        phone: str | None

        def apply(self, aggregate: Any) -> None:
            aggregate._on_added(self)

    Created = Added

    class RoleGranted(Event):
        TOPIC = "councilcrm:StaffUser.RoleGranted"
        role: str

        def apply(self, aggregate: Any) -> None:
            aggregate.roles = (*aggregate.roles, self.role)

    class RoleRevoked(Event):
        TOPIC = "councilcrm:StaffUser.RoleRevoked"
        role: str

        def apply(self, aggregate: Any) -> None:
            aggregate.roles = tuple(r for r in aggregate.roles if r != self.role)

    class JoinedTeam(Event):
        TOPIC = "councilcrm:StaffUser.JoinedTeam"
        team: str

        def apply(self, aggregate: Any) -> None:
            aggregate.teams = (*aggregate.teams, self.team)

    class LeftTeam(Event):
        TOPIC = "councilcrm:StaffUser.LeftTeam"
        team: str

        def apply(self, aggregate: Any) -> None:
            aggregate.teams = tuple(t for t in aggregate.teams if t != self.team)

    class Disabled(Event):
        TOPIC = "councilcrm:StaffUser.Disabled"
        reason: str | None

        def apply(self, aggregate: Any) -> None:
            aggregate.active = False

    class Enabled(Event):
        TOPIC = "councilcrm:StaffUser.Enabled"

        def apply(self, aggregate: Any) -> None:
            aggregate.active = True

    def _on_added(self, event: StaffUser.Added) -> None:
        self.council = event.council
        self.user_id = event.user_id
        self.name = event.name
        # JSON gives lists back: tuples, so a reloaded user equals the one that was saved
        self.roles: tuple[str, ...] = tuple(event.roles)
        self.teams: tuple[str, ...] = tuple(event.teams)
        self.email = event.email
        self.phone = event.phone
        self.active = True

    # -- decisions -------------------------------------------------------------------------

    @classmethod
    def add(
        cls,
        *,
        council: str,
        user_id: str,
        name: str,
        roles: Sequence[str],
        teams: Sequence[str],
        email: str | None,
        phone: str | None,
        known_roles: Collection[str],
        known_teams: Collection[str],
        occurred_at: datetime,
        actor: Actor,
    ) -> StaffUser:
        """A new user holding `roles` (at least one, each known to the council)."""
        _require_aware(occurred_at)
        user_id = user_id.strip()
        if not USER_ID.fullmatch(user_id):
            raise InvalidCommand(
                f"not a user id: {user_id!r} (letters, digits and . _ @ -, up to 64)"
            )
        if not name.strip():
            raise InvalidCommand("a user's name must not be empty")
        roles, teams = tuple(dict.fromkeys(roles)), tuple(dict.fromkeys(teams))
        if not roles:
            raise InvalidCommand("a user needs at least one role")
        _known(roles, known_roles, "role", council)
        _known(teams, known_teams, "team", council)
        return cls._create(
            cls.Added,
            id=staff_user_id(council, user_id),
            council=council,
            user_id=user_id,
            name=name.strip(),
            roles=roles,
            teams=teams,
            email=(email or "").strip() or None,
            phone=(phone or "").strip() or None,
            occurred_at=occurred_at,
            actor=actor,
        )

    def _require_active(self, doing: str) -> None:
        if not self.active:
            raise UserRefused(f"user {self.user_id} is disabled: cannot {doing}")

    def grant(
        self, *, role: str, known_roles: Collection[str], occurred_at: datetime, actor: Actor
    ) -> None:
        _require_aware(occurred_at)
        self._require_active(f"grant them {role}")
        _known([role], known_roles, "role", self.council)
        if role in self.roles:
            raise UserRefused(f"user {self.user_id} already holds the role {role}")
        self.trigger_event(self.RoleGranted, role=role, occurred_at=occurred_at, actor=actor)

    def revoke(self, *, role: str, occurred_at: datetime, actor: Actor) -> None:
        _require_aware(occurred_at)
        if role not in self.roles:
            raise UserRefused(f"user {self.user_id} does not hold the role {role}")
        if self.roles == (role,):
            raise UserRefused(
                f"{role} is the last role of user {self.user_id}: disable the user instead"
            )
        self.trigger_event(self.RoleRevoked, role=role, occurred_at=occurred_at, actor=actor)

    def join_team(
        self, *, team: str, known_teams: Collection[str], occurred_at: datetime, actor: Actor
    ) -> None:
        """The user works in `team` from now on: its queue, and its requests' contact details
        when they act as an officer or team leader, are theirs."""
        _require_aware(occurred_at)
        self._require_active(f"add them to team {team}")
        _known([team], known_teams, "team", self.council)
        if team in self.teams:
            raise UserRefused(f"user {self.user_id} already works in team {team}")
        self.trigger_event(self.JoinedTeam, team=team, occurred_at=occurred_at, actor=actor)

    def leave_team(self, *, team: str, occurred_at: datetime, actor: Actor) -> None:
        """The user no longer works in `team`. Requests already assigned to them there stay
        assigned until a team leader reassigns them."""
        _require_aware(occurred_at)
        if team not in self.teams:
            raise UserRefused(f"user {self.user_id} does not work in team {team}")
        self.trigger_event(self.LeftTeam, team=team, occurred_at=occurred_at, actor=actor)

    def disable(self, *, reason: str | None, occurred_at: datetime, actor: Actor) -> None:
        _require_aware(occurred_at)
        if not self.active:
            raise UserRefused(f"user {self.user_id} is already disabled")
        reason = (reason or "").strip() or None
        self.trigger_event(self.Disabled, reason=reason, occurred_at=occurred_at, actor=actor)

    def enable(self, *, occurred_at: datetime, actor: Actor) -> None:
        _require_aware(occurred_at)
        if self.active:
            raise UserRefused(f"user {self.user_id} is active already")
        self.trigger_event(self.Enabled, occurred_at=occurred_at, actor=actor)
