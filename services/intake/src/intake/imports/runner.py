"""The import runner: a thread that takes queued jobs (and jobs a stopped runner left) and imports
their rows in batches.

Each batch is one transaction that also moves the job's counters, so a job taken over after a
crash goes on at exactly the first row not committed. Each case has its own savepoint inside it:
a row that fails is rolled back alone and recorded with its line and reason, and the rest go on.
"""

from __future__ import annotations

import itertools
import logging
import threading
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy.exc import DataError, IntegrityError, SQLAlchemyError
from sqlalchemy.orm import Session, sessionmaker

from intake import metrics
from intake.crypto import PersonalDataCipher
from intake.imports import parsers, service
from intake.imports.history import RowProblem, replay
from intake.imports.models import ImportJob, ImportRowError
from intake.imports.repository import ImportRepository
from intake.imports.schemas import ImportedCase, ImportFormat, ImportStatus
from xinfang_common.cloudevents import utcnow

log = logging.getLogger(__name__)


@dataclass
class _Tally:
    """What one batch did, added to the job's counters when the batch commits."""

    processed: int = 0
    imported: int = 0
    skipped_existing: int = 0
    failed: int = 0
    events: int = 0


def _storable(text: str | None) -> str | None:
    """Text PostgreSQL can store: a NUL character in a bad row must not fail the whole batch."""
    return None if text is None else text.replace("\x00", "\\x00")


class LeaseLost(Exception):
    """Another runner took the job over (this one was presumed dead)."""


