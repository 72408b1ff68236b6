"""What each role may do by default, written out by hand from the issue and the seeds.

This is the expectation the interfaces are tested against — the CLI now, the HTTP interface
later — so it is deliberately not derived from `domain.permissions`: if the code's table
drifts from it, the tests say where. Actions are the names of `domain.permissions.ACTIONS`;
`CHECKED` lists those the interface tests exercise for every role.
"""

from __future__ import annotations

REQUEST_COMMANDS = frozenset(
    {"lodge", "acknowledge", "assign", "note", "delay", "escalate", "close", "publish"}
)
PUBLIC = frozenset({"categories", "teams", "permissions", "agencies"})
WORK_VIEWS = frozenset(
    {"show", "history", "queue", "sla", "sla-sweep", "alerts", "notices", "timeline"}
)
# the customer desk: finding a caller, their record and its history, correcting details
DESK = frozenset({"customer-find", "customer-show", "customer-history", "customer-update"})
# seed 002: documents kept with requests, enquiries that are not requests; seed 004: daily stats
DOCUMENTS = frozenset({"attach", "attachments", "contact", "stats"})
FRONT_LINE = REQUEST_COMMANDS | WORK_VIEWS | PUBLIC | DESK | DOCUMENTS
# corrections (reopen, recategorise, link a duplicate, refer): supervisors and above,
# complaints officers and administrators; never the front line alone
CORRECT = frozenset({"reopen", "recategorise", "link", "refer"})
# seed 001 §7.4.4: the General Manager declares a customer's conduct; complaints officers too
CONDUCT = frozenset({"customer-conduct"})

MAY: dict[str, frozenset[str]] = {
    "customer-service": FRONT_LINE,
    "officer": FRONT_LINE,
    "team-leader": FRONT_LINE | CORRECT,
    "manager": FRONT_LINE | CORRECT,
    "director": FRONT_LINE | CORRECT,
    "general-manager": FRONT_LINE | CONDUCT | CORRECT,  # a role of Upper Lachlan's escalation chain
    "records-officer": frozenset(
        {
            "audit",
            "import",
            "kpi",
            "record",
            "show",
            "history",
            "customer-show",
            "customer-history",
            "customer-erase",
            "customer-access-log",
        }
    )
    | PUBLIC
    | {"timeline", "export"}
    | {"attachments", "stats"}
    | {"dispose"},
    "complaints-officer": FRONT_LINE | CONDUCT | CORRECT,
    "analyst": frozenset({"kpi", "sla", "queue", "show", "history", "audit"})
    | PUBLIC
    | {"timeline", "stats"},
    "administrator": FRONT_LINE
    | CONDUCT
    | CORRECT
    | {
        "audit",
        "import",
        "kpi",
        "record",
        "users",
        "projections",
        "apikeys",
        "customer-erase",
        "customer-access-log",
    }
    | {"export"},
}
# The customer's rating after closure is recorded by whoever takes their call (front line);
# complaints officers record who a complaint is about, its review and Ombudsman referral; the
# complaints report is for complaints and records officers and analysts.
RATING = frozenset({"satisfaction"})
for _role in (
    "customer-service",
    "officer",
    "team-leader",
    "manager",
    "director",
    "general-manager",
    "complaints-officer",
    "administrator",
):
    MAY[_role] = MAY[_role] | RATING
for _role in ("complaints-officer", "administrator"):
    MAY[_role] = MAY[_role] | {"complaint"}
for _role in ("complaints-officer", "records-officer", "analyst", "administrator"):
    MAY[_role] = MAY[_role] | {"complaint-report"}
ROLES = tuple(MAY)
CHECKED = (
    "lodge",
    "acknowledge",
    "assign",
    "note",
    "delay",
    "escalate",
    "close",
    "publish",
    "show",
    "history",
    "queue",
    "sla",
    "sla-sweep",
    "notices",
    "audit",
    "import",
    "kpi",
    "record",
    "users",
    "projections",
    "categories",
    "teams",
    "permissions",
    "apikeys",
    "customer-find",
    "customer-show",
    "customer-history",
    "customer-update",
    "customer-conduct",
    "customer-access-log",
    "timeline",
    "export",
    "attach",
    "attachments",
    "contact",
    "stats",
    "reopen",
    "recategorise",
    "link",
    "refer",
    "agencies",
    "dispose",
    "alerts",
    "complaint",
    "complaint-report",
    "satisfaction",
    "customer-erase",
)
