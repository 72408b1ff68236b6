"""Loads and validates the per-council configuration files (`config/councils/<id>.toml`).

Every error names the file and the field, so a council's administrator can fix it.
"""

from __future__ import annotations

import tomllib
from collections.abc import Callable, Mapping
from datetime import date, time
from pathlib import Path
from typing import Any, TypeVar
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from domain.attributes import Attribute, AttributeValue, check_definition
from domain.calendar import BusinessCalendar, CalendarSpec
from domain.correction_policy import Agency, CorrectionPolicy, TargetsOnRecategorise
from domain.council import (
    SEED_002_ENQUIRY_TYPES,
    AcknowledgementRule,
    AnonymousPolicy,
    AttachmentRule,
    Category,
    Council,
    EscalationStep,
    Team,
)
from domain.kinds import DEFAULT_KINDS, KIND_FIELDS, KindRules, SatisfactionPolicy
from domain.permissions import Permissions, default_permissions, unknown_actions
from domain.retention import RetentionClass
from domain.values import ANY_DETAIL, PERSONAL_FIELDS, Channel, RequestKind, parse_enum

T = TypeVar("T")
Days = TypeVar("Days", bound=int | None)  # a count of days, or none where optional
WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
CALENDAR_FIELDS = ("workdays", "subdivision", "country", "extra_holidays", "removed_holidays")
REQUIRED_OUTCOMES = ("completed", "referred", "no-action", "duplicate", "withdrawn")


class ConfigError(ValueError):
    """A configuration file is missing, unreadable, or has a field the product cannot use."""


class _Reader:
    """Reads typed fields out of one file's parsed TOML, naming the field on any error."""

    def __init__(self, path: Path, data: Mapping[str, Any], prefix: str = "") -> None:
        self.path = path
        self.data = data
        self.prefix = prefix

    def fail(self, field: str, message: str) -> ConfigError:
        return ConfigError(f"{self.path}: {self.prefix}{field}: {message}")

    def get(self, field: str, kind: type[T] | tuple[type, ...], default: Any = ...) -> Any:
        node: Any = self.data
        for part in field.split("."):
            if not isinstance(node, Mapping) or part not in node:
                if default is ...:
                    raise self.fail(field, "is required")
                return default
            node = node[part]
        kinds = kind if isinstance(kind, tuple) else (kind,)
        if not isinstance(node, kinds) or (isinstance(node, bool) and bool not in kinds):
            names = " or ".join(k.__name__ for k in kinds)
            raise self.fail(field, f"must be {names}, got {node!r}")
        return node

    def convert(self, field: str, value: Any, fn: Callable[[Any], T]) -> T:
        try:
            return fn(value)
        except (ValueError, KeyError, TypeError, AttributeError) as e:
            raise self.fail(field, str(e).strip("'\"")) from None


def _weekday(text: str) -> int:
    if text not in WEEKDAYS:
        raise ValueError(f"unknown weekday {text!r} (use {', '.join(WEEKDAYS)})")
    return WEEKDAYS.index(text)


def _clock_time(text: str) -> time:
    return time.fromisoformat(text)


def _calendar(r: _Reader) -> CalendarSpec:
    tz = r.get("calendar.timezone", str)
    try:
        ZoneInfo(tz)
    except (ZoneInfoNotFoundError, ValueError):
        raise r.fail("calendar.timezone", f"unknown timezone {tz!r}") from None
    opens = r.convert("calendar.opens", r.get("calendar.opens", str), _clock_time)
    closes = r.convert("calendar.closes", r.get("calendar.closes", str), _clock_time)
    if closes <= opens:
        raise r.fail("calendar.closes", "must be after calendar.opens")
    days = r.get("calendar.workdays", list, ["mon", "tue", "wed", "thu", "fri"])
    workdays = tuple(r.convert("calendar.workdays", d, _weekday) for d in days)
    extra = r.get("calendar.extra_holidays", list, [])
    for i, item in enumerate(extra):
        if not isinstance(item, Mapping) or not isinstance(item.get("date"), date):
            raise r.fail(f"calendar.extra_holidays[{i}]", "needs date = YYYY-MM-DD and name")
    removed = r.get("calendar.removed_holidays", list, [])
    if not all(isinstance(d, date) for d in removed):
        raise r.fail("calendar.removed_holidays", "must be a list of dates")
    try:
        spec = CalendarSpec(
            timezone=tz,
            opens=opens,
            closes=closes,
            workdays=tuple(sorted(workdays)),
            country=r.get("calendar.country", str, "AU"),
            subdivision=r.get("calendar.subdivision", str, None),
            extra_holidays=tuple((i["date"], str(i.get("name", "local holiday"))) for i in extra),
            removed_holidays=tuple(removed),
        )
        # Building the calendar checks country and subdivision against the holidays package now,
        # not at the first lodgement.
        BusinessCalendar(spec).is_business_day(date(2000, 1, 3))
    except (ValueError, NotImplementedError, KeyError) as e:
        message = str(e).strip("'\"")
        field = next((k for k in CALENDAR_FIELDS if k in message), "")
        raise r.fail(f"calendar.{field}".rstrip("."), message) from None
    return spec


