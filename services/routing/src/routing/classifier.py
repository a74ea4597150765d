"""A petition-category text classifier: character and word n-gram TF-IDF, a calibrated linear model.

Pure: no Kafka, no service state. The product ships no trained model; an organisation trains one
from its own history with ``xinfang-routing train`` and names the file in its configuration.

Model files are written with skops, whose loader refuses any type not on an allow-list (a pickle
would run whatever code the file names), so a model file cannot execute code when loaded.
"""

from __future__ import annotations

import math
import os
import re
import tempfile
import threading
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from itertools import repeat
from pathlib import Path
from typing import Any

import jieba  # type: ignore[import-untyped]
import numpy as np
import numpy.typing as npt
import skops.io as sio
from sklearn.calibration import CalibratedClassifierCV
from sklearn.compose import ColumnTransformer
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.linear_model import RidgeClassifier
from sklearn.pipeline import Pipeline

from xinfang_common.cloudevents import utcnow

FORMAT = "xinfang-routing-classifier"
# 2: character n-grams of the text plus word n-grams of its segmented start, least-squares model.
FORMAT_VERSION = 2

# Chosen by cross-validation on the training part of the shared complaints data (bench/README.md):
# character uni- and bigrams beat longer n-grams; jieba words and word bigrams, at half the
# weight of the characters, add about half a point; a least-squares (ridge) classifier beat the
# linear SVM, logistic regression, SGD and NB-SVM on the same features. Sigmoid calibration on 5
# folds gives a confidence without averaging 5 models.
NGRAM_RANGE = (1, 2)
WORD_NGRAM_RANGE = (1, 2)
WORD_WEIGHT = 0.5
MIN_DF = 2
RIDGE_ALPHA = 0.2
CALIBRATION_FOLDS = 5
# Words come from the first characters only: segmenting a long body costs milliseconds, and
# cross-validation scored the first 100 characters the same as the whole text.
WORD_CHARS = 100
# Short texts (a title alone) are the hard part. Every longer training text also trains the model
# as a short one: its first sentence, at a lower weight. Cross-validation: +0.3 points overall,
# most of it on titles (bench/README.md).
SNIPPET_CHARS = 40
SNIPPET_MIN_CHARS = 6
SNIPPET_WEIGHT = 0.5

# The columns of the model's input: the text as written, and its segmented start.
_TEXT, _WORDS = 0, 1

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


# One segmenter per process: its dictionary (about a second to load) is shared by every model.
_segmenter = jieba.Tokenizer()
_segmenter_lock = threading.Lock()


def load_segmenter() -> None:
    """Load the word segmenter's dictionary now (once per process), so no petition waits for it."""
    with _segmenter_lock:
        if _segmenter.initialized:
            return
        # Built from the dictionary inside the jieba package rather than by jieba's initialize(),
        # which loads a marshal cache from the shared temp folder (a file anyone on the host could
        # plant) and writes one there.
        _segmenter.FREQ, _segmenter.total = _segmenter.gen_pfdict(_segmenter.get_dict_file())
        _segmenter.initialized = True


def segmented_words(text: str) -> str:
    """The words of the start of ``text``, separated by single spaces (the word vectorizer's input).

    HMM guessing of unknown words is off: it is slower and did not score better.
    """
    if not _segmenter.initialized:
        load_segmenter()
    return " ".join(word for word in _segmenter.lcut(text[:WORD_CHARS], HMM=False) if not word.isspace())


def model_input(texts: Sequence[str]) -> npt.NDArray[np.object_]:
    """The two-column input the model pipeline reads: each text and its segmented words."""
    rows = np.empty((len(texts), 2), dtype=object)
    for row, text in enumerate(texts):
        rows[row, _TEXT] = text
        rows[row, _WORDS] = segmented_words(text)
    return rows


_SENTENCE_END = re.compile(r"[。！？!?\n；;]+")
_CLAUSE = re.compile(r"^[^。！？!?\n；;，,：:]{0,14}[：:，,！!。]\s*")
_SALUTATION = re.compile(r"尊敬|您好|你好|领导|书记|市长|局长|厅长|县长|区长|主任|同志|各位")
_SENTENCE_EDGES = " ，,：:\u3000"


def first_sentence(text: str) -> str | None:
    """The first sentence of ``text`` after any salutation (尊敬的领导：您好！), cut to SNIPPET_CHARS.

    None when the text is no longer than that (it is short already) or has no sentence of
    SNIPPET_MIN_CHARS characters.
    """
    if len(text) <= SNIPPET_CHARS:
        return None
    rest = text
    for _ in range(3):
        clause = _CLAUSE.match(rest)
        if clause is None or not _SALUTATION.search(clause.group(0)):
            break
        rest = rest[clause.end() :]
    for sentence in _SENTENCE_END.split(rest):
        sentence = sentence.strip(_SENTENCE_EDGES)
        if len(sentence) >= SNIPPET_MIN_CHARS:
            return sentence[:SNIPPET_CHARS]
    return None


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


