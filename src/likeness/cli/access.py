"""Access commands: keys add|list|revoke and users add|list|remove|set-password. They work
on the database directly and need no key: whoever can run them on the server is trusted."""

from __future__ import annotations

import sys
from typing import TYPE_CHECKING, Annotated

import typer

from likeness.cli.common import console, fail, failing_on_errors, load_settings, open_database
from likeness.enums import Role

if TYPE_CHECKING:
    from datetime import datetime

keys_app = typer.Typer(help="API keys for programs (HTTP and gRPC).", no_args_is_help=True)
users_app = typer.Typer(help="Users who log in with a password.", no_args_is_help=True)

RoleOption = Annotated[Role, typer.Option("--role", case_sensitive=False,
                                          help="viewer < editor < admin")]


def register(app: typer.Typer) -> None:
    app.add_typer(keys_app, name="keys")
    app.add_typer(users_app, name="users")


def _when(moment: datetime | None) -> str:
    return f"{moment:%Y-%m-%d %H:%M}" if moment else "-"


@keys_app.command("add")
def add_key(
    name: Annotated[str, typer.Argument(help="What the key is for")],
    role: RoleOption,
    event: Annotated[int | None, typer.Option("--event", help="Limit the key to this event")]
    = None,
) -> None:
    """Create an API key and print it (once: only its hash is stored)."""
    from likeness.services.access import AccessService

    with open_database(load_settings()) as database, database.session() as session, \
            failing_on_errors():
        new = AccessService().create_key(session, name, role, event_id=event,
                                         created_by="likeness keys add")
        key_id, event_id = new.key.id, new.key.event_id
    print(new.secret)
    console.print("[yellow]keep it now: this key is not shown again[/]", highlight=False)
    console.print(f"id {key_id}, role {role}, "
                  f"{f'event {event_id}' if event_id is not None else 'all events'}",
                  highlight=False)


@keys_app.command("list")
def list_keys() -> None:
    """The API keys that are not revoked."""
    from rich.table import Table

    from likeness.services.access import AccessService

    with open_database(load_settings()) as database, database.session() as session:
        keys = AccessService().keys(session)
        table = Table("id", "name", "role", "event", "prefix", "created", "last used",
                      title=f"{len(keys)} API key(s)")
        for key in keys:
            table.add_row(str(key.id), key.name, key.role,
                          str(key.event_id) if key.event_id is not None else "all",
                          f"{key.prefix}…", _when(key.created_at), _when(key.last_used_at))
    console.print(table)


@keys_app.command("revoke")
def revoke_key(key_id: Annotated[int, typer.Argument(help="The key's id (keys list)")]
               ) -> None:
    """Revoke an API key: it stops working at once."""
    from likeness.services.access import AccessService

    with open_database(load_settings()) as database, database.session() as session, \
            failing_on_errors():
        AccessService().revoke_key(session, key_id)
    console.print(f"revoked API key {key_id}")


def _password(prompt: str) -> str:
    """Asked twice at a terminal; otherwise one line of stdin (`echo ... | likeness ...`)."""
    if sys.stdin.isatty():
        return str(typer.prompt(prompt, hide_input=True, confirmation_prompt=True))
    line = sys.stdin.readline().rstrip("\r\n")
    if not line:
        raise fail("no password: type it at a terminal, or give it as a line on stdin")
    return line


@users_app.command("add")
def add_user(name: Annotated[str, typer.Argument(help="The username")],
             role: RoleOption) -> None:
    """Add a user; the password is asked for (or read as a line of stdin)."""
    from likeness.services.access import AccessService

    password = _password("Password")
    with open_database(load_settings()) as database, database.session() as session, \
            failing_on_errors():
        user = AccessService().add_user(session, name, password, role)
        user_id = user.id
    console.print(f"added {name} (id {user_id}, role {role})", highlight=False)


@users_app.command("list")
def list_users() -> None:
    """The users and their roles."""
    from rich.table import Table

    from likeness.services.access import AccessService

    with open_database(load_settings()) as database, database.session() as session:
        users = AccessService().users(session)
        table = Table("id", "username", "role", "created", title=f"{len(users)} user(s)")
        for user in users:
            table.add_row(str(user.id), user.username, user.role,
                          _when(user.created_at))
    console.print(table)


@users_app.command("remove")
def remove_user(name: Annotated[str, typer.Argument(help="The username")],
                yes: Annotated[bool, typer.Option("--yes", help="Do not ask")] = False
                ) -> None:
    """Remove a user; their sessions end."""
    from likeness.services.access import AccessService

    access = AccessService()
    with open_database(load_settings()) as database, database.session() as session, \
            failing_on_errors():
        user = access.user(session, name)
        if not yes and not typer.confirm(f"Remove the user {user.username} "
                                         f"({user.role})?"):
            raise typer.Exit(1)
        access.remove_user(session, name)
    console.print(f"removed {name}", highlight=False)


@users_app.command("set-password")
def set_password(name: Annotated[str, typer.Argument(help="The username")]) -> None:
    """Give a user a new password (asked for, or read as a line of stdin); their sessions
    end."""
    from likeness.services.access import AccessService

    access = AccessService()
    with open_database(load_settings()) as database, failing_on_errors():
        with database.session() as session:  # an unknown name fails before the prompt
            access.user(session, name)
        password = _password("New password")
        with database.session() as session:
            access.set_password(session, name, password)
    console.print(f"set the password of {name}; their sessions have ended", highlight=False)
