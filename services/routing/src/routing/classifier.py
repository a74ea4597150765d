"""A petition-category text classifier: character n-gram TF-IDF and a calibrated linear SVM.

Pure: no Kafka, no service state. The product ships no trained model; an organisation trains one
from its own history with ``xinfang-routing train`` and names the file in its configuration.

Model files are written with skops, whose loader refuses any type not on an allow-list (a pickle
would run whatever code the file names), so a model file cannot execute code when loaded.
"""

from __future__ import annotations

import math
import os
import tempfile
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
import skops.io as sio
from sklearn.calibration import CalibratedClassifierCV
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.pipeline import Pipeline
from sklearn.svm import LinearSVC

from xinfang_common.cloudevents import utcnow

FORMAT = "xinfang-routing-classifier"
FORMAT_VERSION = 1

# Chosen by bench/classifier.py on the shared complaints data (see bench/README.md): character
# uni- and bigrams beat longer n-grams and word-boundary n-grams; weak regularisation (C=5) beat
# the default; sigmoid calibration on 5 folds gives a confidence without averaging 5 models.
NGRAM_RANGE = (1, 2)
MIN_DF = 2
SVM_C = 5.0
CALIBRATION_FOLDS = 5

# Types inside our own model files that skops does not trust by default; anything else in a file
# is refused on load.
_TRUSTED_TYPES = frozenset(
    {
        "sklearn.calibration._CalibratedClassifier",
        "sklearn.calibration._SigmoidCalibration",
    }
)


class ClassifierError(ValueError):
    """Training data that cannot make a model, or a file that is not a usable model."""


@dataclass(frozen=True)
class Prediction:
    """The most likely category and the model's calibrated probability for it."""

    label: str
    confidence: float


def petition_text(title: str | None, content: str | None) -> str:
    """The text the classifier reads for a petition: title, a newline, content.

    Without a title or a content there is no newline either: a stray edge space would otherwise
    become n-grams of its own.
    """
    return f"{title or ''}\n{content or ''}".strip()


Vector = npt.NDArray[np.float64]


def _sigmoid_parameters(model: CalibratedClassifierCV) -> tuple[Vector, Vector]:
    calibrated = model.calibrated_classifiers_[0]
    a = np.array([c.a_ for c in calibrated.calibrators], dtype=np.float64)
    b = np.array([c.b_ for c in calibrated.calibrators], dtype=np.float64)
    return a, b


