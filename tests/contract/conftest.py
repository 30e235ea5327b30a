"""The live server every contract test talks to: one per session, seeded with a little data."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.contract import live


@pytest.fixture(scope="session")
def live_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[live.LiveServer]:
    server = live.start(tmp_path_factory.mktemp("live"))
    try:
        server.seeded = live.seed(server)
        yield server
    finally:
        live.stop(server)
