"""Alembic migrations of a service's own database, run from code rather than from alembic.ini.

Each service keeps its migrations in the package ``<service>.migrations``, which ships in the
wheel and the image: Alembic's ``env.py`` (three lines calling :func:`run_env`),
``script.py.mako``, ``versions/``, and a ``target_metadata()`` function returning the metadata of
every table the service owns. :func:`upgrade_to_head` brings a database to the latest revision;
the service's lifespan calls it, and so does ``xinfang-<service>-migrate`` (:func:`main`), which
the container entry point runs before the server starts.
"""

from __future__ import annotations

import argparse
import fcntl
import hashlib
import importlib
import logging
import threading
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Literal

from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.autogenerate.api import AutogenContext
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Connection, Engine, MetaData, inspect, text

from xinfang_common.db import UTCDateTime, make_engine

__all__ = [
    "VERSION_TABLE",
    "MigrationRefused",
    "alembic_config",
    "current_revision",
    "lock_key",
    "main",
    "run_env",
    "schema_differences",
    "target_metadata",
    "upgrade_to_head",
]

log = logging.getLogger(__name__)
# Alembic says at INFO which dialect it uses and every difference it compares; this module logs
# the one line that matters (from which revision to which), so keep Alembic to its warnings.
for _chatty in ("alembic.runtime.migration", "alembic.runtime.plugins", "alembic.autogenerate"):
    logging.getLogger(_chatty).setLevel(logging.WARNING)

VERSION_TABLE = "alembic_version"

_IN_PROCESS = threading.RLock()


class MigrationRefused(RuntimeError):
    """The database holds tables that no migration of this code made and that differ from the models."""


def lock_key(package: str) -> int:
    """The PostgreSQL advisory lock key of one service's migrations (a stable signed 64-bit int)."""
    digest = hashlib.sha256(f"xinfang-migrate:{package}".encode()).digest()
    return int.from_bytes(digest[:8], "big", signed=True)


def target_metadata(package: str) -> MetaData:
    """The metadata of every table that the migrations package ``package`` describes."""
    factory: Callable[[], MetaData] = importlib.import_module(package).target_metadata
    return factory()


def alembic_config(package: str, connection: Connection | None = None) -> Config:
    """An Alembic configuration for ``package`` (e.g. ``intake.migrations``), without an ini file."""
    module = importlib.import_module(package)
    if module.__file__ is None:
        raise RuntimeError(f"{package} is not a regular package: Alembic needs its folder")
    config = Config()
    config.set_main_option("script_location", str(Path(module.__file__).parent))
    config.attributes["package"] = package
    if connection is not None:
        config.attributes["connection"] = connection
    return config


def _render_item(kind: str, obj: Any, _: AutogenContext) -> str | Literal[False]:
    """Write UTCDateTime as the column type it stands for, so revisions do not import the models."""
    if kind == "type" and isinstance(obj, UTCDateTime):
        return "sa.DateTime(timezone=True)"
    return False


def run_env(metadata: MetaData) -> None:
    """The body of every service's ``env.py``: run the migrations on the connection handed over."""
    from alembic import context

    connection: Connection | None = context.config.attributes.get("connection")
    if connection is None or context.is_offline_mode():
        raise RuntimeError(
            "run migrations with xinfang-<service>-migrate or xinfang_common.migrate, not with alembic"
        )
    context.configure(
        connection=connection,
        target_metadata=metadata,
        version_table=VERSION_TABLE,
        # SQLite cannot ALTER most things: batch operations copy the table instead.
        render_as_batch=connection.dialect.name == "sqlite",
        compare_type=True,
        render_item=_render_item,
    )
    with context.begin_transaction():
        context.run_migrations()


def schema_differences(connection: Connection, metadata: MetaData) -> list[Any]:
    """What Alembic's autogenerate finds between the database and ``metadata`` (empty: they match)."""
    context = MigrationContext.configure(
        connection,
        opts={
            "compare_type": True,
            "render_as_batch": connection.dialect.name == "sqlite",
            "version_table": VERSION_TABLE,
        },
    )
    return list(compare_metadata(context, metadata))


def current_revision(connection: Connection) -> str | None:
    """The revision the database is at, or None when it has none."""
    context = MigrationContext.configure(connection, opts={"version_table": VERSION_TABLE})
    return context.get_current_revision()


