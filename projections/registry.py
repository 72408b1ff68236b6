"""Every read model by name: the single list both delivery paths and the operations commands use."""

from __future__ import annotations

from projections.audit_record import AuditRecord
from projections.base import ReadModel
from projections.complaint_register import ComplaintRegister
from projections.enquiry_statistics import EnquiryStatistics
from projections.public_requests import PublicRequests
from projections.request_attachments import RequestAttachments
from projections.request_summary import RequestSummary
from projections.sla import Sla
from projections.work_queue import WorkQueue
from projections.work_queue_history import WorkQueueHistory

READ_MODELS: dict[str, type[ReadModel]] = {
    "work_queue": WorkQueue,
    "request_summary": RequestSummary,
    "audit_record": AuditRecord,
    "sla": Sla,
    "work_queue_history": WorkQueueHistory,
    "public_requests": PublicRequests,
    "enquiry_statistics": EnquiryStatistics,
    "request_attachments": RequestAttachments,
    "complaint_register": ComplaintRegister,
}


def build(name: str, prefix: str = "") -> ReadModel:
    try:
        return READ_MODELS[name](prefix)
    except KeyError:
        raise KeyError(f"unknown read model {name!r} (known: {', '.join(READ_MODELS)})") from None


def build_all(prefix: str = "") -> list[ReadModel]:
    return [cls(prefix) for cls in READ_MODELS.values()]