@dataclass(frozen=True)
class _Block:
    """One TF-IDF vectorizer's share of the features, for the single-text path."""

    analyze: Any
    vocabulary: dict[str, int]
    idf: Vector
    weight: float
    column: int
    offset: int


def _blocks(features: ColumnTransformer) -> list[_Block]:
    weights = features.transformer_weights or {}
    blocks: list[_Block] = []
    offset = 0
    for name, vectorizer, column in features.transformers_:
        if isinstance(vectorizer, str) and vectorizer == "drop":
            continue
        if not isinstance(vectorizer, TfidfVectorizer) or column not in (_TEXT, _WORDS):
            raise ClassifierError(f"unexpected feature step {name!r}")
        idf = np.asarray(vectorizer.idf_, dtype=np.float64)
        blocks.append(
            _Block(
                vectorizer.build_analyzer(),
                vectorizer.vocabulary_,
                idf,
                float(weights.get(name, 1.0)),
                int(column),
                offset,
            )
        )
        offset += len(idf)
    return blocks


class TextClassifier:
    """A trained model: predicts a category and a confidence from a petition's text."""

    def __init__(self, pipeline: Pipeline, *, trained_at: datetime, rows: int) -> None:
        self.pipeline = pipeline
        self.trained_at = trained_at
        self.rows = rows
        features: ColumnTransformer = pipeline.steps[0][1]
        model: CalibratedClassifierCV = pipeline.steps[-1][1]
        self.labels: tuple[str, ...] = tuple(str(label) for label in model.classes_)
        load_segmenter()
        # The single-text path below redoes the pipeline's arithmetic with plain numpy: the same
        # numbers, but about ten times faster than sklearn's per-call input validation allows.
        self._blocks = _blocks(features)
        linear = model.calibrated_classifiers_[0].estimator
        # One row per n-gram, so a text's n-grams pick out a small block of rows.
        self._weights: Vector = np.ascontiguousarray(np.asarray(linear.coef_, dtype=np.float64).T)
        self._intercept: Vector = np.asarray(linear.intercept_, dtype=np.float64)
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
        proba = self.pipeline.predict_proba(model_input(texts))
        best = np.argmax(proba, axis=1)
        return [(self.labels[i], float(proba[row, i])) for row, i in enumerate(best)]

    def _probabilities(self, text: str) -> Vector:
        columns = {_TEXT: text}
        scores = self._intercept.copy()
        for block in self._blocks:
            if block.column not in columns:
                columns[block.column] = segmented_words(text)
            # Look every n-gram up and count the known ones without a Python-level loop: map and
            # fromiter run in C, np.unique counts.
            grams = block.analyze(columns[block.column])
            ids = np.fromiter(
                map(block.vocabulary.get, grams, repeat(-1, len(grams))), dtype=np.intp, count=len(grams)
            )
            index, tf = np.unique(ids[ids >= 0], return_counts=True)
            if not len(index):
                continue
            weights = (1.0 + np.log(tf)) * block.idf[index]
            scale = block.weight / math.sqrt(float(weights @ weights))
            scores = scores + (weights * scale) @ self._weights[index + block.offset]
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
        if not isinstance(pipeline, Pipeline) or not isinstance(pipeline.steps[0][1], ColumnTransformer):
            raise ClassifierError(f"{path}: the file holds no model pipeline")
        try:
            classifier = cls(
                pipeline,
                trained_at=datetime.fromisoformat(str(payload["trained_at"])),
                rows=int(payload["rows"]),
            )
        except ClassifierError as exc:
            raise ClassifierError(f"{path}: {exc}") from exc
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
    # A small history has few repeated n-grams; dropping singletons would leave too little.
    min_df = MIN_DF if len(texts) >= 200 else 1
    features = ColumnTransformer(
        [
            (
                "chars",
                TfidfVectorizer(analyzer="char", ngram_range=NGRAM_RANGE, sublinear_tf=True, min_df=min_df),
                _TEXT,
            ),
            (
                "words",
                # Words arrive segmented and space-separated; single-character words count too.
                TfidfVectorizer(
                    token_pattern=r"\S+", ngram_range=WORD_NGRAM_RANGE, sublinear_tf=True, min_df=min_df
                ),
                _WORDS,
            ),
        ],
        transformer_weights={"words": WORD_WEIGHT},
    )
    model = CalibratedClassifierCV(
        RidgeClassifier(alpha=RIDGE_ALPHA, solver="sparse_cg"),
        method="sigmoid",
        cv=min(CALIBRATION_FOLDS, fewest),
        ensemble=False,
    )
    pipeline = Pipeline([("features", features), ("model", model)])
    pairs = zip(texts, labels, strict=True)
    snippets = [(snippet, label) for text, label in pairs if (snippet := first_sentence(text))]
    weights = np.r_[np.ones(len(texts)), np.full(len(snippets), SNIPPET_WEIGHT)]
    pipeline.fit(
        model_input(texts + [snippet for snippet, _ in snippets]),
        labels + [label for _, label in snippets],
        model__sample_weight=weights,
    )
    return TextClassifier(pipeline, trained_at=utcnow(), rows=len(texts))
