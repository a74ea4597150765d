"""Fixtures shared by the routing tests."""

import uuid
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from routing.classifier import train
from routing.org_tree import OrgTree, load_org_tree
from xinfang_common.cloudevents import CloudEvent, build_event
from xinfang_common.events import PetitionRegistered
from xinfang_common.topics import PETITION_REGISTERED

DEMO_TREE = Path(__file__).resolve().parents[3] / "deploy" / "config" / "org-tree.demo.yaml"


@pytest.fixture(autouse=True)
def _routing_scratch(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Keep every test's database and training data out of the working directory."""
    monkeypatch.setenv("ROUTING_DATABASE_URL", f"sqlite:///{tmp_path / 'routing.db'}")
    monkeypatch.setenv("ROUTING_TRAINING_DATA_PATH", str(tmp_path / "training.csv"))


@pytest.fixture
def routing_group(kafka_broker: str) -> str:
    """A new routing consumer group that starts at the current end of every topic routing reads.

    The broker is shared with other tests (and grows with every run): a group reading from the
    earliest offset would first route every petition ever sent to it.
    """
    from kafka import KafkaAdminClient, KafkaConsumer, TopicPartition
    from kafka.admin import OffsetSpec

    from routing.agents import CONSUMED

    group = f"routing-test-{uuid.uuid4().hex[:12]}"
    probe = KafkaConsumer(bootstrap_servers=kafka_broker, group_id=None)
    admin = KafkaAdminClient(bootstrap_servers=kafka_broker)
    try:
        partitions = [
            TopicPartition(spec.name, p)
            for spec in CONSUMED
            for p in sorted(probe.partitions_for_topic(spec.name) or ())
        ]
        admin.reset_group_offsets(group, dict.fromkeys(partitions, OffsetSpec.LATEST))
    finally:
        admin.close()
        probe.close()
    return group


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


# A tiny labelled history in three categories, enough for a model to tell them apart.
TINY_HISTORY: list[tuple[str, str]] = [
    ("小区旁工地夜间施工噪音扰民", "城乡建设"),
    ("楼盘延期交房开发商不给说法", "城乡建设"),
    ("老旧小区改造工程质量差", "城乡建设"),
    ("小区物业乱收费，房屋漏水无人维修", "城乡建设"),
    ("拆迁安置房迟迟不能交付", "城乡建设"),
    ("违章建筑占用小区绿地", "城乡建设"),
    ("房屋产权证办理拖延多年", "城乡建设"),
    ("市政道路施工围挡影响小区出行", "城乡建设"),
    ("学校违规补课收费", "教育文体"),
    ("幼儿园入园难，学位不足", "教育文体"),
    ("教师绩效工资迟迟不发", "教育文体"),
    ("中学食堂饭菜质量差，学生家长不满", "教育文体"),
    ("学校强制学生购买教辅资料", "教育文体"),
    ("小学划片招生不公平", "教育文体"),
    ("体育馆长期不对市民开放", "教育文体"),
    ("培训机构倒闭学费无法退还", "教育文体"),
    ("医院乱收费，看病贵", "卫生计生"),
    ("医保报销比例太低，门诊不能报销", "卫生计生"),
    ("医生态度恶劣，延误病人治疗", "卫生计生"),
    ("社区卫生服务中心药品短缺", "卫生计生"),
    ("医院挂号难，专家号被倒卖", "卫生计生"),
    ("疫苗接种点排队时间太长", "卫生计生"),
    ("乡镇卫生院医疗设备落后", "卫生计生"),
    ("二胎生育登记手续繁琐", "卫生计生"),
]


@pytest.fixture(scope="session")
def tiny_history() -> list[tuple[str, str]]:
    """``(text, label)`` rows of a tiny synthetic history in three categories."""
    return list(TINY_HISTORY)


@pytest.fixture(scope="session")
def tiny_model_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A model trained on the tiny history, saved once per test session."""
    path = tmp_path_factory.mktemp("model") / "tiny.skops"
    train(TINY_HISTORY).save(path)
    return path
