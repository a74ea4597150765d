"""``xinfang-routing``: train a text classifier from a CSV file, or classify JSON lines with one."""

from __future__ import annotations

import argparse
import csv
import io
import json
import sys
from collections import Counter
from pathlib import Path
from typing import Any, TextIO

from routing.classifier import ClassifierError, TextClassifier, train

TEXT_COLUMN = "text"
LABEL_COLUMN = "label"


class InputError(ValueError):
    """A training file that cannot be used, with the reason for the person running the command."""


def read_training_csv(path: Path) -> list[tuple[str, str]]:
    """``(text, label)`` rows of a CSV file with a header naming ``text`` and ``label`` columns."""
    try:
        handle = open(path, encoding="utf-8-sig", newline="")  # noqa: SIM115 - closed below
    except OSError as exc:
        raise InputError(f"{path}: cannot open ({exc.strerror})") from exc
    with handle:
        try:
            reader = csv.DictReader(handle)
            header = reader.fieldnames
            if not header:
                raise InputError(f"{path}: the file is empty; expected a header line 'text,label' and rows")
            missing = [c for c in (TEXT_COLUMN, LABEL_COLUMN) if c not in header]
            if missing:
                raise InputError(
                    f"{path}: missing column(s) {', '.join(missing)}; the header has {', '.join(header)}"
                )
            rows = [(row[TEXT_COLUMN] or "", row[LABEL_COLUMN] or "") for row in reader]
        except (csv.Error, UnicodeDecodeError) as exc:
            raise InputError(f"{path}: not a readable UTF-8 CSV file ({exc})") from exc
    if not rows:
        raise InputError(f"{path}: the file has a header but no rows")
    return rows


def _train(args: argparse.Namespace, out: TextIO) -> None:
    rows = read_training_csv(args.input)
    usable = [(text, label.strip()) for text, label in rows if text.strip() and label.strip()]
    skipped = len(rows) - len(usable)
    classifier = train(usable)
    try:
        classifier.save(args.output)
    except OSError as exc:
        raise InputError(f"{args.output}: cannot write the model ({exc.strerror or exc})") from exc
    per_label = Counter(label for _, label in usable)
    note = f" ({skipped} without text or label skipped)" if skipped else ""
    print(f"read {len(rows)} rows from {args.input}{note}", file=out)
    print(f"trained on {classifier.rows} rows, {len(classifier.labels)} labels:", file=out)
    for label in classifier.labels:
        print(f"  {label}\t{per_label[label]}", file=out)
    print(f"wrote {args.output}", file=out)


def classify_line(classifier: TextClassifier, line: str) -> dict[str, Any]:
    """The answer for one input line: label and confidence, or an error saying what is wrong."""
    try:
        item = json.loads(line)
    except json.JSONDecodeError as exc:
        return {"error": f"not JSON: {exc.msg} at column {exc.colno}"}
    if not isinstance(item, dict):
        return {"error": 'expected a JSON object such as {"text": "..."}'}
    text = item.get("text")
    if not isinstance(text, str):
        return {"error": 'the object needs a "text" string'}
    label, confidence = classifier.predict(text)
    answer: dict[str, Any] = {"label": label, "confidence": round(confidence, 4)}
    if "id" in item:
        answer = {"id": item["id"], **answer}
    return answer


def _classify(args: argparse.Namespace, stdin: TextIO, out: TextIO) -> None:
    classifier = TextClassifier.load(args.model)
    for line in stdin:
        answer = classify_line(classifier, line)
        out.write(json.dumps(answer, ensure_ascii=False) + "\n")
        # Flushed per line so that a caller can feed one line and wait for its answer.
        out.flush()


def _utf8(stream: TextIO) -> TextIO:
    """Petitions are Chinese: read and write UTF-8 whatever the terminal's locale says."""
    if isinstance(stream, io.TextIOWrapper):
        stream.reconfigure(encoding="utf-8")
    return stream


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="xinfang-routing", description="Train or apply the routing service's text classifier."
    )
    commands = parser.add_subparsers(dest="command", required=True)
    train_cmd = commands.add_parser("train", help="train a model from a CSV file with columns text,label")
    train_cmd.add_argument("--input", required=True, type=Path, help="UTF-8 CSV, columns text,label")
    train_cmd.add_argument("--output", required=True, type=Path, help="model file to write")
    classify_cmd = commands.add_parser(
        "classify",
        help='read JSON lines {"text": ...} on stdin, write {"label": ..., "confidence": ...} lines',
    )
    classify_cmd.add_argument("--model", required=True, type=Path, help="model file from `train`")
    return parser


def main(argv: list[str] | None = None, *, stdin: TextIO | None = None, stdout: TextIO | None = None) -> int:
    """Run the command line; 0 on success, 1 when the input or model is unusable, 2 on bad usage."""
    args = _parser().parse_args(argv)
    if stdin is None:
        stdin = _utf8(sys.stdin)
    if stdout is None:
        stdout = _utf8(sys.stdout)
    try:
        if args.command == "train":
            _train(args, stdout)
        else:
            _classify(args, stdin, stdout)
    except (InputError, ClassifierError) as exc:
        print(f"xinfang-routing {args.command}: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
