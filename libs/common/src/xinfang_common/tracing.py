"""Trace context and the case in hand, for logs and for the events a service produces.

A request or an event is handled inside ``bind``: it continues the W3C Trace Context of the
incoming ``traceparent`` (HTTP header, or the CloudEvents distributed-tracing extension
attribute) with a span of its own, and names the case. Every log record then carries
``trace_id``, ``span_id`` and ``case_id`` (``ContextFilter``), and ``build_event`` writes the
current ``traceparent`` into the events it builds, so the trace crosses Kafka.

OpenTelemetry is optional and off by default: with ``XINFANG_OTEL_ENABLED=true`` and the
``otel`` extra installed, ``bind`` also opens a real span (exported over OTLP when
``OTEL_EXPORTER_OTLP_ENDPOINT`` is set and the exporter is installed); otherwise nothing of
OpenTelemetry is imported and the ids are made here.
"""

from __future__ import annotations

import contextlib
import functools
import importlib
import logging
import re
import secrets
from collections.abc import Awaitable, Callable, Iterator, MutableMapping
from contextvars import ContextVar
from dataclasses import dataclass
from typing import Any

from fastapi import Depends, Request

from xinfang_common.settings import TracingSettings

log = logging.getLogger(__name__)

_TRACEPARENT = re.compile(r"^([0-9a-f]{2})-([0-9a-f]{32})-([0-9a-f]{16})-([0-9a-f]{2})(-.*)?$")


@dataclass(frozen=True)
class TraceContext:
    """One span of a trace, as W3C Trace Context writes it."""

    trace_id: str
    span_id: str
    flags: str = "01"

    @classmethod
    def parse(cls, traceparent: str | None) -> TraceContext | None:
        """The context in a ``traceparent`` value, or None when it is missing or malformed."""
        match = _TRACEPARENT.match((traceparent or "").strip().lower())
        if match is None:
            return None
        version, trace_id, span_id, flags, rest = match.groups()
        # Version ff is invalid; version 00 has nothing after the flags; zero ids are invalid.
        if version == "ff" or (version == "00" and rest) or set(trace_id) == {"0"} or set(span_id) == {"0"}:
            return None
        return cls(trace_id, span_id, flags)

    @classmethod
    def new(cls) -> TraceContext:
        """The root span of a new trace."""
        return cls(secrets.token_hex(16), secrets.token_hex(8))

    def child(self) -> TraceContext:
        """A new span in the same trace."""
        return TraceContext(self.trace_id, secrets.token_hex(8), self.flags)

    @property
    def traceparent(self) -> str:
        """This span as a ``traceparent`` value."""
        return f"00-{self.trace_id}-{self.span_id}-{self.flags}"


_trace: ContextVar[TraceContext | None] = ContextVar("xinfang_trace", default=None)
_case: ContextVar[str | None] = ContextVar("xinfang_case_id", default=None)


def current_trace() -> TraceContext | None:
    """The span being handled right now, if any."""
    return _trace.get()


def current_traceparent() -> str | None:
    """The ``traceparent`` to put on what is produced right now (None outside any handling)."""
    trace = _trace.get()
    return trace.traceparent if trace is not None else None


def current_case_id() -> str | None:
    """The case being handled right now, if known."""
    return _case.get()


def set_case_id(case_id: str | None) -> None:
    """Name the case being handled, once it is known (e.g. from a path parameter)."""
    _case.set(case_id)


@contextlib.contextmanager
def bind(name: str, *, traceparent: str | None = None, case_id: str | None = None) -> Iterator[TraceContext]:
    """Handle one request or event in a span continuing ``traceparent`` (or a new trace)."""
    tracer = _otel_tracer()
    with contextlib.ExitStack() as stack:
        if tracer is None:
            parent = TraceContext.parse(traceparent)
            trace = parent.child() if parent is not None else TraceContext.new()
        else:
            trace = stack.enter_context(_otel_span(tracer, name, traceparent, case_id))
        trace_token = _trace.set(trace)
        case_token = _case.set(case_id)
        try:
            yield trace
        finally:
            _case.reset(case_token)
            _trace.reset(trace_token)


