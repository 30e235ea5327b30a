"""The statuses, decisions and sources of likeness.enums are exactly what the database's
CHECK constraints allow."""

from __future__ import annotations

import re

import pytest
from sqlalchemy import text
from sqlalchemy.exc import IntegrityError

from likeness.enums import CHECKED_COLUMNS
from likeness.store import Database


def allowed_values(database: Database, table: str, column: str) -> set[str]:
    """The quoted values of the column's CHECK constraint, as PostgreSQL prints it."""
    with database.engine.connect() as connection:
        definition = connection.execute(text(
            "SELECT pg_get_constraintdef(oid) FROM pg_constraint WHERE conname = :name"),
            {"name": f"{table}_{column}_check"}).scalar_one()
    return set(re.findall(r"'([^']*)'", definition))


@pytest.mark.parametrize("qualified", sorted(CHECKED_COLUMNS))
def test_the_database_checks_the_same_values(database: Database, qualified: str) -> None:
    table, column = qualified.split(".")
    enum = CHECKED_COLUMNS[qualified]
    assert allowed_values(database, table, column) == {member.value for member in enum}


def test_a_value_outside_the_enum_is_refused(db: Database) -> None:
    with pytest.raises(IntegrityError, match="videos_status_check"), \
            db.engine.begin() as connection:
        connection.execute(text(
            "INSERT INTO videos (source, path, sha256, status, sample_fps, keyframes) "
            "VALUES ('x', '/x', repeat('0', 64), 'lost', 1, false)"))
