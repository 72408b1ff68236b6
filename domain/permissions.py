"""Who may do and see what: roles, actions, the permission table, and who sees personal data.

An *action* is one `crm` command or view (the HTTP interface checks the same names). A council's
permission table maps each role to the actions it allows; `default_permissions` derives it from
the seeds, and `[permissions]` in the council's configuration replaces a role's list or adds a
role. The council's catalogue and this table (`categories`, `teams`, `permissions`) are public:
they need no acting user.

Least privilege: a user acts in one role at a time, and what that role allows is all they may do.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field

from domain.values import Actor

CUSTOMER_SERVICE = "customer-service"
OFFICER = "officer"
TEAM_LEADER = "team-leader"
MANAGER = "manager"
DIRECTOR = "director"
RECORDS_OFFICER = "records-officer"
COMPLAINTS_OFFICER = "complaints-officer"
ANALYST = "analyst"
ADMINISTRATOR = "administrator"

BASE_ROLES: tuple[str, ...] = (
    CUSTOMER_SERVICE,
    OFFICER,
    TEAM_LEADER,
    MANAGER,
    DIRECTOR,
    RECORDS_OFFICER,
    COMPLAINTS_OFFICER,
    ANALYST,
    ADMINISTRATOR,
)
SYSTEM_ROLE = "system"  # long-running processes and imports; never a staff user's role

ACTION_DOCS: Mapping[str, str] = {
    # a request's lifecycle
    "lodge": "lodge a new request",
    "acknowledge": "acknowledge a request",
    "assign": "assign a request to a team or officer",
    "note": "add a note to a request",
    "delay": "record a delay and a new expected date",
    "escalate": "escalate a request",
    "close": "close a request with an outcome",
    "publish": "approve the description the public sees (Open311, the portal)",
    "satisfaction": "record the customer's rating of the service after closure",
    "complaint": "record who a complaint is about, its internal review and Ombudsman referral",
    "complaint-report": "the complaints report: by category, outcome and time taken",
    # corrections: supervisors and above, complaints officers and administrators
    "reopen": "reopen a closed request",
    "recategorise": "change a request's category (its routing and standards per policy)",
    "link": "close a request as a duplicate of another",
    "refer": "refer a request to an external agency (outside the council's jurisdiction)",
    # views of the work
    "show": "a request as it stands",
    "history": "every event of a request",
    "queue": "work queues",
    "sla": "SLA views: breached, at risk, escalated",
    "sla-sweep": "run one SLA watchdog sweep by hand",
    "alerts": "staff alerts",
    "notices": "customer notices in the outbox",
    "timeline": "the investigation timeline of a request",
    "attach": "attach a document (photo, letter, form) to a request",
    "attachments": "a request's attachments: list them, read them back",
    # enquiries that are not requests (seed 002), counted daily (seed 004)
    "contact": "record an enquiry that is not a service request",
    "stats": "daily statistics of enquiries and requests, by type or channel",
    # the record and the figures
    "audit": "the audit record",
    "import": "import another system's history",
    "kpi": "KPIs for a period",
    "export": "exports of the record",
    "record": "the tamper-evident record: its key, signed anchors, verification, what is due "
    "for disposal",
    "dispose": "dispose of a request past its retention: erase its personal data, certify it",
    # customers
    "customer-find": "find a customer",
    "customer-show": "a customer's record",
    "customer-history": "a customer's record's history",
    "customer-update": "change a customer's contact details",
    "customer-conduct": "declare a customer's conduct (e.g. vexatious)",
    "customer-erase": "erase a customer's personal data",
    "customer-access-log": "who looked at a customer's record",
    # operations and the council's set-up
    "projections": "read-model operations: status, rebuild, verify",
    "users": "manage staff users and their roles, passwords and tokens",
    "apikeys": "manage the API keys of Open311 clients (portals, apps)",
    "demo": "the guided demo",
    "categories": "the council's categories (public)",
    "teams": "the council's teams (public)",
    "permissions": "this permission table (public)",
    "agencies": "the council's directory of external agencies (public)",
}
ACTIONS: frozenset[str] = frozenset(ACTION_DOCS)
PUBLIC_ACTIONS: frozenset[str] = frozenset({"categories", "teams", "permissions", "agencies"})

REQUEST_COMMANDS = frozenset(
    {"lodge", "acknowledge", "assign", "note", "delay", "escalate", "close", "publish"}
)
WORK_VIEWS = (
    frozenset({"show", "history", "queue", "sla", "sla-sweep", "alerts", "notices", "timeline"})
    | PUBLIC_ACTIONS
)
CUSTOMER_DESK = frozenset({"customer-find", "customer-show", "customer-history", "customer-update"})
DOCUMENTS_AND_ENQUIRIES = frozenset({"attach", "attachments", "contact", "stats"})
FRONT_LINE = (
    REQUEST_COMMANDS | WORK_VIEWS | CUSTOMER_DESK | DOCUMENTS_AND_ENQUIRIES | {"satisfaction"}
)
RECORDS = (
    frozenset(
        {
            "audit",
            "import",
            "kpi",
            "export",
            "record",
            "show",
            "history",
            "customer-show",
            "customer-history",
            "customer-access-log",
            "customer-erase",
            "timeline",
            "attachments",
            "stats",
            "complaint-report",
            "dispose",
        }
    )
    | PUBLIC_ACTIONS
)
# Complaints officers also record who a complaint is about, its review and Ombudsman referral.
# Corrections undo or redirect someone else's work: a supervisor's decision (team leaders and
# every level above them), a complaints officer's, or an administrator's — not the front line.
CORRECTIONS = frozenset({"reopen", "recategorise", "link", "refer"})
SUPERVISING = FRONT_LINE | CORRECTIONS
COMPLAINTS = FRONT_LINE | CORRECTIONS | {"customer-conduct", "complaint", "complaint-report"}
ANALYSIS = (
    frozenset(
        {"kpi", "sla", "queue", "show", "history", "audit", "timeline", "stats", "complaint-report"}
    )
    | PUBLIC_ACTIONS
)
# Disposal under the council's records authority is the records unit's decision alone: not even
# an administrator holds it by default (a council may grant it in `[permissions]`).
RECORDS_ONLY = frozenset({"dispose"})
# Who may be assigned a request: the officer works it to its close, so one of their roles must
# allow noting and closing it (the council's own table decides, `[permissions]` included).
WORKING_A_REQUEST = frozenset({"note", "close"})
# Seed 001 §7.4.4: the General Manager declares a customer's conduct unreasonable (vexatious).
CONDUCT_DECLARER = "general-manager"


@dataclass(frozen=True)
class Permissions:
    """The permission table: role → the actions it allows. Public actions are allowed to all."""

    by_role: Mapping[str, frozenset[str]] = field(default_factory=dict)

    def allows(self, role: str, action: str) -> bool:
        return action in PUBLIC_ACTIONS or action in self.by_role.get(role, frozenset())

    @property
    def roles(self) -> tuple[str, ...]:
        return tuple(self.by_role)

    def can_hold_work(self, roles: Iterable[str]) -> bool:
        """Whether someone holding `roles` may be assigned a request: a role of theirs allows
        working it to its close."""
        return any(WORKING_A_REQUEST <= self.by_role.get(r, frozenset()) for r in roles)

    def replacing(self, overrides: Mapping[str, Iterable[str]]) -> Permissions:
        """This table with each overridden role's actions replaced (a new role is added)."""
        table = dict(self.by_role)
        table.update({role: frozenset(actions) for role, actions in overrides.items()})
        return Permissions(table)