class TextClassifier:
    """A trained model: predicts a category and a confidence from a petition's text."""

    def __init__(self, pipeline: Pipeline, *, trained_at: datetime, rows: int) -> None:
        self.pipeline = pipeline
        self.trained_at = trained_at
        self.rows = rows
        vectorizer: TfidfVectorizer = pipeline.steps[0][1]
        model: CalibratedClassifierCV = pipeline.steps[-1][1]
        self.labels: tuple[str, ...] = tuple(str(label) for label in model.classes_)
        # The single-text path below redoes the pipeline's arithmetic with plain numpy: the same
        # numbers, but about ten times faster than sklearn's per-call input validation allows.
        self._analyze = vectorizer.build_analyzer()
        self._vocabulary: dict[str, int] = vectorizer.vocabulary_
        self._idf: Vector = np.asarray(vectorizer.idf_, dtype=np.float64)
        svm = model.calibrated_classifiers_[0].estimator
        # One row per n-gram, so a text's n-grams pick out a small block of rows.
        self._weights: Vector = np.ascontiguousarray(np.asarray(svm.coef_, dtype=np.float64).T)
        self._intercept: Vector = np.asarray(svm.intercept_, dtype=np.float64)
        self._a, self._b = _sigmoid_parameters(model)

    def predict(self, text: str) -> tuple[str, float]:
        """The most likely label for ``text`` and its probability."""
        proba = self._probabilities(text)
        best = int(np.argmax(proba))
        return self.labels[best], float(proba[best])

    def predict_many(self, texts: Sequence[str]) -> list[tuple[str, float]]:
        """``predict`` for many texts at once, in order (faster per text than one by one)."""
        if not texts:
            return []
        proba = self.pipeline.predict_proba(list(texts))
        best = np.argmax(proba, axis=1)
        return [(self.labels[i], float(proba[row, i])) for row, i in enumerate(best)]

    def _probabilities(self, text: str) -> Vector:
        # Count the n-grams first (in C), then look up each distinct one once.
        known = [
            (i, n)
            for gram, n in Counter(self._analyze(text)).items()
            if (i := self._vocabulary.get(gram)) is not None
        ]
        scores = self._intercept.copy()
        if known:
            index = np.fromiter((i for i, _ in known), dtype=np.intp, count=len(known))
            tf = np.fromiter((n for _, n in known), dtype=np.float64, count=len(known))
            weights = (1.0 + np.log(tf)) * self._idf[index]
            norm = math.sqrt(float(weights @ weights))
            scores = scores + (weights / norm) @ self._weights[index]
        # sklearn's sigmoid calibration: p = 1 / (1 + exp(a*f + b)) per class, then normalised.
        calibrated: Vector = 1.0 / (1.0 + np.exp(self._a * scores + self._b))
        if len(self.labels) == 2:
            return np.array([1.0 - calibrated[0], calibrated[0]])
        total = calibrated.sum()
        if total <= 0.0:
            return np.full(len(self.labels), 1.0 / len(self.labels))
        normalised: Vector = calibrated / total
        return normalised

    def save(self, path: Path) -> None:
        """Write the model to ``path`` atomically, so a watching service never reads half a file."""
        path = Path(path)
        payload = {
            "format": FORMAT,
            "format_version": FORMAT_VERSION,
            "labels": list(self.labels),
            "trained_at": self.trained_at.isoformat(),
            "rows": self.rows,
            "pipeline": self.pipeline,
        }
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent or Path("."))
        os.close(fd)
        try:
            sio.dump(payload, tmp)
            os.replace(tmp, path)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise

    @classmethod
    def load(cls, path: Path) -> TextClassifier:
        """Read a model written by ``save``; ClassifierError says what is wrong with a bad file."""
        path = Path(path)
        try:
            untrusted = set(sio.get_untrusted_types(file=path))
            refused = sorted(untrusted - _TRUSTED_TYPES)
            if refused:
                raise ClassifierError(f"{path}: refusing a model file with unexpected types {refused}")
            payload: Any = sio.load(path, trusted=sorted(untrusted))
        except ClassifierError:
            raise
        except FileNotFoundError as exc:
            raise ClassifierError(f"{path}: no such model file") from exc
        except Exception as exc:  # skops raises many kinds on a damaged file; all mean "unusable"
            raise ClassifierError(f"{path}: not a readable model file ({type(exc).__name__}: {exc})") from exc
        if not isinstance(payload, dict) or payload.get("format") != FORMAT:
            raise ClassifierError(f"{path}: not an {FORMAT} file")
        if payload.get("format_version") != FORMAT_VERSION:
            raise ClassifierError(
                f"{path}: model format version {payload.get('format_version')!r}, this service reads "
                f"{FORMAT_VERSION}; retrain it with xinfang-routing train"
            )
        pipeline = payload.get("pipeline")
        if not isinstance(pipeline, Pipeline):
            raise ClassifierError(f"{path}: the file holds no model pipeline")
        try:
            classifier = cls(
                pipeline,
                trained_at=datetime.fromisoformat(str(payload["trained_at"])),
                rows=int(payload["rows"]),
            )
        except (KeyError, ValueError, TypeError, AttributeError, IndexError) as exc:
            raise ClassifierError(f"{path}: incomplete model file ({exc})") from exc
        if list(classifier.labels) != list(payload.get("labels", [])):
            raise ClassifierError(f"{path}: the label set in the header does not match the model")
        return classifier


def train(rows: Iterable[tuple[str, str]]) -> TextClassifier:
    """Fit a classifier on ``(text, label)`` rows; ClassifierError if they cannot make one."""
    texts: list[str] = []
    labels: list[str] = []
    for text, label in rows:
        label = label.strip()
        if text.strip() and label:
            texts.append(text)
            labels.append(label)
    if not texts:
        raise ClassifierError("no training rows with both a text and a label")
    per_label = Counter(labels)
    if len(per_label) < 2:
        raise ClassifierError(f"at least two labels are needed to train, found {sorted(per_label)}")
    fewest = min(per_label.values())
    if fewest < 2:
        rare = sorted(label for label, n in per_label.items() if n < 2)
        raise ClassifierError(f"every label needs at least 2 examples; these have one: {rare}")
    pipeline = Pipeline(
        [
            (
                "tfidf",
                TfidfVectorizer(
                    analyzer="char",
                    ngram_range=NGRAM_RANGE,
                    sublinear_tf=True,
                    # A small history has few repeated n-grams; dropping singletons would leave
                    # too little to learn from.
                    min_df=MIN_DF if len(texts) >= 200 else 1,
                ),
            ),
            (
                "svm",
                CalibratedClassifierCV(
                    LinearSVC(C=SVM_C),
                    method="sigmoid",
                    cv=min(CALIBRATION_FOLDS, fewest),
                    ensemble=False,
                ),
            ),
        ]
    )
    pipeline.fit(texts, labels)
    return TextClassifier(pipeline, trained_at=utcnow(), rows=len(texts))