def _describe(difference: Any) -> str:
    """One line for one autogenerate difference (a tuple, or a list of column changes)."""
    if isinstance(difference, list):
        return "; ".join(_describe(item) for item in difference)
    kind = difference[0]
    names = [
        getattr(part, "name", None) or (part if isinstance(part, str) else None) for part in difference[1:]
    ]
    return f"{kind} {'.'.join(name for name in names if name)}"


@contextmanager
def _migration_connection(engine: Engine, package: str) -> Iterator[Connection]:
    """A connection that alone may migrate: holds the service's advisory lock on PostgreSQL."""
    # Alembic's ``context`` and ``op`` are module globals: one migration per process at a time.
    if engine.dialect.name == "sqlite":
        # The file lock first, before connecting: opening a connection sets pragmas (WAL) that
        # need the database a migrating replica holds, and would time out waiting for it.
        with (
            _IN_PROCESS,
            _sqlite_file_lock(engine),
            engine.connect() as connection,
            _foreign_keys_off(connection, package),
        ):
            yield connection
        return
    with _IN_PROCESS, engine.connect() as connection:
        backend = connection.dialect.name
        if backend == "postgresql":
            key = lock_key(package)
            # Replicas starting together wait here; the first migrates, the others find head.
            connection.execute(text("SELECT pg_advisory_lock(:key)"), {"key": key})
            connection.commit()
            try:
                yield connection
            finally:
                connection.rollback()
                if not connection.invalidated:
                    connection.execute(text("SELECT pg_advisory_unlock(:key)"), {"key": key})
                    connection.commit()
        else:
            yield connection


@contextmanager
def _sqlite_file_lock(engine: Engine) -> Iterator[None]:
    """Hold an exclusive lock beside a SQLite file, so processes sharing it migrate one at a time."""
    database = engine.url.database
    if not database or database == ":memory:":
        yield  # private to this process: nobody to wait for
        return
    with open(f"{database}.migrate-lock", "a") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)


@contextmanager
def _foreign_keys_off(connection: Connection, package: str) -> Iterator[None]:
    """Run the migration with SQLite's foreign key enforcement off, and check the keys after."""
    # A batch migration copies a table and drops the old one; with foreign keys enforced
    # the drop would delete (cascade) or block the rows that refer to it. SQLite ignores
    # this pragma inside a transaction, hence the commit before the migration starts.
    enforced = connection.exec_driver_sql("PRAGMA foreign_keys").scalar()
    connection.exec_driver_sql("PRAGMA foreign_keys=OFF")
    connection.commit()
    try:
        yield
        broken = connection.exec_driver_sql("PRAGMA foreign_key_check").fetchall()
        if broken:
            raise MigrationRefused(f"{package}: the migration left rows with dangling foreign keys")
    finally:
        connection.rollback()
        connection.exec_driver_sql(f"PRAGMA foreign_keys={'ON' if enforced else 'OFF'}")
        connection.commit()


def _adopt_unversioned(connection: Connection, config: Config, package: str) -> None:
    """Stamp a database that ``create_all`` made before migrations existed, if it matches the models.

    Its tables then are exactly what the head revision makes (the migration test holds every
    revision to the models), so it is stamped at head; while there is one revision that is also
    the initial one. Tables that differ (an older or foreign schema) are refused, not guessed at.
    """
    metadata = target_metadata(package)
    existing = set(inspect(connection).get_table_names())
    if VERSION_TABLE in existing or not existing & set(metadata.tables):
        return
    differences = schema_differences(connection, metadata)
    if differences:
        listed = "; ".join(_describe(difference) for difference in differences[:8])
        more = f" and {len(differences) - 8} more" if len(differences) > 8 else ""
        raise MigrationRefused(
            f"{package}: the database has tables but no {VERSION_TABLE} table (it was created before "
            f"migrations existed) and they differ from this version's models: {listed}{more}. "
            f"Refusing to guess: migrate it by hand and stamp it (xinfang-{package.split('.')[0]}-migrate "
            "stamp <revision>), or, if its content is disposable, empty it and start again."
        )
    head = ScriptDirectory.from_config(config).get_current_head()
    log.warning(
        "database made before migrations matches the models: stamped at the head revision",
        extra={"package": package, "revision": head},
    )
    command.stamp(config, "head")


