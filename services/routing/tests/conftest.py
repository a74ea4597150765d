"""Fixtures shared by the routing tests."""

from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from routing.org_tree import OrgTree, load_org_tree
from xinfang_common.cloudevents import CloudEvent, build_event
from xinfang_common.events import PetitionRegistered
from xinfang_common.topics import PETITION_REGISTERED

DEMO_TREE = Path(__file__).resolve().parents[3] / "deploy" / "config" / "org-tree.demo.yaml"


@pytest.fixture
def demo_tree_path() -> Path:
    """The demo org tree that `make up` loads."""
    return DEMO_TREE


@pytest.fixture
def demo_tree() -> OrgTree:
    return load_org_tree(DEMO_TREE)


@pytest.fixture
def make_petition() -> Callable[..., PetitionRegistered]:
    """A PetitionRegistered payload; keyword arguments override the defaults."""

    def make(**overrides: Any) -> PetitionRegistered:
        now = datetime(2026, 3, 2, 9, 30, tzinfo=UTC)
        fields: dict[str, Any] = {
            "case_id": "case-1",
            "channel": "online",
            "petition_type": "claim",
            "category": "城乡建设",
            "region": "430104",
            "title": "小区旁工地夜间施工噪音扰民",
            "content": "工地连续多日夜间施工，影响居民休息。",
            "petitioner_count": 1,
            "received_at": now,
            "registered_at": now,
        }
        fields.update(overrides)
        return PetitionRegistered.model_validate(fields)

    return make


@pytest.fixture
def make_registered(
    make_petition: Callable[..., PetitionRegistered],
) -> Callable[..., CloudEvent[PetitionRegistered]]:
    """A PetitionRegistered CloudEvent as intake publishes it."""

    def make(**overrides: Any) -> CloudEvent[PetitionRegistered]:
        petition = make_petition(**overrides)
        return build_event(
            petition,
            event_type=PETITION_REGISTERED.event_type,
            source=PETITION_REGISTERED.source,
            case_id=petition.case_id,
        )

    return make
