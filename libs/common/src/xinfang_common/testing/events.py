"""Events for tests, built from the example payload each topic spec already carries."""

from __future__ import annotations

from typing import Any

from xinfang_common.cloudevents import CloudEvent, build_event
from xinfang_common.topics import TopicSpec


def example_event(spec: TopicSpec, key: str, **overrides: Any) -> CloudEvent[Any]:
    """The spec's example event keyed by ``key`` (a case id; a unit code on the units topic), with
    ``overrides`` applied to its data."""
    data = spec.schema.model_validate({**spec.example, spec.key_field: key, **overrides})
    return build_event(data, event_type=spec.event_type, source=spec.source, key=key)
