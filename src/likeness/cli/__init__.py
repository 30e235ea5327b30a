"""The `likeness` command line: thin wrappers over the services."""

from __future__ import annotations

from typing import Annotated

import typer

from likeness import __version__
from likeness.cli import access, clusters, events, faces, people, storage, streams, videos

app = typer.Typer(help="Likeness: self-hosted face recognition.", no_args_is_help=True,
                  pretty_exceptions_enable=False)
faces.register(app)
people.register(app)
videos.register(app)
events.register(app)
clusters.register(app)
access.register(app)
streams.register(app)
storage.register(app)


@app.callback(invoke_without_command=True)
def main(version: Annotated[bool, typer.Option("--version", help="Print the version")] = False
         ) -> None:
    if version:
        print(__version__)
        raise typer.Exit()


__all__ = ["app"]
