"""The keys and users commands of the CLI, on the test session's database."""

from __future__ import annotations

import re

from sqlalchemy import text
from typer.testing import CliRunner

from likeness.cli import app
from likeness.enums import Role
from likeness.services.access import AccessService, digest
from likeness.store import Database, events
from tests.cli.test_cli import _cli_environment  # noqa: F401 - the CLI's environment

runner = CliRunner()
WIDE = {"COLUMNS": "200"}


def _new_key(args: list[str]) -> tuple[str, int]:
    """`likeness keys add ARGS`: the key it printed and its id."""
    result = runner.invoke(app, ["keys", "add", *args], env=WIDE)
    assert result.exit_code == 0, result.output
    secret = result.stdout.splitlines()[0]
    assert secret.startswith("lk_") and "not shown again" in result.stdout
    found = re.search(r"id (\d+), role", result.stdout)
    assert found is not None
    return secret, int(found.group(1))


def _rows(output: str) -> dict[str, list[str]]:
    """A rich table's rows by their first cell."""
    rows = [[cell.strip() for cell in line.split("│")[1:-1]] for line in output.splitlines()
            if line.startswith("│")]
    return {row[0]: row for row in rows}


def test_keys_add_list_and_revoke(db: Database) -> None:
    secret, key_id = _new_key(["deploy bot", "--role", "editor"])
    access = AccessService()
    with db.session() as session:
        caller = access.authenticate_key(session, secret)
        assert caller is not None
        assert (caller.id, caller.name, caller.role, caller.event_id) == (
            key_id, "deploy bot", Role.EDITOR, None)
        # the table holds the sha256 only: the key itself appears in no column
        stored = session.execute(text("SELECT * FROM api_keys")).all()
        assert not any(secret in str(value) for row in stored for value in row)
        assert digest(secret) in {row.key_hash for row in stored}

    listing = runner.invoke(app, ["keys", "list"], env=WIDE)
    assert listing.exit_code == 0, listing.output
    row = _rows(listing.stdout)[str(key_id)]
    assert row[1:4] == ["deploy bot", "editor", "all"]
    assert row[4] == f"{secret[:10]}…" and row[6] != "-"  # just used

    revoked = runner.invoke(app, ["keys", "revoke", str(key_id)])
    assert revoked.exit_code == 0, revoked.output
    with db.session() as session:  # as a server that has not trusted the key lately sees it
        assert AccessService().authenticate_key(session, secret) is None
    assert str(key_id) not in _rows(runner.invoke(app, ["keys", "list"], env=WIDE).stdout)
    again = runner.invoke(app, ["keys", "revoke", str(key_id)])
    assert again.exit_code == 1 and f"API key {key_id} does not exist" in again.output


def test_an_event_limited_key(db: Database) -> None:
    with db.session() as session:
        event_id = events.create_event(session, "gala").id
        session.commit()
    secret, key_id = _new_key(["gala photographer", "--role", "editor", "--event",
                               str(event_id)])
    with db.session() as session:
        caller = AccessService().authenticate_key(session, secret)
        assert caller is not None and caller.event_id == event_id
    listing = runner.invoke(app, ["keys", "list"], env=WIDE)
    assert _rows(listing.stdout)[str(key_id)][3] == str(event_id)
    unknown = runner.invoke(app, ["keys", "add", "x", "--role", "viewer", "--event", "424242"])
    assert unknown.exit_code == 1 and "event 424242 does not exist" in unknown.output


def test_a_bad_role_is_refused(db: Database) -> None:
    for command in (["keys", "add", "x", "--role", "owner"],
                    ["users", "add", "x", "--role", "root"]):
        result = runner.invoke(app, command, input="secret123\n")
        assert result.exit_code == 2, result.output
        assert "--role" in result.output and "viewer" in result.output
    with db.session() as session:
        assert AccessService().users(session) == []
        assert "x" not in [key.name for key in AccessService().keys(session)]


def test_users_add_list_set_password_and_remove(db: Database) -> None:
    added = runner.invoke(app, ["users", "add", "alice", "--role", "admin"],
                          input="secret123\n")
    assert added.exit_code == 0, added.output
    assert "added alice" in added.stdout and "secret123" not in added.output
    access = AccessService()
    with db.session() as session:
        login = access.login(session, "alice", "secret123")
        assert login is not None and login.user.role == Role.ADMIN
        assert access.authenticate_session(session, login.token) is not None
        token = login.token

    taken = runner.invoke(app, ["users", "add", "Alice", "--role", "viewer"],
                          input="another-pass\n")
    assert taken.exit_code == 1 and "taken" in taken.output
    listing = runner.invoke(app, ["users", "list"], env=WIDE)
    assert listing.exit_code == 0, listing.output
    (row,) = _rows(listing.stdout).values()
    assert row[1:3] == ["alice", "admin"]

    changed = runner.invoke(app, ["users", "set-password", "alice"], input="better-secret\n")
    assert changed.exit_code == 0, changed.output
    with db.session() as session:
        assert access.login(session, "alice", "secret123") is None
        assert access.authenticate_session(session, token) is None  # sessions ended
        assert access.login(session, "alice", "better-secret") is not None
    unknown = runner.invoke(app, ["users", "set-password", "bob"], input="better-secret\n")
    assert unknown.exit_code == 1 and "no user is called 'bob'" in unknown.output

    kept = runner.invoke(app, ["users", "remove", "alice"], input="n\n")
    assert kept.exit_code == 1
    removed = runner.invoke(app, ["users", "remove", "alice", "--yes"])
    assert removed.exit_code == 0, removed.output
    with db.session() as session:
        assert access.users(session) == []
        assert access.login(session, "alice", "better-secret") is None
    gone = runner.invoke(app, ["users", "remove", "alice", "--yes"])
    assert gone.exit_code == 1 and "no user is called 'alice'" in gone.output


def test_a_short_or_missing_password_is_refused(db: Database) -> None:
    short = runner.invoke(app, ["users", "add", "bob", "--role", "viewer"], input="short\n")
    assert short.exit_code == 1
    assert "at least 8 characters" in short.output and "Traceback" not in short.output
    empty = runner.invoke(app, ["users", "add", "bob", "--role", "viewer"], input="")
    assert empty.exit_code == 1 and "no password" in empty.output
    with db.session() as session:
        assert AccessService().users(session) == []
