"""The text classifier: training, prediction, model files, and reloading a changed file."""

import os
from pathlib import Path

import pytest

from routing.classifier import (
    SNIPPET_CHARS,
    WORD_CHARS,
    ClassifierError,
    TextClassifier,
    first_sentence,
    petition_text,
    segmented_words,
    train,
)
from routing.model_watch import ClassifierWatcher

UNSEEN = [
    ("工地晚上施工太吵，居民无法休息", "城乡建设"),
    ("学校暑假违规组织补课并收费", "教育文体"),
    ("医院检查收费太高，医保不报销", "卫生计生"),
]


@pytest.fixture(scope="module")
def model(tiny_model_file: Path) -> TextClassifier:
    return TextClassifier.load(tiny_model_file)


def test_it_predicts_the_category_of_texts_it_has_not_seen(model: TextClassifier) -> None:
    for text, label in UNSEEN:
        predicted, confidence = model.predict(text)
        assert predicted == label, text
        assert 0.0 < confidence <= 1.0


def test_batch_prediction_gives_the_same_answers_in_order(model: TextClassifier) -> None:
    # The last text is longer than the part that is segmented into words.
    long_body = "学校暑假违规组织补课并收费，" * (WORD_CHARS // 10)
    texts = [text for text, _ in UNSEEN] + [long_body]

    batch = model.predict_many(texts)

    assert [label for label, _ in batch] == [label for _, label in UNSEEN] + ["教育文体"]
    for (label, confidence), text in zip(batch, texts, strict=True):
        single_label, single_confidence = model.predict(text)
        assert label == single_label
        assert confidence == pytest.approx(single_confidence, abs=1e-9)
    assert model.predict_many([]) == []


def test_confidences_form_a_distribution_even_for_text_it_has_never_seen(model: TextClassifier) -> None:
    label, confidence = model.predict("ZZZ")

    assert label in model.labels
    assert 1 / len(model.labels) <= confidence < 1.0


def test_words_are_segmented_from_the_start_of_the_text_only() -> None:
    assert segmented_words("工地晚上施工太吵\n居民无法休息").split() == [
        "工地",
        "晚上",
        "施工",
        "太",
        "吵",
        "居民",
        "无法",
        "休息",
    ]
    assert segmented_words("医保" * WORD_CHARS) == segmented_words("医保" * (WORD_CHARS // 2))


def test_petition_text_is_title_then_content() -> None:
    assert petition_text("标题", "正文") == "标题\n正文"
    assert petition_text(None, "正文") == "正文"
    assert petition_text("标题", "") == "标题"


def test_a_long_text_also_trains_as_its_first_sentence_after_the_salutation() -> None:
    body = "尊敬的领导：您好！我小区旁边的工地每天晚上施工到凌晨，噪音太大。居民无法休息，多次投诉无果。"

    assert first_sentence(body) == "我小区旁边的工地每天晚上施工到凌晨，噪音太大"
    # Cut to a title's length.
    assert first_sentence("工地" * SNIPPET_CHARS) == "工地" * (SNIPPET_CHARS // 2)
    # A text as short as a title is one already; a text of salutations alone has no sentence.
    assert first_sentence("工地晚上施工太吵，居民无法休息") is None
    assert first_sentence("您好！" * SNIPPET_CHARS) is None


def test_long_texts_count_as_rows_without_their_snippets(tiny_history: list[tuple[str, str]]) -> None:
    closing = "请有关部门尽快调查处理，谢谢。" * 3
    bodies = [(f"尊敬的领导：您好！{text}。{closing}", label) for text, label in tiny_history]

    model = train(bodies)

    # The snippets weigh in the fit but are not rows of the organisation's history.
    assert model.rows == len(bodies)
    for text, label in UNSEEN:
        assert model.predict(text)[0] == label, text


def test_a_saved_model_loads_with_its_labels_and_gives_the_same_answers(
    model: TextClassifier, tmp_path: Path
) -> None:
    path = tmp_path / "copy.skops"

    model.save(path)
    loaded = TextClassifier.load(path)

    assert loaded.labels == ("卫生计生", "城乡建设", "教育文体")
    assert loaded.rows == 24
    assert loaded.trained_at == model.trained_at
    for text, _ in UNSEEN:
        assert loaded.predict(text) == model.predict(text)
    assert [p.name for p in tmp_path.iterdir()] == ["copy.skops"]


def test_two_labels_are_enough(tiny_history: list[tuple[str, str]]) -> None:
    binary = train([(text, label) for text, label in tiny_history if label != "卫生计生"])

    label, confidence = binary.predict("学校违规补课")

    assert binary.labels == ("城乡建设", "教育文体")
    assert label == "教育文体"
    assert confidence > 0.5
    [(batch_label, batch_confidence)] = binary.predict_many(["学校违规补课"])
    assert (batch_label, batch_confidence) == (label, pytest.approx(confidence, abs=1e-9))


@pytest.mark.parametrize(
    ("rows", "reason"),
    [
        ([], "no training rows"),
        ([("  ", "城乡建设"), ("正文", " ")], "no training rows"),
        ([("甲", "城乡建设"), ("乙", "城乡建设")], "at least two labels"),
        ([("甲", "城乡建设"), ("乙", "城乡建设"), ("丙", "教育文体")], "at least 2 examples"),
    ],
)
def test_training_data_that_cannot_make_a_model_is_refused(rows: list[tuple[str, str]], reason: str) -> None:
    with pytest.raises(ClassifierError, match=reason):
        train(rows)


def test_a_file_that_is_not_a_model_is_refused(tmp_path: Path) -> None:
    junk = tmp_path / "junk.skops"
    junk.write_bytes(b"not a zip file")

    with pytest.raises(ClassifierError, match="not a readable model file"):
        TextClassifier.load(junk)
    with pytest.raises(ClassifierError, match="no such model file"):
        TextClassifier.load(tmp_path / "missing.skops")


def test_a_file_holding_other_types_is_refused_without_loading_them(tmp_path: Path) -> None:
    import skops.io as sio

    other = tmp_path / "other.skops"
    sio.dump({"format": "xinfang-routing-classifier", "pipeline": Path("/etc")}, other)

    with pytest.raises(ClassifierError, match="unexpected types"):
        TextClassifier.load(other)


def test_a_model_of_another_format_version_is_refused(tmp_path: Path) -> None:
    import skops.io as sio

    future = tmp_path / "future.skops"
    sio.dump({"format": "xinfang-routing-classifier", "format_version": 99}, future)

    with pytest.raises(ClassifierError, match="format version 99"):
        TextClassifier.load(future)


def _touch_later(path: Path) -> None:
    """Move the file's mtime forward, as a later write would (file systems may have coarse clocks)."""
    stat = path.stat()
    os.utime(path, ns=(stat.st_atime_ns, stat.st_mtime_ns + 2_000_000_000))


def test_the_watcher_reloads_a_changed_file_and_keeps_the_old_model_when_the_new_one_is_broken(
    tiny_model_file: Path, tiny_history: list[tuple[str, str]], tmp_path: Path
) -> None:
    path = tmp_path / "model.skops"
    path.write_bytes(tiny_model_file.read_bytes())
    watcher = ClassifierWatcher(path)
    watcher.load()
    first = watcher.current
    assert first is not None
    assert watcher.refresh() is False  # unchanged file: nothing to do

    retrained = train([*tiny_history, ("公交车经常不按时到站", "交通运输"), ("出租车拒载乱收费", "交通运输")])
    retrained.save(path)
    _touch_later(path)
    assert watcher.refresh() is True
    assert watcher.current is not first
    assert "交通运输" in watcher.current.labels

    in_force = watcher.current
    path.write_bytes(b"half a file")
    _touch_later(path)
    assert watcher.refresh() is False
    assert watcher.current is in_force
    assert watcher.last_error is not None
    assert "not a readable model file" in watcher.last_error

    path.unlink()
    assert watcher.refresh() is False
    assert watcher.current is in_force


def test_a_watcher_without_a_path_has_no_model() -> None:
    watcher = ClassifierWatcher(None)

    watcher.load()

    assert watcher.current is None
    assert watcher.refresh() is False


def test_a_configured_model_that_cannot_be_read_fails_the_first_load(tmp_path: Path) -> None:
    with pytest.raises(ClassifierError):
        ClassifierWatcher(tmp_path / "missing.skops").load()
