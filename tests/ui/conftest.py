"""The web UI in a real browser: Debian's Chromium driven by Playwright, against the real
app served by uvicorn on loopback (its own job worker, the tests' database and engine).

Every page a test opens is watched: a console error or an uncaught exception fails the
test. Screenshots go to $LIKENESS_SCREENSHOTS (default: a temporary folder, printed)."""

from __future__ import annotations

import os
import shutil
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest
import uvicorn
from playwright.sync_api import Browser, BrowserContext, ConsoleMessage, Page, sync_playwright
from sqlalchemy import text

from likeness.api import create_app
from likeness.config import Settings
from likeness.engine import FaceEngine
from likeness.enums import Role
from likeness.services.access import AccessService
from likeness.store import Database
from tests.conftest import free_port

CHROMIUM = os.environ.get("LIKENESS_CHROMIUM", "/usr/bin/chromium")
PASSWORD = "correct horse battery"
PHONE = {"width": 375, "height": 812}
DESKTOP = {"width": 1280, "height": 900}


@pytest.fixture(scope="session")
def server(settings: Settings, engine: FaceEngine, database: Database) -> Iterator[str]:
    """The app on a free loopback port, with its worker, for the whole session."""
    app = create_app(settings.model_copy(update={"worker_in_serve": True,
                                                 "keep_originals": True}),
                     engine=engine, database=database)
    port = free_port()
    config = uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning")
    web = uvicorn.Server(config)
    thread = threading.Thread(target=web.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not web.started:
        assert time.monotonic() < deadline, "the UI server did not start"
        time.sleep(0.05)
    yield f"http://127.0.0.1:{port}"
    web.should_exit = True
    thread.join(10)


@pytest.fixture(scope="session")
def browser() -> Iterator[Browser]:
    if not shutil.which(CHROMIUM) and not Path(CHROMIUM).exists():
        pytest.fail(f"the browser tests need Chromium at {CHROMIUM}: apt-get install chromium "
                    "(or set LIKENESS_CHROMIUM)")
    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=CHROMIUM,
                                              args=["--no-sandbox"])
        yield launched
        launched.close()


@pytest.fixture(scope="session")
def screenshots(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = Path(os.environ.get("LIKENESS_SCREENSHOTS") or
                  tmp_path_factory.mktemp("screenshots"))
    folder.mkdir(parents=True, exist_ok=True)
    print(f"\nscreenshots: {folder}")
    return folder


@pytest.fixture
def users(db: Database) -> dict[Role, str]:
    """One user per role, each called after it, with PASSWORD."""
    with db.session() as session:
        for role in Role:
            AccessService().add_user(session, role.value, PASSWORD, role)
    return {role: role.value for role in Role}


@dataclass
class Watched:
    """A browser page whose console errors and uncaught exceptions are collected."""

    page: Page
    base: str
    errors: list[str] = field(default_factory=list)

    def go(self, path: str) -> Page:
        self.page.goto(self.base + path)
        return self.page

    def shot(self, folder: Path, name: str) -> Path:
        path = folder / f"{name}.png"
        self.page.screenshot(path=str(path), full_page=True)
        return path


@pytest.fixture
def open_page(server: str, browser: Browser, users: dict[Role, str]
              ) -> Iterator[Callable[..., Watched]]:
    """open_page(role=Role.ADMIN, viewport=DESKTOP, login=True): a fresh browser context,
    signed in through the login form as that role's user."""
    contexts: list[BrowserContext] = []
    watched: list[Watched] = []

    def opened(role: Role | None = Role.ADMIN, viewport: dict[str, int] = DESKTOP,
               **options: object) -> Watched:
        context = browser.new_context(viewport=viewport, **options)  # type: ignore[arg-type]
        contexts.append(context)
        page = context.new_page()
        page.set_default_timeout(30_000)
        seen = Watched(page, server)
        page.on("console", lambda message: _console(seen, message))
        page.on("pageerror", lambda error: seen.errors.append(f"uncaught: {error}"))
        watched.append(seen)
        if role is not None:
            seen.go("/ui/login")
            page.get_by_label("Username").fill(users[role])
            page.get_by_label("Password").fill(PASSWORD)
            page.get_by_role("button", name="Sign in").click()
            page.wait_for_url(f"{server}/ui")
        return seen

    yield opened
    for context in contexts:
        context.close()
    errors = [error for seen in watched for error in seen.errors]
    assert not errors, "the browser logged errors:\n" + "\n".join(errors)


def wait_for_jobs(db: Database, task: str, timeout: float = 90) -> None:
    """Until no job of `task` waits or runs (the server's worker has done them all)."""
    deadline = time.monotonic() + timeout
    while True:
        with db.engine.connect() as connection:
            busy = connection.execute(text(
                "SELECT count(*) FROM procrastinate_jobs WHERE task_name = :task "
                "AND status IN ('todo', 'doing')"), {"task": task}).scalar_one()
        if not busy:
            return
        assert time.monotonic() < deadline, f"{task} jobs still busy after {timeout} s"
        time.sleep(0.2)


def _console(seen: Watched, message: ConsoleMessage) -> None:
    if message.type == "error":
        seen.errors.append(f"console: {message.text} ({message.location.get('url')})")
