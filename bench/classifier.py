"""Accuracy and speed of routing's text classifier on the shared complaints data.

Trains with the product's own code (``routing.classifier.train``) on a stratified part of
``../shared/data/complaints`` and tests on the rest: accuracy, macro-F1, per-class F1, training
time, and prediction time per petition (one at a time: median and p95; and in batches).

    .venv/bin/python bench/classifier.py [--data DIR] [--test-size 0.2] [--seed 42] [--cv] [--compare]

``--cv`` scores the candidate configurations by 3 x 5-fold cross-validation on the training part
only (how the product's configuration was chosen); ``--compare`` scores them on the test part. The data's
redistribution terms are unknown: nothing read or trained here is written to the repository.
"""

from __future__ import annotations

import argparse
import csv
import os
import platform
import statistics
import sys
import time
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
from sklearn.compose import ColumnTransformer
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.linear_model import RidgeClassifier, SGDClassifier
from sklearn.metrics import accuracy_score, f1_score
from sklearn.model_selection import StratifiedKFold, train_test_split
from sklearn.pipeline import Pipeline
from sklearn.svm import LinearSVC

from routing.classifier import load_segmenter, model_input, petition_text, train

REPO = Path(__file__).resolve().parents[1]
DEFAULT_DATA = Path(os.environ.get("XINFANG_COMPLAINTS_DATA", REPO.parent / "shared" / "data" / "complaints"))


def load_complaints(folder: Path) -> tuple[list[str], list[str], list[str]]:
    """Texts, labels and kinds (title or body) of both files, exact duplicate texts dropped.

    The two files are separate samples, not aligned rows, so each row is one petition with only a
    title or only a body; it is read as the service reads a petition (title, newline, content).
    """
    texts: list[str] = []
    labels: list[str] = []
    kinds: list[str] = []
    seen: set[str] = set()
    csv.field_size_limit(1 << 24)
    for name, column in (("train_titles.csv", "title"), ("train_bodies.csv", "body")):
        with (folder / name).open(encoding="utf-8-sig", newline="") as handle:
            for row in csv.DictReader(handle):
                raw, label = (row[column] or "").strip(), (row["label"] or "").strip()
                # The same text in train and test would measure memory, not generalisation.
                if not raw or not label or raw in seen:
                    continue
                seen.add(raw)
                texts.append(petition_text(raw, "") if column == "title" else petition_text("", raw))
                labels.append(label)
                kinds.append(column)
    return texts, labels, kinds


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def bench_product(
    x_train: list[str], x_test: list[str], y_train: list[str], y_test: list[str], k_test: list[str]
) -> None:
    started = time.perf_counter()
    model = train(zip(x_train, y_train, strict=True))
    train_seconds = time.perf_counter() - started

    started = time.perf_counter()
    batch = model.predict_many(x_test)
    batch_seconds = time.perf_counter() - started
    predicted = [label for label, _ in batch]

    single_ms: list[float] = []
    for text in x_test:
        t0 = time.perf_counter()
        model.predict(text)
        single_ms.append((time.perf_counter() - t0) * 1000)

    labels = sorted(set(y_test))
    per_class = f1_score(y_test, predicted, labels=labels, average=None)
    support = Counter(y_test)
    print(f"train rows {len(x_train)}, test rows {len(x_test)}, labels {len(labels)}")
    print(f"accuracy       {accuracy_score(y_test, predicted):.4f}")
    print(f"macro-F1       {f1_score(y_test, predicted, average='macro'):.4f}")
    for kind, plural in (("title", "titles"), ("body", "bodies")):
        pairs = [(t, p) for t, p, k in zip(y_test, predicted, k_test, strict=True) if k == kind]
        hits = sum(t == p for t, p in pairs)
        print(f"accuracy on {plural:7s}{hits / len(pairs):.4f}  ({len(pairs)} rows)")
    print("per-class F1:")
    for label, score in zip(labels, per_class, strict=True):
        print(f"  {label}\t{score:.4f}\t(support {support[label]})")
    confident = [c for _, c in batch]
    for threshold in (0.5, 0.6, 0.7, 0.8):
        kept = [(t, p) for t, p, c in zip(y_test, predicted, confident, strict=True) if c >= threshold]
        hits = sum(t == p for t, p in kept)
        print(
            f"confidence >= {threshold:.1f}: {len(kept) / len(y_test):.1%} of petitions, "
            f"accuracy {hits / max(1, len(kept)):.4f}"
        )
    print(f"train time     {train_seconds:.1f} s")
    print(
        f"predict one    mean {statistics.fmean(single_ms):.3f} ms, "
        f"median {statistics.median(single_ms):.3f} ms, "
        f"p95 {percentile(single_ms, 0.95):.3f} ms, max {max(single_ms):.3f} ms"
    )
    print(
        f"predict batch  {len(x_test) / batch_seconds:,.0f} petitions/s "
        f"({batch_seconds * 1000 / len(x_test):.3f} ms each)"
    )


