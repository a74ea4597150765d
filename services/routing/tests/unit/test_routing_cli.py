"""The ``xinfang-routing`` command line: train from CSV, classify JSON lines."""

import csv
import io
import json
import subprocess
import sys
from pathlib import Path

import pytest

from routing.classifier import TextClassifier
from routing.cli import main


def write_csv(path: Path, header: list[str], rows: list[tuple[str, str]]) -> Path:
    with path.open("w", encoding="utf-8", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(header)
        writer.writerows(rows)
    return path


def test_train_writes_a_model_and_reports_rows_and_labels(
    tiny_history: list[tuple[str, str]], tmp_path: Path
) -> None:
    source = write_csv(tmp_path / "history.csv", ["text", "label"], [*tiny_history, ("", "城乡建设")])
    model = tmp_path / "model.skops"
    out = io.StringIO()

    code = main(["train", "--input", str(source), "--output", str(model)], stdout=out)

    assert code == 0
    report = out.getvalue()
    assert "read 25 rows" in report
    assert "1 without text or label skipped" in report
    assert "trained on 24 rows, 3 labels" in report
    assert "城乡建设\t8" in report
    assert TextClassifier.load(model).labels == ("卫生计生", "城乡建设", "教育文体")


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("", "the file is empty"),
        ("text,label\n", "header but no rows"),
        ("title,label\n工地噪音,城乡建设\n", "missing column(s) text; the header has title, label"),
        ("text\n工地噪音\n", "missing column(s) label"),
    ],
)
def test_train_explains_an_unusable_file(
    content: str, message: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    source = tmp_path / "bad.csv"
    source.write_text(content, encoding="utf-8")

    code = main(
        ["train", "--input", str(source), "--output", str(tmp_path / "m.skops")], stdout=io.StringIO()
    )

    assert code == 1
    assert message in capsys.readouterr().err
    assert not (tmp_path / "m.skops").exists()


def test_train_explains_a_missing_file_and_data_too_thin_to_learn(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["train", "--input", str(tmp_path / "nope.csv"), "--output", str(tmp_path / "m")]) == 1
    assert "cannot open" in capsys.readouterr().err

    one_label = write_csv(tmp_path / "one.csv", ["text", "label"], [("甲", "城乡建设"), ("乙", "城乡建设")])
    assert main(["train", "--input", str(one_label), "--output", str(tmp_path / "m")]) == 1
    assert "at least two labels" in capsys.readouterr().err


def test_classify_answers_every_line_in_order_with_an_error_for_each_bad_one(tiny_model_file: Path) -> None:
    lines = [
        json.dumps({"text": "工地晚上施工太吵"}, ensure_ascii=False),
        "{not json",
        json.dumps({"text": "学校违规补课收费", "id": 7}, ensure_ascii=False),
        json.dumps(["text"]),
        json.dumps({"title": "no text field"}),
        "",
        json.dumps({"text": "医院乱收费"}, ensure_ascii=False),
    ]
    out = io.StringIO()

    code = main(
        ["classify", "--model", str(tiny_model_file)], stdin=io.StringIO("\n".join(lines) + "\n"), stdout=out
    )

    assert code == 0
    answers = [json.loads(line) for line in out.getvalue().splitlines()]
    assert len(answers) == len(lines)
    assert answers[0]["label"] == "城乡建设"
    assert 0 < answers[0]["confidence"] <= 1
    assert "not JSON" in answers[1]["error"]
    assert answers[2]["id"] == 7
    assert answers[2]["label"] == "教育文体"
    assert "JSON object" in answers[3]["error"]
    assert '"text" string' in answers[4]["error"]
    assert "not JSON" in answers[5]["error"]
    assert answers[6]["label"] == "卫生计生"


def test_classify_with_a_bad_model_file_fails_with_a_message(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code = main(["classify", "--model", str(tmp_path / "missing.skops")], stdin=io.StringIO(""))

    assert code == 1
    assert "no such model file" in capsys.readouterr().err


def test_the_installed_command_trains_and_classifies(
    tiny_history: list[tuple[str, str]], tmp_path: Path
) -> None:
    command = Path(sys.executable).with_name("xinfang-routing")
    source = write_csv(tmp_path / "history.csv", ["text", "label"], tiny_history)
    model = tmp_path / "model.skops"

    trained = subprocess.run(
        [command, "train", "--input", source, "--output", model], capture_output=True, text=True, check=False
    )
    classified = subprocess.run(
        [command, "classify", "--model", model],
        input='{"text": "幼儿园学位不足"}\n{"text": 5}\n',
        capture_output=True,
        text=True,
        encoding="utf-8",
        check=False,
    )

    assert trained.returncode == 0, trained.stderr
    assert "trained on 24 rows, 3 labels" in trained.stdout
    assert classified.returncode == 0, classified.stderr
    first, second = (json.loads(line) for line in classified.stdout.splitlines())
    assert first["label"] == "教育文体"
    assert "error" in second
