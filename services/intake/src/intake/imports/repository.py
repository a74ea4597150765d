"""Every query on import jobs, their files and their row errors."""

from __future__ import annotations

from datetime import datetime
from typing import Any, cast

from sqlalchemy import CursorResult, and_, delete, or_, select, update
from sqlalchemy.orm import Session

from intake.imports.models import ImportFile, ImportJob, ImportRowError
from intake.imports.schemas import ImportStatus
from intake.petitions.models import Petition


class ImportRepository:
    """Reads and writes import jobs within the caller's session and transaction."""

    def __init__(self, session: Session) -> None:
        self.session = session

    def add(self, job: ImportJob, content: bytes) -> None:
        """Stage a new job with its file."""
        self.session.add(job)
        self.session.flush()  # the job row first: the file refers to it
        self.session.add(ImportFile(job_id=job.id, content=content))

    def get(self, job_id: str) -> ImportJob | None:
        """The job with this id, if any."""
        return self.session.get(ImportJob, job_id)

    def content(self, job_id: str) -> bytes:
        """The file uploaded for the job."""
        return self.session.scalars(select(ImportFile.content).where(ImportFile.job_id == job_id)).one()

    def errors(self, job_id: str, *, after: int | None, limit: int) -> list[ImportRowError]:
        """Up to ``limit`` row errors of the job in file order, after the error with id ``after``."""
        query = select(ImportRowError).where(ImportRowError.job_id == job_id)
        if after is not None:
            query = query.where(ImportRowError.id > after)
        return list(self.session.scalars(query.order_by(ImportRowError.id).limit(limit)))

    def add_error(self, error: ImportRowError) -> None:
        """Stage a row error."""
        self.session.add(error)

    def claimable(self, now: datetime, *, owner: str, limit: int = 10) -> list[str]:
        """Ids of jobs ``owner`` may take, oldest first: queued, or running without another's live lease."""
        return list(
            self.session.scalars(
                select(ImportJob.id)
                .where(_claimable(now, owner))
                .order_by(ImportJob.created_at, ImportJob.id)
                .limit(limit)
            )
        )

    def claim(self, job_id: str, *, owner: str, now: datetime, until: datetime) -> bool:
        """Take the job for ``owner`` if it is still claimable; whether it was taken."""
        result = self.session.execute(
            update(ImportJob)
            .where(ImportJob.id == job_id, _claimable(now, owner))
            .values(status=ImportStatus.RUNNING.value, lease_owner=owner, lease_until=until)
        )
        return _rowcount(result) == 1

    def renew(self, job_id: str, *, owner: str, until: datetime, **values: Any) -> bool:
        """Extend ``owner``'s lease and set ``values``; False when the lease was lost to another runner."""
        result = self.session.execute(
            update(ImportJob)
            .where(ImportJob.id == job_id, ImportJob.lease_owner == owner)
            .values(lease_until=until, **values)
        )
        return _rowcount(result) == 1

    def release(self, job_id: str, *, owner: str, **values: Any) -> bool:
        """Give the job's lease back (any runner may go on with it at once) and set ``values``;
        False when ``owner`` no longer held it."""
        result = self.session.execute(
            update(ImportJob)
            .where(ImportJob.id == job_id, ImportJob.lease_owner == owner)
            .values(lease_owner=None, lease_until=None, **values)
        )
        return _rowcount(result) == 1

    def drop_content(self, job_id: str) -> None:
        """Delete the job's file: its rows are all taken in (or it could not be read)."""
        self.session.execute(delete(ImportFile).where(ImportFile.job_id == job_id))

    def external_id_taken(self, external_id: str) -> bool:
        """Whether a case with this external id was imported before."""
        found = self.session.scalar(select(Petition.id).where(Petition.external_id == external_id))
        return found is not None


def _claimable(now: datetime, owner: str) -> Any:
    # A runner may also take back its own job (after the database came back mid-job).
    running_unheld = and_(
        ImportJob.status == ImportStatus.RUNNING.value,
        or_(ImportJob.lease_until.is_(None), ImportJob.lease_until < now, ImportJob.lease_owner == owner),
    )
    return or_(ImportJob.status == ImportStatus.QUEUED.value, running_unheld)


def _rowcount(result: Any) -> int:
    return cast(CursorResult[Any], result).rowcount