def alternatives() -> dict[str, Callable[[], Any]]:
    """Candidate configurations, each a fresh pipeline reading ``model_input`` (text, words).

    The product's is "chars + words/2, ridge" (uncalibrated here: calibration does not change
    which label wins, it only adds time).
    """

    def chars(ngrams: tuple[int, int] = (1, 2)) -> tuple[str, TfidfVectorizer, int]:
        return ("chars", TfidfVectorizer(analyzer="char", ngram_range=ngrams, sublinear_tf=True, min_df=2), 0)

    def words(ngrams: tuple[int, int]) -> tuple[str, TfidfVectorizer, int]:
        return (
            "words",
            TfidfVectorizer(token_pattern=r"\S+", ngram_range=ngrams, sublinear_tf=True, min_df=2),
            1,
        )

    def features(*blocks: tuple[str, TfidfVectorizer, int], word_weight: float = 1.0) -> ColumnTransformer:
        return ColumnTransformer(list(blocks), transformer_weights={"words": word_weight})

    def ridge(alpha: float) -> RidgeClassifier:
        return RidgeClassifier(alpha=alpha, solver="sparse_cg")

    return {
        "chars, LinearSVC C=1": lambda: Pipeline([("f", features(chars())), ("m", LinearSVC(C=1.0))]),
        "chars, LinearSVC C=5 (previous product)": lambda: Pipeline(
            [("f", features(chars())), ("m", LinearSVC(C=5.0))]
        ),
        "chars, SGD modified_huber": lambda: Pipeline(
            [
                ("f", features(chars())),
                ("m", SGDClassifier(loss="modified_huber", alpha=2e-5, random_state=0)),
            ]
        ),
        "chars + words, LinearSVC C=5": lambda: Pipeline(
            [("f", features(chars(), words((1, 2)))), ("m", LinearSVC(C=5.0))]
        ),
        "chars + words/2, LinearSVC C=3": lambda: Pipeline(
            [("f", features(chars(), words((1, 2)), word_weight=0.5)), ("m", LinearSVC(C=3.0))]
        ),
        "chars, ridge alpha=0.2": lambda: Pipeline([("f", features(chars())), ("m", ridge(0.2))]),
        "chars + words/2, ridge alpha=0.1": lambda: Pipeline(
            [("f", features(chars(), words((1, 2)), word_weight=0.5)), ("m", ridge(0.1))]
        ),
        "chars + words/2, ridge alpha=0.2 (product)": lambda: Pipeline(
            [("f", features(chars(), words((1, 2)), word_weight=0.5)), ("m", ridge(0.2))]
        ),
        "chars + words/2, ridge alpha=0.5": lambda: Pipeline(
            [("f", features(chars(), words((1, 2)), word_weight=0.5)), ("m", ridge(0.5))]
        ),
        "chars + words, ridge alpha=0.2": lambda: Pipeline(
            [("f", features(chars(), words((1, 2)))), ("m", ridge(0.2))]
        ),
    }


