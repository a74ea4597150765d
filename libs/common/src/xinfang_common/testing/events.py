"""Events for tests, built from the example payload each topic spec already carries."""

from __future__ import annotations

from typing import Any

from xinfang_common.cloudevents import CloudEvent, build_event
from xinfang_common.topics import TopicSpec


def example_event(spec: TopicSpec, case_id: str, **overrides: Any) -> CloudEvent[Any]:
    """The spec's example event for ``case_id``, with ``overrides`` applied to its data."""
    data = spec.schema.model_validate({**spec.example, "case_id": case_id, **overrides})
    return build_event(data, event_type=spec.event_type, source=spec.source, case_id=case_id)
