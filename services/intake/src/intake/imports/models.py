"""Tables of import jobs, their uploaded files and the errors of their rows."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, Index, Integer, LargeBinary, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from intake.db import Base


class ImportJob(Base):
    """An upload of historical cases and how far its rows have been taken in.

    ``processed`` counts rows whose outcome is committed, together with the cases they created,
    so a job taken over after a crash goes on at exactly the next row. A runner holds a job by
    a lease (``lease_owner`` until ``lease_until``); a job whose lease ran out, or was given
    back at shutdown (null), may be taken by any runner.
    """

    __tablename__ = "import_jobs"

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    status: Mapped[str] = mapped_column(String(16))
    format: Mapped[str] = mapped_column(String(8))
    filename: Mapped[str | None] = mapped_column(String(255))
    default_unit: Mapped[str | None] = mapped_column(String(64))
    size_bytes: Mapped[int] = mapped_column(Integer)
    total: Mapped[int | None] = mapped_column(Integer)
    processed: Mapped[int] = mapped_column(Integer, default=0)
    imported: Mapped[int] = mapped_column(Integer, default=0)
    skipped_existing: Mapped[int] = mapped_column(Integer, default=0)
    failed: Mapped[int] = mapped_column(Integer, default=0)
    failure: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime]
    started_at: Mapped[datetime | None]
    finished_at: Mapped[datetime | None]
    created_by: Mapped[str | None] = mapped_column(String(64))
    lease_owner: Mapped[str | None] = mapped_column(String(64))
    lease_until: Mapped[datetime | None]

    __table_args__ = (Index("ix_import_jobs_status_created_at", "status", "created_at"),)


class ImportFile(Base):
    """The uploaded file, stored with its job in one transaction so an accepted job survives a crash.

    Kept apart from the job row so that reading a job's progress never loads the file.
    """

    __tablename__ = "import_files"

    job_id: Mapped[str] = mapped_column(ForeignKey("import_jobs.id", ondelete="CASCADE"), primary_key=True)
    content: Mapped[bytes] = mapped_column(LargeBinary)


class ImportRowError(Base):
    """Why one row of a job (or one field of it) was not imported."""

    __tablename__ = "import_row_errors"

    # The autoincrement id is file order within a job (rows are taken in order), and the cursor.
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    job_id: Mapped[str] = mapped_column(ForeignKey("import_jobs.id", ondelete="CASCADE"))
    line: Mapped[int] = mapped_column(Integer)
    external_id: Mapped[str | None] = mapped_column(String(100))
    field: Mapped[str] = mapped_column(String(200))
    reason: Mapped[str] = mapped_column(Text)

    __table_args__ = (Index("ix_import_row_errors_job_id_id", "job_id", "id"),)