@contextmanager
def _engine_for(database: str | Engine) -> Iterator[Engine]:
    """The engine given, or a small one for the URL given (disposed after)."""
    if isinstance(database, Engine):
        yield database
        return
    engine = make_engine(database, pool_size=1, max_overflow=0)
    try:
        yield engine
    finally:
        engine.dispose()


def upgrade_to_head(database: str | Engine, package: str) -> None:
    """Bring the database (a URL, or the service's engine) to the latest revision of ``package``.

    Safe to call from every replica at once (an advisory lock on PostgreSQL, a lock file beside a
    SQLite file) and on every start (at head it does nothing). A database made by ``create_all`` before
    migrations existed is stamped when it matches the models, refused otherwise.
    """
    with _engine_for(database) as engine, _migration_connection(engine, package) as connection:
        config = alembic_config(package, connection)
        _adopt_unversioned(connection, config, package)
        before = current_revision(connection)
        command.upgrade(config, "head")
        connection.commit()
        after = current_revision(connection)
    if before != after:
        log.info("database migrated", extra={"package": package, "from": before, "to": after})


def downgrade(database: str | Engine, package: str, revision: str) -> None:
    """Take the database back to ``revision`` (``base``: no table left), under the same lock."""
    with _engine_for(database) as engine, _migration_connection(engine, package) as connection:
        command.downgrade(alembic_config(package, connection), revision)
        connection.commit()


def stamp(database: str | Engine, package: str, revision: str) -> None:
    """Record ``revision`` as the database's without running anything (after a manual migration)."""
    with _engine_for(database) as engine, _migration_connection(engine, package) as connection:
        command.stamp(alembic_config(package, connection), revision)
        connection.commit()


def new_revision(package: str, message: str) -> None:
    """Write the next revision of ``package`` from what the models add to head (for developers).

    It compares against a scratch in-memory SQLite database brought to head, so no database
    needs to be at hand; read and tidy the file it writes, as autogenerate misses some changes.
    """
    engine = make_engine("sqlite://")
    try:
        upgrade_to_head(engine, package)
        with engine.connect() as connection:
            config = alembic_config(package, connection)
            script = ScriptDirectory.from_config(config)
            # Sequential ids (0001, 0002, ...): two branches adding a revision collide visibly.
            rev_id = f"{len(list(script.walk_revisions())) + 1:04d}"
            command.revision(config, message=message, autogenerate=True, rev_id=rev_id)
    finally:
        engine.dispose()


def main(
    package: str, database_url: str, argv: Sequence[str] | None = None, *, refused_hint: str = ""
) -> int:
    """Entry point of ``xinfang-<service>-migrate``: upgrade (the default) or inspect the database.

    ``refused_hint`` is added to the message when an unversioned, different schema is refused.
    """
    from xinfang_common.logging import configure_logging

    service = package.split(".")[0]
    parser = argparse.ArgumentParser(
        prog=f"xinfang-{service}-migrate",
        description=f"Apply the migrations of {service}'s database ({service.upper()}_DATABASE_URL).",
    )
    commands = parser.add_subparsers(dest="command")
    commands.add_parser("upgrade", help="bring the database to the latest revision (the default)")
    down = commands.add_parser("downgrade", help="go back to a revision (base: drop every table)")
    down.add_argument("revision")
    stamped = commands.add_parser("stamp", help="record a revision without running it")
    stamped.add_argument("revision")
    commands.add_parser("current", help="print the database's revision")
    commands.add_parser("history", help="list the revisions")
    made = commands.add_parser("revision", help="(developers) write a migration for the model changes")
    made.add_argument("-m", "--message", required=True, help="what the migration does")
    args = parser.parse_args(argv)
    configure_logging(f"{service}-migrate")
    try:
        if args.command in (None, "upgrade"):
            upgrade_to_head(database_url, package)
        elif args.command == "downgrade":
            downgrade(database_url, package, args.revision)
        elif args.command == "stamp":
            stamp(database_url, package, args.revision)
        elif args.command == "current":
            with _engine_for(database_url) as engine, engine.connect() as connection:
                print(current_revision(connection) or "none")
        elif args.command == "history":
            command.history(alembic_config(package))
        else:
            new_revision(package, args.message)
    except MigrationRefused as exc:
        log.error("%s", f"{exc} {refused_hint}".strip())
        return 1
    return 0
