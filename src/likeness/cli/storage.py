"""Object storage: storage migrate (local blobs into the configured backend)."""

from __future__ import annotations

from typing import Annotated

import typer

from likeness.cli.common import console, failing_on_errors, load_settings, open_database

storage_app = typer.Typer(help="Object storage (LIKENESS_STORAGE, LIKENESS_S3_*).",
                          no_args_is_help=True)


def register(app: typer.Typer) -> None:
    app.add_typer(storage_app, name="storage")


@storage_app.command("migrate")
def migrate(delete_local: Annotated[bool, typer.Option(
        "--delete-local", help="Remove each local file once the database points at its copy"
        )] = False) -> None:
    """Move blobs kept on this machine (filesystem storage, videos uploaded before object
    storage) into the configured storage, S3 say, so that workers on other machines read
    them. Safe to stop and run again; the service may keep running."""
    from likeness.services.blobs import BlobMigration
    from likeness.storage import ObjectStorage

    settings = load_settings()
    with open_database(settings) as database, failing_on_errors():
        storage = ObjectStorage.from_settings(settings)
        migration = BlobMigration(storage, settings.legacy_uploads_dir, delete_local)
        with console.status("moving blobs..."):
            report = migration.run(database.sessions)
    console.print(f"{report.moved} blob(s) moved ({report.bytes / 1e6:.1f} MB) to "
                  f"{storage.default.scheme} storage"
                  + (f"; {report.changed_meanwhile} changed meanwhile (left)"
                     if report.changed_meanwhile else ""))
    for failure in report.failed:
        console.print(f"[red]{failure}[/]")
    if report.failed:
        raise typer.Exit(1)