def default_permissions(chain_roles: Sequence[str]) -> Permissions:
    """The seed-derived table; every escalation-chain role above the first gets what a team
    leader has."""
    table: dict[str, frozenset[str]] = {
        CUSTOMER_SERVICE: FRONT_LINE,
        OFFICER: FRONT_LINE,
        TEAM_LEADER: SUPERVISING,
        MANAGER: SUPERVISING,
        DIRECTOR: SUPERVISING,
        RECORDS_OFFICER: RECORDS,
        COMPLAINTS_OFFICER: COMPLAINTS,
        ANALYST: ANALYSIS,
        ADMINISTRATOR: ACTIONS - RECORDS_ONLY,
    }
    for i, role in enumerate(chain_roles):  # above the first level: a supervisor
        table.setdefault(role, SUPERVISING if i else FRONT_LINE)
    if CONDUCT_DECLARER in table:
        table[CONDUCT_DECLARER] = table[CONDUCT_DECLARER] | {"customer-conduct"}
    return Permissions(table)


def unknown_actions(actions: Iterable[str]) -> list[str]:
    return sorted(set(actions) - ACTIONS)


@dataclass(frozen=True, kw_only=True)
class Viewer:
    """The acting user: who they are, the role they act in, all their roles, their teams."""

    user_id: str
    role: str
    roles: frozenset[str]
    teams: frozenset[str]

    @property
    def actor(self) -> Actor:
        return Actor(id=self.user_id, role=self.role)


SEES_ALL_PERSONAL = frozenset(
    {CUSTOMER_SERVICE, RECORDS_OFFICER, COMPLAINTS_OFFICER, ADMINISTRATOR}
)
TEAM_ROLES = frozenset({OFFICER, TEAM_LEADER})


def sees_personal(
    viewer: Viewer, *, team: str | None, level: str | None, chain: Sequence[str]
) -> bool:
    """Whether the viewer, in their acting role, sees a request's personal fields: the front
    desk, records, complaints and administrators always; officers and team leaders for their
    own teams' requests; a role higher up the chain once the request has reached its level;
    analysts and anyone else never."""
    role = viewer.role
    if role in SEES_ALL_PERSONAL:
        return True
    if role in TEAM_ROLES:
        return team is not None and team in viewer.teams
    if role in chain and level in chain:
        return chain.index(level) >= chain.index(role)
    return False


def sees_customer_record(viewer: Viewer) -> bool:
    """Whether the viewer, in their acting role, may open a customer's record."""
    return viewer.role in SEES_ALL_PERSONAL