def _named_table(r: _Reader, field: str) -> dict[str, str]:
    table = r.get(field, dict)
    if not table:
        raise r.fail(field, "must not be empty")
    for code, name in table.items():
        if not isinstance(name, str) or not name.strip():
            raise r.fail(f"{field}.{code}", "needs a name")
    return dict(table)


def _categories(r: _Reader, teams: Mapping[str, Team]) -> dict[str, Category]:
    out: dict[str, Category] = {}
    for i, item in enumerate(r.get("categories", list)):
        where = f"categories[{i}]"
        sub = _Reader(r.path, item if isinstance(item, Mapping) else {}, prefix=f"{where}.")
        code = sub.get("code", str, None)
        if not code:
            raise sub.fail("code", "is required")
        team = sub.get("team", str, None)
        if team not in teams:
            raise r.fail(f"{where}.team", f"unknown team {team!r} (teams: {', '.join(teams)})")
        if code in out:
            raise r.fail(f"{where}.code", f"duplicate category code {code!r}")
        out[code] = Category(
            code=code,
            name=sub.get("name", str, None) or code,
            team=team,
            complete_days=_days(sub, "complete_days", sub.get("complete_days", int, None)),
            acknowledge_days=_days(sub, "acknowledge_days", sub.get("acknowledge_days", int, None)),
            urgent=sub.get("urgent", bool, False),
            progress_notice_days=sub.get("progress_notice_days", int, None),
            at_risk_share=sub.get("at_risk_share", (int, float), None),
            retention=sub.get("retention", str, None),
            attributes=_attributes(sub),
        )
    if not out:
        raise r.fail("categories", "must list at least one category")
    return out


def _retention(
    r: _Reader, categories: Mapping[str, Category]
) -> tuple[dict[str, RetentionClass], str | None]:
    """The retention classes of `[retention]` and its default; every category's class known."""
    classes: dict[str, RetentionClass] = {}
    for code, item in r.get("retention.classes", dict, {}).items():
        sub = _Reader(
            r.path, item if isinstance(item, Mapping) else {}, prefix=f"retention.classes.{code}."
        )
        years = _days(sub, "years", sub.get("years", int))
        citation = sub.get("citation", str).strip()
        if not citation:
            raise sub.fail("citation", "must name the disposal authority's class")
        classes[code] = RetentionClass(code=code, years=years, citation=citation)
    default = r.get("retention.default", str, None)
    if default is not None and default not in classes:
        raise r.fail("retention.default", f"unknown retention class {default!r}")
    for category in categories.values():
        if category.retention is not None and category.retention not in classes:
            raise r.fail(
                f"categories.{category.code}.retention",
                f"unknown retention class {category.retention!r} "
                f"(classes: {', '.join(classes) or 'none'})",
            )
    if classes and default is None and any(c.retention is None for c in categories.values()):
        raise r.fail("retention.default", "is required while a category names no class")
    return classes, default


def _attributes(r: _Reader) -> tuple[Attribute, ...]:
    """A category's `[[categories.attributes]]`, in GeoReport v2's terms: `code`, `datatype`,
    `description` (the question), `required`, `variable`, `datatype_description`, `order`
    (default: as listed) and, for the list datatypes, `values` as `{key, name}` tables."""
    out: list[Attribute] = []
    for i, item in enumerate(r.get("attributes", list, [])):
        where = f"attributes[{i}]"
        sub = _Reader(
            r.path, item if isinstance(item, Mapping) else {}, prefix=f"{r.prefix}{where}."
        )
        values = []
        for j, value in enumerate(sub.get("values", list, [])):
            v = _Reader(
                r.path,
                value if isinstance(value, Mapping) else {},
                prefix=f"{sub.prefix}values[{j}].",
            )
            values.append(
                AttributeValue(key=str(v.get("key", (str, int))), name=v.get("name", str))
            )
        out.append(
            Attribute(
                code=sub.get("code", str),
                datatype=sub.get("datatype", str),
                description=sub.get("description", str),
                order=sub.get("order", int, i + 1),
                required=sub.get("required", bool, False),
                variable=sub.get("variable", bool, True),
                datatype_description=sub.get("datatype_description", str, None),
                values=tuple(values),
            )
        )
    r.convert("attributes", out, check_definition)
    return tuple(out)