class ContextFilter(logging.Filter):
    """Adds ``trace_id``, ``span_id`` and ``case_id`` of the handling in progress to each record."""

    def filter(self, record: logging.LogRecord) -> bool:
        trace = _trace.get()
        if trace is not None:
            record.__dict__.setdefault("trace_id", trace.trace_id)
            record.__dict__.setdefault("span_id", trace.span_id)
        case_id = _case.get()
        if case_id is not None:
            record.__dict__.setdefault("case_id", case_id)
        return True


# --- HTTP ---------------------------------------------------------------------------------------

Scope = MutableMapping[str, Any]
ASGIApp = Callable[[Scope, Callable[[], Awaitable[Any]], Callable[[Any], Awaitable[None]]], Awaitable[None]]


class TraceMiddleware:
    """Handles each HTTP request in a span continuing its ``traceparent`` header.

    The response carries the span in ``traceparent`` too, so a caller can find the logs.
    """

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(
        self, scope: Scope, receive: Callable[[], Awaitable[Any]], send: Callable[[Any], Awaitable[None]]
    ) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        incoming = None
        for name, value in scope.get("headers") or ():
            if name == b"traceparent":
                incoming = value.decode("latin-1")
        with bind(f"{scope.get('method', 'HTTP')} {scope.get('path', '')}", traceparent=incoming) as trace:

            async def send_with_trace(message: Any) -> None:
                if message["type"] == "http.response.start":
                    headers = list(message.get("headers") or ())
                    headers.append((b"traceparent", trace.traceparent.encode()))
                    message = {**message, "headers": headers}
                await send(message)

            await self.app(scope, receive, send_with_trace)


def install_tracing(app: Any) -> None:
    """Trace every request of a FastAPI ``app`` and name the case of ``/{case_id}`` paths.

    Call before including the routers: the case is taken by an app-wide dependency, which
    FastAPI gives only to routes added after it.
    """

    async def case_from_path(request: Request) -> None:
        # A path parameter is known only once the route matched, as when dependencies run.
        case_id = request.path_params.get("case_id")
        if isinstance(case_id, str):
            set_case_id(case_id)

    app.router.dependencies.append(Depends(case_from_path))
    app.add_middleware(TraceMiddleware)


# --- OpenTelemetry (optional) -------------------------------------------------------------------


_service = "xinfang"


def configure_tracing(service: str) -> None:
    """Name the service in spans (``configure_logging`` calls this) and read the settings again."""
    global _service
    _service = f"xinfang-{service}"
    _otel_tracer.cache_clear()


@functools.cache
def _otel_tracer() -> Any | None:
    """OpenTelemetry's tracer when enabled and installed; None otherwise (nothing imported)."""
    if not TracingSettings().enabled:
        return None
    try:
        from opentelemetry import trace
        from opentelemetry.sdk.resources import Resource
        from opentelemetry.sdk.trace import TracerProvider
    except ImportError:
        log.warning("XINFANG_OTEL_ENABLED is set but opentelemetry-sdk is not installed; no spans")
        return None
    provider = TracerProvider(resource=Resource.create({"service.name": _service}))
    from opentelemetry.sdk.trace.export import BatchSpanProcessor

    try:
        # Looked up by name: the exporter is an optional extra of the extra.
        otlp = importlib.import_module("opentelemetry.exporter.otlp.proto.http.trace_exporter")
    except ImportError:
        log.info("no OTLP exporter installed: spans are made for the trace ids but not exported")
    else:
        # Endpoint and headers come from the standard OTEL_EXPORTER_OTLP_* variables.
        provider.add_span_processor(BatchSpanProcessor(otlp.OTLPSpanExporter()))
    trace.set_tracer_provider(provider)
    return trace.get_tracer("xinfang")


@contextlib.contextmanager
def _otel_span(
    tracer: Any, name: str, traceparent: str | None, case_id: str | None
) -> Iterator[TraceContext]:
    from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator

    parent = TraceContextTextMapPropagator().extract({"traceparent": traceparent}) if traceparent else None
    attributes = {"xinfang.case_id": case_id} if case_id else {}
    with tracer.start_as_current_span(name, context=parent, attributes=attributes) as span:
        ids = span.get_span_context()
        yield TraceContext(f"{ids.trace_id:032x}", f"{ids.span_id:016x}", f"{int(ids.trace_flags):02x}")
