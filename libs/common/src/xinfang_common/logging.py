"""Structured logging with personal data masked before anything is written."""

from __future__ import annotations

import json
import logging
import re
import sys
from datetime import UTC, datetime
from typing import Any

from xinfang_common.settings import LogSettings
from xinfang_common.tracing import ContextFilter, configure_tracing

# Resident ID numbers (18 characters), mainland mobile numbers and landlines with area code;
# and the tracking code (a bearer secret) in any logged URL path of the tracking endpoints.
_PATTERNS = (
    (re.compile(r"(/track/)[^/\s?#\"']+"), r"\1***"),
    (re.compile(r"(?<!\d)(\d{6})(\d{8})(\d{3}[\dXx])(?!\d)"), r"\1********\3"),
    (re.compile(r"(?<!\d)(1[3-9]\d)(\d{4})(\d{4})(?!\d)"), r"\1****\3"),
    (re.compile(r"(?<!\d)(0\d{2,3}-?)(\d{3,4})(\d{4})(?!\d)"), r"\1****\3"),
)
SENSITIVE_KEYS = frozenset({"name", "id_number", "phone", "address", "petitioners"})

_STANDARD_ATTRS = set(logging.LogRecord("", 0, "", 0, "", None, None).__dict__) | {"message"}


def mask_text(text: str) -> str:
    """Mask ID numbers, phone numbers and tracking codes in URLs inside free text."""
    for pattern, replacement in _PATTERNS:
        text = pattern.sub(replacement, text)
    return text


def mask_value(key: str, value: Any) -> Any:
    """Mask a structured log field: sensitive keys entirely, other strings by pattern."""
    if key in SENSITIVE_KEYS:
        return "***"
    if isinstance(value, str):
        return mask_text(value)
    if isinstance(value, dict):
        return {k: mask_value(str(k), v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [mask_value(key, v) for v in value]
    return value


class JsonFormatter(logging.Formatter):
    """One JSON object per line, with the ``extra`` fields masked."""

    def __init__(self, service: str) -> None:
        super().__init__()
        self.service = service

    def format(self, record: logging.LogRecord) -> str:
        payload: dict[str, Any] = {
            "ts": datetime.fromtimestamp(record.created, UTC).isoformat(),
            "level": record.levelname,
            "service": self.service,
            "logger": record.name,
            "msg": mask_text(record.getMessage()),
        }
        for key, value in record.__dict__.items():
            if key not in _STANDARD_ATTRS and not key.startswith("_"):
                payload[key] = mask_value(key, value)
        if record.exc_info:
            payload["exc"] = mask_text(self.formatException(record.exc_info))
        return json.dumps(payload, ensure_ascii=False, default=str)


class MaskingTextFormatter(logging.Formatter):
    """Human-readable lines for local runs, masked the same way."""

    def format(self, record: logging.LogRecord) -> str:
        return mask_text(super().format(record))


def configure_logging(service: str, settings: LogSettings | None = None) -> None:
    """Send every logger's records to stderr, masked, at the configured level.

    Records made while a request or event is handled carry its ``trace_id``, ``span_id`` and
    ``case_id`` (see ``xinfang_common.tracing``).
    """
    settings = settings or LogSettings()
    configure_tracing(service)
    handler = logging.StreamHandler(sys.stderr)
    handler.addFilter(ContextFilter())
    if settings.json_format:
        handler.setFormatter(JsonFormatter(service))
    else:
        handler.setFormatter(
            MaskingTextFormatter(f"%(asctime)s {service} %(levelname)s %(name)s: %(message)s")
        )
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(settings.level.upper())
    # Chatty client libraries: keep their warnings, drop their per-request info lines.
    for noisy in ("kafka", "aiokafka", "faust", "mode", "uvicorn.access"):
        logging.getLogger(noisy).setLevel(max(logging.WARNING, root.level))
