"""``xinfang-intake import``: upload, progress, summary with the first errors, and exit codes."""

import io
import threading
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
import uvicorn
from fastapi import FastAPI

from intake.cli import EXIT_JOB_FAILED, EXIT_OK, EXIT_ROWS_FAILED, main, run_import
from intake.imports.schemas import ImportFormat
from xinfang_common.testing.auth import staff_client, token_for
from xinfang_common.testing.plugin import free_port

pytestmark = pytest.mark.database

GOOD = (
    "id,title,body,reply,time,reply_time\n"
    "1,道路破损,道路破损严重。,已修复。,2019-04-24 15:07:30,2019-05-09 09:49:42\n"
)
MIXED = GOOD + "2,,缺少标题。,已答复。,2019-04-24 15:40:04,2019-05-09 09:49:14\n"


@pytest.fixture
def app(intake_app: Callable[..., FastAPI]) -> FastAPI:
    return intake_app(relay_enabled=False, consumer_enabled=False)


def write(tmp_path: Path, name: str, text: str) -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def test_a_file_with_a_bad_row_exits_1_and_prints_the_line_and_reason(app: FastAPI, tmp_path: Path) -> None:
    out = io.StringIO()
    with staff_client(app) as client:
        code = run_import(
            client,
            write(tmp_path, "legacy.csv", MIXED),
            fmt=ImportFormat.CSV,
            unit="430100-xfj",
            out=out,
            poll_seconds=0.05,
        )
    text = out.getvalue()
    assert code == EXIT_ROWS_FAILED
    assert "2 rows: 1 imported, 0 already imported before, 1 failed" in text
    assert "line 3 (2): title:" in text
    assert "row/s" in text or "2/2" in text  # the progress bar was drawn


def test_a_clean_file_exits_0_and_an_unreadable_one_2(app: FastAPI, tmp_path: Path) -> None:
    with staff_client(app) as client:
        clean = run_import(
            client,
            write(tmp_path, "ok.csv", GOOD),
            fmt=ImportFormat.CSV,
            unit="u1",
            out=io.StringIO(),
            progress=False,
            poll_seconds=0.05,
        )
        out = io.StringIO()
        broken = run_import(
            client,
            write(tmp_path, "bad.csv", "foo,bar\n1,2\n"),
            fmt=ImportFormat.CSV,
            out=out,
            progress=False,
            poll_seconds=0.05,
        )
    assert clean == EXIT_OK
    assert broken == EXIT_JOB_FAILED
    assert "import failed: the header lacks" in out.getvalue()


@pytest.fixture
def served(app: FastAPI) -> Iterator[str]:
    port = free_port()
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    try:
        # server.started flips once the socket listens; poll it rather than sleeping blindly.
        for _ in range(200):
            if server.started:
                break
            thread.join(0.05)
        assert server.started
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(15)


def test_the_command_uploads_to_a_running_service_with_the_token_from_the_environment(
    served: str, tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("XINFANG_TOKEN", token_for())
    path = write(tmp_path, "replies.csv", MIXED)
    code = main(["import", str(path), "--url", served, "--unit", "430100-xfj", "--no-progress"])
    printed = capsys.readouterr().out
    assert code == EXIT_ROWS_FAILED
    assert "uploaded replies.csv" in printed
    assert "1 imported" in printed


def test_the_command_refuses_what_it_cannot_upload(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["import", str(tmp_path / "missing.csv")]) == EXIT_JOB_FAILED
    assert main(["import", str(write(tmp_path, "cases.txt", GOOD))]) == EXIT_JOB_FAILED
    assert "--format" in capsys.readouterr().err
    unreachable = f"http://127.0.0.1:{free_port()}"
    assert (
        main(["import", str(write(tmp_path, "a.csv", GOOD)), "--url", unreachable, "--no-progress"])
        == EXIT_JOB_FAILED
    )
    assert "cannot reach intake" in capsys.readouterr().err
