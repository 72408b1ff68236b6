"""Structured logs to stderr: readable on a terminal, JSON lines otherwise (production)."""

from __future__ import annotations

import logging
import os
import sys
import threading

import structlog


def configure(level: str | None = None) -> None:
    level_name = (level or os.environ.get("CRM_LOG_LEVEL") or "WARNING").upper()
    renderer: structlog.typing.Processor = (
        structlog.dev.ConsoleRenderer(colors=False)
        if sys.stderr.isatty()
        else structlog.processors.JSONRenderer()
    )
    structlog.configure(
        processors=[
            structlog.contextvars.merge_contextvars,
            structlog.processors.add_log_level,
            structlog.processors.TimeStamper(fmt="iso", utc=True),
            renderer,
        ],
        wrapper_class=structlog.make_filtering_bound_logger(
            logging.getLevelNamesMapping().get(level_name, logging.WARNING)
        ),
        logger_factory=_StderrNow,
        cache_logger_on_first_use=False,
    )
    logging.basicConfig(stream=sys.stderr, level=logging.WARNING)


_ONE_LINE_AT_A_TIME = threading.Lock()


class _StderrNow:
    """Writes each line to whatever `sys.stderr` is when it is written, not the stream it was
    when logging was configured: a thread that outlives a redirected (or a test's captured)
    stderr then never fails on a closed file."""

    def __init__(self, *_args: object) -> None:
        pass

    def msg(self, message: str) -> None:
        # one write per line, one thread at a time: `print` writes the line and its end
        # separately, so two threads logging at once could share a line (a relay's two
        # topics starting together did), which no JSON-lines reader can split again
        with _ONE_LINE_AT_A_TIME:
            stream = sys.stderr
            stream.write(message + "\n")
            stream.flush()

    log = debug = info = warn = warning = error = critical = exception = fatal = msg


def get(name: str) -> structlog.typing.FilteringBoundLogger:
    return structlog.get_logger(name)  # type: ignore[no-any-return]
