"""Browser tests: Debian's chromium, driven by Playwright, against a real stack.

The stack is the one `make run` starts, minus its launcher: gunicorn and a Celery worker
(processing and maintenance queues) as processes of their own, on the test run's
PostgreSQL, Redis and S3. They read the test database, so tests here are transactional:
what a test creates through factories or services is what the browser sees, and what the
browser does is what the test finds in the rows and in S3.

Tests find things by role and accessible name only, never by CSS class, so they check the
names people with screen readers get. `shot(page, "step")` writes a screenshot of a step
into the artefacts folder (`var/test-artifacts/browser/<test>/`, or $BROWSER_ARTIFACTS).
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from celery import current_app
from django.conf import settings
from playwright.sync_api import sync_playwright

from tests.e2e.web import WebServer, database_url, web_server

CHROMIUM = os.environ.get("CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking"]
ARTIFACTS = Path(os.environ.get("BROWSER_ARTIFACTS", Path(settings.BASE_DIR) / "var" / "test-artifacts" / "browser"))
PASSWORD = "correct horse battery staple"
# The stack's worker, by name, so that asking it whether it is idle waits for its answer only.
WORKER = f"browser-{os.getpid()}@tests"


def pytest_collection_modifyitems(items):
    for item in items:
        if f"{os.sep}tests{os.sep}browser{os.sep}" in str(item.path):
            item.add_marker(pytest.mark.slow)
            item.add_marker(pytest.mark.browser)
            item.add_marker(pytest.mark.django_db(transaction=True))


@pytest.fixture(autouse=True)
def _fast_password_hasher():
    """Passwords set here are checked by the web process, which knows only the real hashers."""


@pytest.fixture(scope="session")
def chromium_path() -> str:
    if not os.access(CHROMIUM, os.X_OK):
        pytest.fail(
            f"The browser tests need Debian's chromium at {CHROMIUM} and it is not there. "
            "`make test` installs it when run as root; otherwise: sudo apt-get install chromium "
            "(or set CHROMIUM to another chromium binary).",
            pytrace=False,
        )
    return CHROMIUM


@pytest.fixture(scope="session")
def stack(django_db_setup, django_db_blocker, tmp_path_factory) -> Iterator[WebServer]:
    """gunicorn and a Celery worker on the test database, for the whole browser session."""
    tmp = tmp_path_factory.mktemp("browser-stack")
    # Webhook tests deliver to a receiver on this machine, which is refused by default.
    env = {
        **os.environ,
        "DATABASE_URL": database_url(settings.DATABASES["default"]),
        "LOG_LEVEL": "WARNING",
        "WEBHOOK_ALLOW_PRIVATE_NETWORKS": "1",
    }
    log = open(tmp / "worker.log", "ab")  # noqa: SIM115 - kept open for the worker's life
    worker = subprocess.Popen(
        [sys.executable, "-m", "celery", "-A", "mediaportal", "worker", "-Q", "processing,maintenance,webhooks",
         "--concurrency=2", "--without-mingle", "--without-gossip", "-n", WORKER,
         "--loglevel=WARNING"],
        cwd=settings.BASE_DIR, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
    )  # fmt: skip
    web_env = {name: env[name] for name in ("DATABASE_URL", "WEBHOOK_ALLOW_PRIVATE_NETWORKS")}
    try:
        with django_db_blocker.unblock(), web_server(tmp, env=web_env) as server:
            yield server
    finally:
        worker.terminate()
        try:
            worker.wait(20)
        except subprocess.TimeoutExpired:
            worker.kill()
        log.close()


@pytest.fixture(scope="module")
def browser(chromium_path):
    """One chromium per test module. Playwright's sync API keeps an event loop running in
    this thread while it is open, which Django takes for async code: the tests' own ORM calls
    (factories, assertions on rows) are plain synchronous code, so they are allowed for as long
    as the browser lives, and only then (the module scope ends the loop before other tests)."""
    os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = "true"
    try:
        with sync_playwright() as playwright:
            instance = playwright.chromium.launch(executable_path=chromium_path, args=CHROMIUM_ARGS)
            yield instance
            instance.close()
    finally:
        os.environ.pop("DJANGO_ALLOW_ASYNC_UNSAFE", None)


@pytest.fixture
def new_page(browser, stack, request):
    """Pages of fresh browser contexts (a context is a logged-out browser of its own)."""
    contexts = []

    def make(*, width: int = 1280, height: int = 860):
        context = browser.new_context(
            base_url=stack.url, viewport={"width": width, "height": height}, accept_downloads=True
        )
        context.set_default_timeout(15_000)
        contexts.append(context)
        return context.new_page()

    yield make
    for context in contexts:
        context.close()
    _wait_until_the_worker_is_idle()


def _wait_until_the_worker_is_idle(timeout: float = 60) -> None:
    """The database is emptied after each test, which must not meet a task still writing
    (TRUNCATE against a task's row locks deadlocks): wait for the worker to finish what
    the test set off."""
    # Addressed to one worker with a limit of one reply, each question returns as soon as it
    # answers; a broadcast would wait out its whole timeout for replies that never come.
    inspect = current_app.control.inspect(destination=[WORKER], limit=1, timeout=5)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        active = inspect.active() or {}
        reserved = inspect.reserved() or {}
        if active and not any(active.values()) and not any(reserved.values()):
            return
        time.sleep(0.2)


@pytest.fixture
def page(new_page):
    return new_page()


@pytest.fixture
def shot(request):
    """shot(page, "name"): a screenshot of this step, kept as a test artefact."""
    folder = ARTIFACTS / _safe(request.node.name)
    counter = iter(range(1, 1000))

    def take(page, name: str) -> Path:
        folder.mkdir(parents=True, exist_ok=True)
        path = folder / f"{next(counter):02d}-{_safe(name)}.png"
        page.screenshot(path=str(path), full_page=True)
        return path

    return take


def _safe(name: str) -> str:
    return re.sub(r"[^\w.-]+", "_", name)


def log_in(page, username: str, password: str = PASSWORD) -> None:
    """Signs in through the login page and waits for the teams page."""
    page.goto("/login/")
    page.get_by_label("Username or e-mail").fill(username)
    page.get_by_label("Password", exact=True).fill(password)
    page.get_by_role("button", name="Log in").click()
    page.wait_for_url(re.compile(r"^https?://[^/]+/(t/[^/]+/)?$"))