def _days(r: _Reader, field: str, value: Days) -> Days:
    if value is not None and value < 0:
        raise r.fail(field, "must not be negative")
    return value


def _escalation(r: _Reader) -> tuple[EscalationStep, ...]:
    steps: list[EscalationStep] = []
    for i, item in enumerate(r.get("escalation", list)):
        sub = _Reader(r.path, item if isinstance(item, Mapping) else {}, prefix=f"escalation[{i}].")
        role = sub.get("role", str, None)
        if not role:
            raise sub.fail("role", "is required")
        # Whole business days: a level falls due at the close of a business day (one rule).
        after = _days(sub, "after_breach_days", sub.get("after_breach_days", int, 0))
        if steps and after < steps[-1].after_breach_days:
            raise r.fail(f"escalation[{i}].after_breach_days", "must not decrease up the chain")
        steps.append(EscalationStep(role=role, after_breach_days=after))
    if len(steps) < 2:
        raise r.fail("escalation", "needs at least two levels (officer and someone above)")
    if len({s.role for s in steps}) != len(steps):
        raise r.fail("escalation", "a role appears twice in the chain")
    return tuple(steps)


def _acknowledgement(r: _Reader, roles: tuple[str, ...]) -> AcknowledgementRule:
    by_channel: dict[Channel, int] = {}
    for key in r.get("acknowledgement.by_channel", dict, {}):
        field = f"acknowledgement.by_channel.{key}"
        channel = r.convert(field, key, lambda c: parse_enum(Channel, c, "channel"))
        days: int = r.get(field, int)
        by_channel[channel] = _days(r, field, days)
    default = r.get("acknowledgement.default_days", int, None)
    escalate_to = _role(r, "acknowledgement.escalate_to", roles)
    if escalate_to is not None and roles.index(escalate_to) != 1:
        # one ladder: a missed acknowledgement raises a request one level at most
        raise r.fail(
            "acknowledgement.escalate_to", f"must be the level just above the first ({roles[1]!r})"
        )
    after = r.get("acknowledgement.escalate_after_days", int, 0)
    return AcknowledgementRule(
        default_days=_days(r, "acknowledgement.default_days", default),
        by_channel=by_channel,
        escalate_to=escalate_to,
        escalate_after_days=_days(r, "acknowledgement.escalate_after_days", after),
    )


def _role(r: _Reader, field: str, roles: tuple[str, ...]) -> str | None:
    role: str | None = r.get(field, str, None)
    if role is not None and role not in roles:
        raise r.fail(field, f"{role!r} is not in the escalation chain ({', '.join(roles)})")
    return role


def _identified_by(r: _Reader) -> tuple[frozenset[str], ...]:
    """`policy.identified_by`: a list of alternatives, each a list of the customer's details
    that together identify them (e.g. `[["name", "phone"], ["name", "email"]]`); default: any
    one detail."""
    raw = r.get("policy.identified_by", list, None)
    if raw is None:
        return ANY_DETAIL
    rules = []
    for i, rule in enumerate(raw):
        field = f"policy.identified_by[{i}]"
        if not isinstance(rule, list) or not rule:
            raise r.fail(field, 'must be a non-empty list of details, e.g. ["name", "phone"]')
        unknown = [f for f in rule if f not in PERSONAL_FIELDS]
        if unknown:
            raise r.fail(
                field, f"unknown detail {unknown[0]!r} (one of {', '.join(PERSONAL_FIELDS)})"
            )
        rules.append(frozenset(rule))
    if not rules:
        raise r.fail("policy.identified_by", "must name at least one way to identify a customer")
    return tuple(rules)


def _permissions(r: _Reader, chain_roles: tuple[str, ...]) -> Permissions:
    """The seed-derived table, with `[permissions]` replacing a role's actions or adding a role."""
    overrides: dict[str, list[str]] = {}
    for role, actions in r.get("permissions", dict, {}).items():
        field = f"permissions.{role}"
        if not isinstance(actions, list) or not all(isinstance(a, str) for a in actions):
            raise r.fail(field, f"must be a list of action names, got {actions!r}")
        unknown = unknown_actions(actions)
        if unknown:
            raise r.fail(
                field,
                f"unknown action(s) {', '.join(map(repr, unknown))} "
                "(see domain/permissions.py or the README's permission table)",
            )
        overrides[role] = actions
    return default_permissions(chain_roles).replacing(overrides)


