"""Database connection: SQLite file by default (WAL, synchronous=FULL: a commit survives kill -9 and
power loss), PostgreSQL through a ``postgresql+psycopg://`` URL. The schema is brought to the latest
Alembic revision when the service opens it.
"""

from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.config import Config
from sqlalchemy import Engine, create_engine, event
from sqlalchemy.exc import ArgumentError, DBAPIError
from sqlalchemy.orm import sessionmaker

from deconflict.store.errors import DatabaseError

MIGRATIONS = Path(__file__).with_name("migrations")
MIGRATION_LOCK = 0x6465636F6E6D67  # "deconmg": PostgreSQL advisory lock id held while migrating
AUTOCHECKPOINT_PAGES = 20_000  # 80 MB of WAL before a commit checkpoints by itself


def database_url(url_or_path: str) -> str:
    """A SQLAlchemy URL from a URL or a plain file path (a SQLite file)."""
    if "://" in url_or_path:
        if url_or_path.startswith("postgresql://"):
            return "postgresql+psycopg://" + url_or_path[len("postgresql://"):]
        return url_or_path
    return f"sqlite:///{Path(url_or_path).expanduser()}"


def open_engine(url_or_path: str) -> Engine:
    """An engine on the database, its schema migrated to the latest revision."""
    url = database_url(url_or_path)
    try:
        if url.startswith("sqlite"):
            _private_file(url)
            engine = create_engine(url, connect_args={"check_same_thread": False, "timeout": 30})
            event.listen(engine, "connect", _sqlite_pragmas)
            event.listen(engine, "begin", _sqlite_begin)
        else:
            engine = create_engine(url, pool_size=8, max_overflow=8, pool_pre_ping=True)
        migrate(engine)
    except (ArgumentError, DBAPIError, ModuleNotFoundError) as error:  # DBAPIError: also "file is not a database"
        shown = url.split("@")[-1] if "@" in url else url
        raise DatabaseError(f"database {shown}: {str(error).splitlines()[0]}") from None
    return engine


def _private_file(url: str) -> None:
    """Create a new SQLite file readable by its owner only (0600): it holds every party's plans and
    tracks. SQLite gives its -wal and -shm files the same mode."""
    path = url.removeprefix("sqlite:///")
    if path and path != ":memory:" and not Path(path).exists() and Path(path).parent.is_dir():
        try:
            Path(path).touch(mode=0o600)
        except OSError:
            pass  # SQLite names the problem when it opens the file


def _sqlite_pragmas(connection, _record) -> None:  # noqa: ANN001
    connection.isolation_level = None  # transactions are begun by _sqlite_begin, not by the driver
    cursor = connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=FULL")
    # a checkpoint inside a commit made that commit (and every writer behind it) wait for the copy and
    # fsync; the service checkpoints on its own thread (`checkpoint`), this is the safety net
    cursor.execute(f"PRAGMA wal_autocheckpoint={AUTOCHECKPOINT_PAGES}")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.close()


def _sqlite_begin(connection) -> None:  # noqa: ANN001
    """Writers take the database's write lock when they begin (BEGIN IMMEDIATE), so two processes
    appending to the audit chain wait for each other instead of failing on a stale snapshot."""
    immediate = connection.get_execution_options().get("writer", False)
    connection.exec_driver_sql("BEGIN IMMEDIATE" if immediate else "BEGIN")


def checkpoint(engine: Engine) -> None:
    """Copy the SQLite WAL into the database without blocking readers or writers (a passive
    checkpoint); nothing on PostgreSQL."""
    if engine.dialect.name == "sqlite":
        with engine.connect() as connection:
            connection.exec_driver_sql("PRAGMA wal_checkpoint(PASSIVE)")


def writer(engine: Engine) -> Engine:
    """The same engine, for transactions that write (see `_sqlite_begin`)."""
    return engine.execution_options(writer=True)


def migrate(engine: Engine) -> None:
    """Upgrade the schema to the latest migration (``alembic upgrade head`` on this engine)."""
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    with writer(engine).begin() as connection:  # SQLite: BEGIN IMMEDIATE, so two nodes wait for each other
        if engine.dialect.name == "postgresql":  # two nodes starting together migrate one after the other
            connection.exec_driver_sql(f"SELECT pg_advisory_xact_lock({MIGRATION_LOCK})")
        config.attributes["connection"] = connection
        command.upgrade(config, "head")


def sessions(engine: Engine) -> sessionmaker:
    return sessionmaker(engine, expire_on_commit=False)