def bench_alternatives(x_train: list[str], x_test: list[str], y_train: list[str], y_test: list[str]) -> None:
    print("\nalternatives on the test part (accuracy, macro-F1, train time):")
    train_input, test_input = model_input(x_train), model_input(x_test)
    for name, build in alternatives().items():
        pipeline = build()
        started = time.perf_counter()
        pipeline.fit(train_input, y_train)
        seconds = time.perf_counter() - started
        predicted = pipeline.predict(test_input)
        print(
            f"  {name:45s} {accuracy_score(y_test, predicted):.4f}  "
            f"{f1_score(y_test, predicted, average='macro'):.4f}  {seconds:.1f} s",
            flush=True,
        )


def cross_validate(x_train: list[str], y_train: list[str], repeats: int = 3, folds: int = 5) -> None:
    """Mean accuracy and macro-F1 over repeated stratified folds of the training part alone."""
    print(f"\ncross-validation on the training part only ({repeats} x {folds} folds; accuracy, macro-F1,")
    print("and the mean paired accuracy difference from the previous product with its standard error):")
    inputs, labels = model_input(x_train), np.asarray(y_train)
    splits = [
        split
        for repeat in range(repeats)
        for split in StratifiedKFold(folds, shuffle=True, random_state=repeat).split(inputs, labels)
    ]
    scores: dict[str, list[tuple[float, float]]] = {}
    for name, build in alternatives().items():
        scores[name] = []
        for fit, held in splits:
            predicted = build().fit(inputs[fit], labels[fit]).predict(inputs[held])
            scores[name].append(
                (accuracy_score(labels[held], predicted), f1_score(labels[held], predicted, average="macro"))
            )
    reference = np.array([a for a, _ in scores["chars, LinearSVC C=5 (previous product)"]])
    for name, pairs in scores.items():
        accuracy = np.array([a for a, _ in pairs])
        diff = accuracy - reference
        print(
            f"  {name:45s} {accuracy.mean():.4f}  {np.mean([f for _, f in pairs]):.4f}  "
            f"{diff.mean():+.4f} ± {diff.std(ddof=1) / np.sqrt(len(diff)):.4f}",
            flush=True,
        )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--data", type=Path, default=DEFAULT_DATA, help=f"complaints folder (default {DEFAULT_DATA})"
    )
    parser.add_argument("--test-size", type=float, default=0.2, help="share of rows held out for testing")
    parser.add_argument("--seed", type=int, default=42, help="seed of the stratified split")
    parser.add_argument(
        "--cv", action="store_true", help="cross-validate the candidates on the training part"
    )
    parser.add_argument("--compare", action="store_true", help="also score the candidates on the test part")
    args = parser.parse_args(argv)
    if not (args.data / "train_titles.csv").exists():
        print(f"no complaints data in {args.data} (use --data)", file=sys.stderr)
        return 1

    texts, labels, kinds = load_complaints(args.data)
    x_train, x_test, y_train, y_test, _, k_test = train_test_split(
        texts, labels, kinds, test_size=args.test_size, stratify=labels, random_state=args.seed
    )
    print(
        f"data {args.data}: {len(texts)} distinct texts; "
        f"split {1 - args.test_size:.0%}/{args.test_size:.0%}, seed {args.seed}"
    )
    print(f"python {platform.python_version()}, {platform.machine()}, {len(os.sched_getaffinity(0))} cores")
    # The word segmenter's dictionary loads with a model, not with the first petition.
    load_segmenter()
    bench_product(x_train, x_test, y_train, y_test, k_test)
    if args.cv:
        cross_validate(x_train, y_train)
    if args.compare:
        bench_alternatives(x_train, x_test, y_train, y_test)
    return 0


if __name__ == "__main__":
    sys.exit(main())
