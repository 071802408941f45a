"""The Alembic migrations build exactly the schema the models describe, on SQLite and PostgreSQL."""

from __future__ import annotations

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import create_engine, inspect

from deconflict.store.database import database_url, migrate, open_engine
from deconflict.store.errors import DatabaseError
from deconflict.store.schema import Base


@pytest.mark.parametrize("backend", ["sqlite", "postgresql"])
def test_migrated_schema_matches_the_models(backend, tmp_path, request):
    url = database_url(str(tmp_path / "s.db")) if backend == "sqlite" else request.getfixturevalue("postgres").database()
    engine = create_engine(database_url(url))
    migrate(engine)
    migrate(engine)  # idempotent: a second start changes nothing
    with engine.connect() as connection:
        differences = compare_metadata(MigrationContext.configure(connection), Base.metadata)
    assert differences == []
    assert set(inspect(engine).get_table_names()) >= set(Base.metadata.tables)
    engine.dispose()


def test_unusable_database_is_one_line():
    with pytest.raises(DatabaseError, match=r"^database sqlite:////nonexistent/x\.db: "):
        open_engine("/nonexistent/x.db")
    with pytest.raises(DatabaseError, match="127.0.0.1:1") as refused:
        open_engine("postgresql://nobody:secret@127.0.0.1:1/none")
    assert "secret" not in str(refused.value) and "\n" not in str(refused.value)