_KIND_TYPES: dict[str, type | tuple[type, ...]] = {
    "acknowledge_days": int,
    "complete_days": int,
    "completion_target": bool,
    "progress_notices": bool,
    "escalates": bool,
    "priority": bool,
    "outcomes": list,
    "outcome_letter": str,
    "subject_officer": bool,
}


def _kinds(r: _Reader, outcomes: Mapping[str, str]) -> dict[RequestKind, KindRules]:
    """`[kinds.<kind>]`: each table replaces the fields it names of the kind's defaults."""
    out: dict[RequestKind, KindRules] = {}
    for name, table in r.get("kinds", dict, {}).items():
        field = f"kinds.{name}"
        kind = r.convert(field, name, lambda k: parse_enum(RequestKind, k, "kind"))
        if not isinstance(table, Mapping):
            raise r.fail(field, "must be a table")
        unknown = sorted(set(table) - set(KIND_FIELDS))
        if unknown:
            raise r.fail(
                f"{field}.{unknown[0]}", f"unknown field (known: {', '.join(KIND_FIELDS)})"
            )
        fields: dict[str, Any] = {}
        for key in table:
            value = r.get(f"{field}.{key}", _KIND_TYPES[key])
            if key.endswith("_days"):
                value = _days(r, f"{field}.{key}", value)
            if key == "outcomes":
                bad = [o for o in value if o not in outcomes]
                if bad:
                    raise r.fail(
                        f"{field}.outcomes", f"unknown outcome {bad[0]!r} (see [outcomes])"
                    )
                value = tuple(value)
            fields[key] = value
        out[kind] = DEFAULT_KINDS[kind].with_fields(fields)
    return out


def _satisfaction(r: _Reader) -> SatisfactionPolicy:
    invite = frozenset(
        r.convert("satisfaction.invite", k, lambda v: parse_enum(RequestKind, v, "kind"))
        for k in r.get("satisfaction.invite", list, [])
    )
    low, high = SatisfactionPolicy().scale
    satisfied_from = r.get("satisfaction.satisfied_from", int, 4)
    if not low <= satisfied_from <= high:
        raise r.fail("satisfaction.satisfied_from", f"must be {low} to {high}")
    return SatisfactionPolicy(invite=invite, satisfied_from=satisfied_from)


def _corrections(r: _Reader) -> CorrectionPolicy:
    """`[corrections]`: the business days a reopened request has to be completed (default: its
    category's target) and whether a recategorised request keeps its targets (default)."""
    days = r.get("corrections.reopen_complete_days", int, None)
    targets = r.convert(
        "corrections.recategorise_targets",
        r.get("corrections.recategorise_targets", str, "keep"),
        lambda v: parse_enum(TargetsOnRecategorise, v, "choice"),
    )
    return CorrectionPolicy(
        reopen_complete_days=_days(r, "corrections.reopen_complete_days", days),
        recategorise_targets=targets,
    )


def _agencies(r: _Reader) -> dict[str, Agency]:
    """`[agencies.<code>]`: each external body with a `name`, what it `handles`, and at least
    one of `phone`, `email`, `web`."""
    out: dict[str, Agency] = {}
    for code, item in r.get("agencies", dict, {}).items():
        sub = _Reader(r.path, item if isinstance(item, Mapping) else {}, prefix=f"agencies.{code}.")
        if not isinstance(item, Mapping):
            raise r.fail(f"agencies.{code}", "must be a table")
        agency = Agency(
            code=code,
            name=sub.get("name", str),
            handles=sub.get("handles", str, ""),
            phone=sub.get("phone", str, None),
            email=sub.get("email", str, None),
            web=sub.get("web", str, None),
        )
        if not agency.contact:
            raise sub.fail("phone", "an agency needs at least one of phone, email, web")
        if len(code) > 64 or len(agency.name) > 200:
            raise sub.fail("name", "the code is at most 64 characters and the name 200")
        out[code] = agency
    return out


