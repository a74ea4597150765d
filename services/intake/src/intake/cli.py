"""``xinfang-intake``: command-line tools of the intake service.

``xinfang-intake import FILE`` uploads a legacy file to POST /v1/imports, follows the job with a
progress bar and prints a summary with the first errors. Exit code 0: every row imported (or
already there); 1: some rows failed; 2: the job or the upload failed.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, TextIO

import httpx
from tqdm import tqdm

from intake.imports.schemas import MEDIA_TYPES, ImportFormat

EXIT_OK = 0
EXIT_ROWS_FAILED = 1
EXIT_JOB_FAILED = 2

ERRORS_PRINTED = 20

_EXTENSIONS = {".jsonl": "jsonl", ".ndjson": "jsonl", ".csv": "csv", ".xlsx": "xlsx"}


class UsageError(Exception):
    """The command line cannot be carried out as given."""


def format_of(path: Path, given: str | None) -> ImportFormat:
    """The file's format: as given, else from its extension."""
    name = given or _EXTENSIONS.get(path.suffix.lower())
    if name is None:
        raise UsageError(f"cannot tell the format of {path.name}: give --format jsonl, csv or xlsx")
    return ImportFormat(name)


def _describe(response: httpx.Response) -> str:
    try:
        body = response.json()
    except ValueError:
        return f"HTTP {response.status_code}: {response.text[:500]}"
    if isinstance(body, dict) and "detail" in body:
        return f"HTTP {response.status_code}: {body['detail']}"
    return f"HTTP {response.status_code}: {body}"


def run_import(
    client: httpx.Client,
    path: Path,
    *,
    fmt: ImportFormat,
    unit: str | None = None,
    poll_seconds: float = 0.5,
    out: TextIO | None = None,
    progress: bool = True,
    sleep: Callable[[float], None] = time.sleep,
) -> int:
    """Upload ``path``, follow the job to its end, print the outcome (to stdout); the exit code."""
    out = out or sys.stdout
    params: dict[str, str] = {"format": fmt.value, "filename": path.name}
    if unit:
        params["unit"] = unit
    with path.open("rb") as body:
        response = client.post(
            "/v1/imports", params=params, content=body, headers={"Content-Type": MEDIA_TYPES[fmt]}
        )
    if response.status_code != 202:
        print(f"upload refused: {_describe(response)}", file=out)
        return EXIT_JOB_FAILED
    job_url = response.json()["links"]["self"]
    print(f"uploaded {path.name}: job {response.json()['id']}", file=out)
    job = _follow(client, job_url, poll_seconds=poll_seconds, out=out, progress=progress, sleep=sleep)
    if job is None:
        return EXIT_JOB_FAILED
    return _summary(job, out)


def _follow(
    client: httpx.Client,
    job_url: str,
    *,
    poll_seconds: float,
    out: TextIO,
    progress: bool,
    sleep: Callable[[float], None],
) -> dict[str, Any] | None:
    """Poll the job until it is done or failed, moving a progress bar; None if it cannot be read."""
    bar = tqdm(total=None, unit="row", file=out, disable=not progress, dynamic_ncols=True)
    try:
        while True:
            response = client.get(job_url)
            if response.status_code != 200:
                bar.close()
                print(f"cannot read the job: {_describe(response)}", file=out)
                return None
            job: dict[str, Any] = response.json()
            if job["total"] is not None and bar.total != job["total"]:
                bar.total = job["total"]
                bar.refresh()
            bar.update(job["processed"] - bar.n)
            bar.set_postfix(imported=job["imported"], skipped=job["skipped_existing"], failed=job["failed"])
            if job["status"] in ("done", "failed"):
                return job
            sleep(poll_seconds)
    finally:
        bar.close()


def _summary(job: dict[str, Any], out: TextIO) -> int:
    if job["status"] == "failed":
        print(f"import failed: {job['failure']}", file=out)
        return EXIT_JOB_FAILED
    print(
        f"{job['processed']} rows: {job['imported']} imported, {job['skipped_existing']} already "
        f"imported before, {job['failed']} failed",
        file=out,
    )
    errors = job["errors"][:ERRORS_PRINTED]
    for error in errors:
        ident = f" ({error['external_id']})" if error["external_id"] else ""
        print(f"  line {error['line']}{ident}: {error['field']}: {error['reason']}", file=out)
    if job["failed"] and (job["errors_truncated"] or len(job["errors"]) > len(errors)):
        print(f"  ... all errors: GET {job['links']['errors']}", file=out)
    return EXIT_ROWS_FAILED if job["failed"] else EXIT_OK


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="xinfang-intake", description="Xinfang intake tools")
    commands = parser.add_subparsers(dest="command", required=True)
    upload = commands.add_parser(
        "import",
        help="import historical cases from a JSON Lines, CSV or XLSX file",
        description="Upload a legacy file to the intake service and follow the import job.",
    )
    upload.add_argument("file", type=Path, help="the file to import")
    upload.add_argument("--url", default="http://127.0.0.1:8001", help="intake's base URL")
    upload.add_argument("--unit", help="unit_code of rows that name none (the unit that handled them)")
    formats = [f.value for f in ImportFormat]
    upload.add_argument("--format", choices=formats, help="default: from the extension")
    upload.add_argument("--token", help="bearer token (default: the XINFANG_TOKEN environment variable)")
    upload.add_argument("--timeout", type=float, default=600.0, help="seconds the upload may take")
    upload.add_argument("--no-progress", action="store_true", help="no progress bar")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; the exit code."""
    args = _parser().parse_args(argv)
    path: Path = args.file
    if not path.is_file():
        print(f"no such file: {path}", file=sys.stderr)
        return EXIT_JOB_FAILED
    try:
        fmt = format_of(path, args.format)
    except UsageError as exc:
        print(str(exc), file=sys.stderr)
        return EXIT_JOB_FAILED
    token = args.token or os.environ.get("XINFANG_TOKEN")
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    try:
        with httpx.Client(base_url=args.url, headers=headers, timeout=args.timeout) as client:
            return run_import(client, path, fmt=fmt, unit=args.unit, progress=not args.no_progress)
    except httpx.HTTPError as exc:
        print(f"cannot reach intake at {args.url}: {exc}", file=sys.stderr)
        return EXIT_JOB_FAILED


if __name__ == "__main__":
    sys.exit(main())
