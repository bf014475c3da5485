"""Log lines as text or JSON (ESCALATOR_LOG_FORMAT), for the app and for gunicorn's error and access logs.

In JSON every line is one object: time, level, logger, message and, where the call passes them as
`extra=`, the delivery id, platform, ticket key and outbox id, so a log search follows one delivery
across processes and hosts. Nothing logs a body, a credential header or a setting's value.
"""
from __future__ import annotations

import json
import logging
import sys
from datetime import UTC, datetime

CONTEXT = ("delivery", "platform", "ticket", "outbox")
TEXT = "%(asctime)s [%(process)d] [%(levelname)s] %(name)s: %(message)s"     # gunicorn's lines, plus the logger
TEXT_DATES = "[%Y-%m-%d %H:%M:%S %z]"
# The path without its query string: a one-time link (/setup?token=...) must not reach the log.
ACCESS = '%(h)s "%(m)s %(U)s %(H)s" %(s)s %(b)s %(M)sms "%(a)s"'
_ACCESS_FIELDS = {"remote": "h", "method": "m", "path": "U", "status": "s", "bytes": "B", "duration_ms": "M"}


class JsonFormatter(logging.Formatter):
    """One JSON object per record; the context fields only when the call gave them."""

    def format(self, record: logging.LogRecord) -> str:
        line = {"time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
                "level": record.levelname.lower(), "logger": record.name, "message": record.getMessage(),
                "pid": record.process}
        line.update({name: getattr(record, name) for name in CONTEXT if getattr(record, name, None) is not None})
        if record.name == "gunicorn.access" and isinstance(record.args, dict):
            line.update({name: record.args.get(atom) for name, atom in _ACCESS_FIELDS.items()})
        if record.exc_info:
            line["exception"] = self.formatException(record.exc_info)
        return json.dumps(line, ensure_ascii=False, default=str)


def formatter(log_format: str) -> logging.Formatter:
    return JsonFormatter() if log_format == "json" else logging.Formatter(TEXT, TEXT_DATES)


def configure(settings) -> None:
    """This process's records, INFO and up, to stderr in the configured format (again: replaced, not added)."""
    root = logging.getLogger()
    for handler in [h for h in root.handlers if getattr(h, "escalator", False)]:
        root.removeHandler(handler)
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(formatter(settings.log_format))
    handler.escalator = True
    root.addHandler(handler)
    root.setLevel(logging.INFO)


def gunicorn_options(settings) -> dict:
    """gunicorn's logging settings: our access line, and in JSON mode a logger that writes JSON."""
    options = {"access_log_format": ACCESS}
    if settings.log_format == "json":
        options["logger_class"] = json_gunicorn_logger()
    return options


def json_gunicorn_logger() -> type:
    """gunicorn's logger with every handler it sets up (at start, SIGHUP, SIGUSR1) writing JSON."""
    from gunicorn.glogging import Logger  # here: the processor and the simulator log without gunicorn

    class JsonGunicornLogger(Logger):
        def setup(self, cfg) -> None:
            super().setup(cfg)
            for log in (self.error_log, self.access_log):
                for handler in log.handlers:
                    handler.setFormatter(JsonFormatter())

    return JsonGunicornLogger


def context(*, delivery: int | None = None, platform: str = "", ticket: str = "", outbox: int | None = None) -> dict:
    """The `extra=` of a log call about one delivery, ticket or outbox row; unknown parts left out."""
    given = {"delivery": delivery, "platform": platform or None, "ticket": ticket or None, "outbox": outbox}
    return {name: value for name, value in given.items() if value is not None}