def parse_council(path: Path, data: Mapping[str, Any]) -> Council:
    """A validated `Council` from one file's parsed TOML."""
    r = _Reader(path, data)
    council_id = r.get("id", str)
    if council_id != path.stem:
        raise r.fail("id", f"must match the file name ({path.stem!r})")
    teams = {code: Team(code=code, name=name) for code, name in _named_table(r, "teams").items()}
    outcomes = _named_table(r, "outcomes")
    missing = [o for o in REQUIRED_OUTCOMES if o not in outcomes]
    if missing:
        raise r.fail("outcomes", f"must include {', '.join(missing)}")
    chain = _escalation(r)
    roles = tuple(s.role for s in chain)
    anonymous = r.convert(
        "policy.anonymous",
        r.get("policy.anonymous", str),
        lambda v: parse_enum(AnonymousPolicy, v, "anonymous policy"),
    )
    identified_by = _identified_by(r)
    refused = frozenset(
        r.convert("policy.refused_channels", c, lambda v: parse_enum(Channel, v, "channel"))
        for c in r.get("policy.refused_channels", list, [])
    )
    categories = _categories(r, teams)
    retention_classes, retention_default = _retention(r, categories)
    return Council(
        id=council_id,
        name=r.get("name", str),
        state=r.get("state", str),
        reference_prefix=r.get("reference_prefix", str),
        calendar=_calendar(r),
        categories=categories,
        teams=teams,
        escalation_chain=chain,
        outcomes=outcomes,
        anonymous=anonymous,
        identified_by=identified_by,
        refused_channels=refused,
        acknowledgement=_acknowledgement(r, roles),
        progress_notice_days=r.get("policy.progress_notice_days", int, 15),
        progress_notice_every_days=_days(
            r,
            "policy.progress_notice_every_days",
            r.get("policy.progress_notice_every_days", int, None),
        ),
        urgent_alert_ack_minutes=_days(
            r,
            "policy.urgent_alert_ack_minutes",
            r.get("policy.urgent_alert_ack_minutes", int, None),
        ),
        at_risk_share=float(r.get("policy.at_risk_share", (int, float), 0.8)),
        delay_moves_due=r.get("policy.delay_moves_due", bool, True),
        awaiting_customer_pauses=r.get("policy.awaiting_customer_pauses", bool, False),
        discretionary_role=_role(r, "policy.discretionary_role", roles),
        urgent_role=_role(r, "policy.urgent_role", roles),
        description_max_chars=r.get("policy.description_max_chars", int, 2000),
        due_date_horizon_days=_horizon(r),
        kpi_targets={
            k: float(r.get(f"kpi_targets.{k}", (int, float)))
            for k in r.get("kpi_targets", dict, {})
        },
        permissions=_permissions(r, roles),
        retention_classes=retention_classes,
        retention_default=retention_default,
        source=r.get("source", str, ""),
        corrections=_corrections(r),
        agencies=_agencies(r),
        enquiry_types=(
            _named_table(r, "enquiry_types")
            if "enquiry_types" in data
            else dict(SEED_002_ENQUIRY_TYPES)
        ),
        attachments=_attachments(r),
        kinds=_kinds(r, outcomes),
        satisfaction=_satisfaction(r),
    )


def _horizon(r: _Reader) -> int:
    """`policy.due_date_horizon_days` (required): 1 to 3,660 days (ten years)."""
    days = r.get("policy.due_date_horizon_days", int)
    if not 1 <= days <= 3660:
        raise r.fail("policy.due_date_horizon_days", f"must be 1 to 3660 days, got {days}")
    return int(days)


def _attachments(r: _Reader) -> AttachmentRule:
    """`[attachments]`: `max_bytes` (1 byte to 100 MiB) and `media_types` (type/subtype)."""
    default = AttachmentRule()
    most = r.get("attachments.max_bytes", int, default.max_bytes)
    if not 1 <= most <= 100 * 1024 * 1024:
        raise r.fail("attachments.max_bytes", "must be 1..104857600")
    types = r.get("attachments.media_types", list, sorted(default.media_types))
    for i, t in enumerate(types):
        if not isinstance(t, str) or t.count("/") != 1 or t != t.strip().lower():
            raise r.fail(f"attachments.media_types[{i}]", "must be a media type, e.g. image/png")
    if not types:
        raise r.fail("attachments.media_types", "must not be empty")
    return AttachmentRule(max_bytes=most, media_types=frozenset(types))


def load_council(config_dir: Path, council_id: str) -> Council:
    """The council's validated configuration, or a `ConfigError` naming the file and field."""
    path = config_dir / "councils" / f"{council_id}.toml"
    if not path.is_file():
        known = ", ".join(sorted(list_councils(config_dir))) or "none"
        raise ConfigError(f"no configuration for council {council_id!r} at {path} (known: {known})")
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except tomllib.TOMLDecodeError as e:
        raise ConfigError(f"{path}: not valid TOML: {e}") from None
    return parse_council(path, data)


def list_councils(config_dir: Path) -> list[str]:
    return sorted(p.stem for p in (config_dir / "councils").glob("*.toml"))