class ImportRunner:
    """A thread that runs import jobs one at a time; several replicas share the work by leases."""

    def __init__(
        self,
        session_factory: sessionmaker[Session],
        cipher: PersonalDataCipher,
        *,
        default_region: str,
        batch_size: int = 200,
        notify: Callable[[], None] = lambda: None,
        poll_seconds: float = 5.0,
        lease_seconds: float = 120.0,
        clock: Callable[[], datetime] = utcnow,
    ) -> None:
        self._session_factory = session_factory
        self._cipher = cipher
        self._default_region = default_region
        self._batch_size = batch_size
        self._notify = notify
        self._poll_seconds = poll_seconds
        self._lease = timedelta(seconds=lease_seconds)
        self._clock = clock
        self.owner = f"runner-{uuid.uuid4().hex[:12]}"
        self._wake = threading.Event()
        self._stopping = threading.Event()
        self._thread: threading.Thread | None = None
        self.after_batch: Callable[[str, int], None] | None = None
        """Called with (job id, rows processed so far) after each committed batch (tests stop here)."""

    def start(self) -> None:
        """Start the runner thread."""
        self._stopping.clear()
        self._thread = threading.Thread(target=self._run, name="intake-import-runner", daemon=True)
        self._thread.start()

    def wake(self) -> None:
        """Look for jobs now: one was just uploaded."""
        self._wake.set()

    def request_stop(self) -> None:
        """Ask the thread to stop after the row in hand (it commits what it did and gives the job back)."""
        self._stopping.set()
        self._wake.set()

    def stop(self, timeout: float = 30.0) -> None:
        """Stop after the row in hand; the job in progress is given back for any runner to go on with."""
        self.request_stop()
        thread, self._thread = self._thread, None
        if thread is not None:
            thread.join(timeout)
            if thread.is_alive():
                log.warning("import runner did not stop in time; its job resumes when the lease runs out")

    def _run(self) -> None:
        while not self._stopping.is_set():
            try:
                worked = self.run_once()
            except SQLAlchemyError:
                # The database is away: the job keeps its place and is taken up again later
                # (by this runner, or by another once the lease runs out).
                log.warning("import runner round failed; retrying", exc_info=True)
                self._stopping.wait(self._poll_seconds)
                continue
            if not worked:
                self._wake.wait(self._poll_seconds)
                self._wake.clear()

    def run_once(self) -> bool:
        """Take one job and run it as far as it goes; whether there was one."""
        job_id = self._claim()
        if job_id is None:
            return False
        try:
            self._process(job_id)
        except LeaseLost:
            log.warning("import job taken over by another runner", extra={"job_id": job_id})
        except SQLAlchemyError:
            raise
        except Exception as exc:  # a bug must fail this job, not loop on it forever
            log.exception("import job crashed", extra={"job_id": job_id})
            self._finish(
                job_id, ImportStatus.FAILED, failure=f"internal error: {type(exc).__name__}: {exc}"[:1000]
            )
        return True

    def _claim(self) -> str | None:
        now = self._clock()
        with self._session_factory.begin() as session:
            repo = ImportRepository(session)
            candidates = repo.claimable(now, owner=self.owner)
        for job_id in candidates:
            with self._session_factory.begin() as session:
                repo = ImportRepository(session)
                if repo.claim(job_id, owner=self.owner, now=now, until=now + self._lease):
                    return job_id
        return None

    def _until(self) -> datetime:
        return self._clock() + self._lease

    def _process(self, job_id: str) -> None:
        with self._session_factory() as session:
            repo = ImportRepository(session)
            job = repo.get(job_id)
            if job is None:  # pragma: no cover - jobs are never deleted while claimable
                return
            content = repo.content(job_id)
            fmt, done, default_unit = ImportFormat(job.format), job.processed, job.default_unit
            first_start = job.started_at is None
        log.info("import job running", extra={"job_id": job_id, "from_row": done})
        if first_start:
            self._update(job_id, started_at=self._clock())
        try:
            # A first pass through the file: a file broken anywhere fails before any row is
            # imported, and the total is known for progress bars.
            total = sum(1 for _ in parsers.read_rows(fmt, content))
        except parsers.FileUnreadable as exc:
            self._finish(job_id, ImportStatus.FAILED, failure=_storable(str(exc)))
            log.info("import job failed: unreadable file", extra={"job_id": job_id, "reason": str(exc)})
            return
        self._update(job_id, total=total)
        defaults = parsers.Defaults(region=self._default_region, unit_code=default_unit)
        rows = itertools.islice(parsers.read_rows(fmt, content), done, None)
        while True:
            batch = list(itertools.islice(rows, self._batch_size))
            if not batch:
                break
            tally = self._import_batch(job_id, batch, defaults)
            done += tally.processed
            if tally.events:
                self._notify()
            if self.after_batch is not None:
                self.after_batch(job_id, done)
            if self._stopping.is_set():
                with self._session_factory.begin() as session:
                    ImportRepository(session).release(job_id, owner=self.owner)
                log.info("import job given back at shutdown", extra={"job_id": job_id, "processed": done})
                return
        self._finish(job_id, ImportStatus.DONE)
        log.info("import job done", extra={"job_id": job_id, "rows": done})

    def _update(self, job_id: str, **values: object) -> None:
        with self._session_factory.begin() as session:
            if not ImportRepository(session).renew(job_id, owner=self.owner, until=self._until(), **values):
                raise LeaseLost(job_id)

    def _finish(self, job_id: str, status: ImportStatus, failure: str | None = None) -> None:
        with self._session_factory.begin() as session:
            repo = ImportRepository(session)
            finished_at = self._clock()
            if repo.release(
                job_id, owner=self.owner, status=status.value, failure=failure, finished_at=finished_at
            ):
                # The upload's personal data is not kept once the cases are stored (encrypted).
                repo.drop_content(job_id)

    def _import_batch(
        self, job_id: str, batch: list[parsers.SourceRow], defaults: parsers.Defaults
    ) -> _Tally:
        tally = _Tally()
        with self._session_factory() as session, session.begin():
            repo = ImportRepository(session)
            # First statement of the transaction, so SQLite's driver has begun it before the
            # savepoints below (otherwise the first savepoint's release would commit).
            if not repo.renew(job_id, owner=self.owner, until=self._until()):
                raise LeaseLost(job_id)
            for row in batch:
                self._import_row(session, repo, job_id, row, defaults, tally)
                tally.processed += 1
                if self._stopping.is_set():
                    break
            job = session.get(ImportJob, job_id)
            if job is None:  # pragma: no cover - the renew above found it
                raise LeaseLost(job_id)
            job.processed += tally.processed
            job.imported += tally.imported
            job.skipped_existing += tally.skipped_existing
            job.failed += tally.failed
        metrics.IMPORT_ROWS.labels("imported").inc(tally.imported)
        metrics.IMPORT_ROWS.labels("skipped_existing").inc(tally.skipped_existing)
        metrics.IMPORT_ROWS.labels("failed").inc(tally.failed)
        metrics.OUTBOX_PENDING.inc(tally.events)
        return tally

    def _import_row(
        self,
        session: Session,
        repo: ImportRepository,
        job_id: str,
        row: parsers.SourceRow,
        defaults: parsers.Defaults,
        tally: _Tally,
    ) -> None:
        def fail(problems: Iterator[parsers.RowError] | list[parsers.RowError]) -> None:
            for problem in problems:
                repo.add_error(
                    ImportRowError(
                        job_id=job_id,
                        line=row.line,
                        external_id=_storable(row.external_id),
                        field=_storable(problem.field[:200]) or "row",
                        reason=_storable(problem.reason) or "invalid",
                    )
                )
            tally.failed += 1

        case = parsers.to_case(row, defaults)
        if not isinstance(case, ImportedCase):
            fail(case)
            return
        try:
            history = replay(case)
        except RowProblem as exc:
            column = parsers.flat_field(exc.field, case) if row.flat else exc.field
            fail([parsers.RowError(column, exc.reason)])
            return
        if repo.external_id_taken(case.external_id):
            tally.skipped_existing += 1
            return
        savepoint = session.begin_nested()
        try:
            events = service.import_case(
                session, case=case, history=history, job_id=job_id, cipher=self._cipher, now=self._clock()
            )
            savepoint.commit()
        except IntegrityError:
            savepoint.rollback()
            if repo.external_id_taken(case.external_id):
                # Another job imported the same case a moment ago.
                tally.skipped_existing += 1
                return
            log.warning("import row refused by the database", exc_info=True, extra={"line": row.line})
            fail([parsers.RowError("row", "the database refused the row (a duplicate key)")])
            return
        except DataError as exc:
            savepoint.rollback()
            reason = f"the database refused a value (text may not contain NUL characters): {exc.orig}"
            fail([parsers.RowError("row", reason[:500])])
            return
        except (LeaseLost, SQLAlchemyError):
            raise
        except Exception as exc:  # one row that trips a bug must not stop the rest
            savepoint.rollback()
            log.exception("import row failed", extra={"job_id": job_id, "line": row.line})
            fail([parsers.RowError("row", f"internal error: {type(exc).__name__}")])
            return
        tally.imported += 1
        tally.events += events
