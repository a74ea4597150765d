"""The classifier on real petitions: the shared complaints data, split into train and test parts.

Reads ``../shared/data/complaints`` beside the repository (CI always has it there), or the
folder named by ``XINFANG_COMPLAINTS_DATA``. The floor is conservative: bench/classifier.py
measures the real figure on the full data.
"""

import csv
import os
import random
from collections import defaultdict
from pathlib import Path

from sklearn.metrics import accuracy_score, f1_score

from routing.classifier import petition_text, train

DATA = Path(
    os.environ.get(
        "XINFANG_COMPLAINTS_DATA",
        Path(__file__).resolve().parents[4].parent / "shared" / "data" / "complaints",
    )
)
PER_LABEL = 500  # a subsample keeps the test well under 30 s on two cores


def labelled_rows() -> list[tuple[str, str]]:
    rows: list[tuple[str, str]] = []
    for name, column in (("train_titles.csv", "title"), ("train_bodies.csv", "body")):
        with (DATA / name).open(encoding="utf-8-sig", newline="") as handle:
            for row in csv.DictReader(handle):
                text = row[column].strip()
                rows.append(
                    (petition_text(text, "") if column == "title" else petition_text("", text), row["label"])
                )
    return rows


def test_accuracy_on_unseen_real_petitions_is_above_a_conservative_floor() -> None:
    by_label: dict[str, list[str]] = defaultdict(list)
    for text, label in dict(labelled_rows()).items():  # one label per distinct text
        by_label[label].append(text)
    shuffle = random.Random(7)
    train_rows: list[tuple[str, str]] = []
    test_rows: list[tuple[str, str]] = []
    for label, texts in sorted(by_label.items()):
        shuffle.shuffle(texts)
        sample = texts[:PER_LABEL]
        cut = len(sample) * 4 // 5
        train_rows += [(t, label) for t in sample[:cut]]
        test_rows += [(t, label) for t in sample[cut:]]

    model = train(train_rows)
    predicted = [label for label, _ in model.predict_many([t for t, _ in test_rows])]
    expected = [label for _, label in test_rows]

    assert len(model.labels) == 7
    assert accuracy_score(expected, predicted) >= 0.80
    assert f1_score(expected, predicted, average="macro") >= 0.80
