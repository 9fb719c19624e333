"""A real browser for tests: Debian's chromium (/usr/bin/chromium), driven by Playwright.

Use the ``browser_page`` fixture (conftest.py loads this module as a pytest plugin): ask for it.

    def test_page(browser_page):
        browser_page.goto(url)
        browser_page.get_by_text("changed").wait_for()

Or, outside a fixture, ``with chromium_page() as page: ...``. Both skip the test with a
one-line reason when chromium is missing (`.ci/run` installs it), never download a browser,
start it with a fresh profile in a temp folder, and always close it.
"""
from __future__ import annotations

import os
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

CHROMIUM = Path(os.environ.get("PYSHIM_CHROMIUM", "/usr/bin/chromium"))
# No network of its own (updates, sync, QUIC probes), no GPU, no first-run UI: a quiet test browser.
CHROMIUM_FLAGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
]
PAGE_TIMEOUT_MS = 30_000


def skip_reason() -> str | None:
    """Why a browser test cannot run here, or None when it can."""
    if not os.access(CHROMIUM, os.X_OK):
        return f"no chromium at {CHROMIUM}: apt-get install chromium (.ci/run does)"
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        return "playwright is not installed: pip install -e '.[test]' (make setup does)"
    return None


@contextmanager
def chromium_page() -> Iterator[object]:
    """A playwright Page in a headless chromium with a throwaway profile; closed on exit."""
    reason = skip_reason()
    if reason:
        pytest.skip(reason)
    from playwright.sync_api import sync_playwright

    with tempfile.TemporaryDirectory(prefix="pyshim-chromium-") as profile, sync_playwright() as pw:
        context = pw.chromium.launch_persistent_context(
            profile, executable_path=str(CHROMIUM), headless=True, args=CHROMIUM_FLAGS,
        )
        try:
            page = context.pages[0] if context.pages else context.new_page()
            page.set_default_timeout(PAGE_TIMEOUT_MS)
            yield page
        finally:
            context.close()


@pytest.fixture
def browser_page() -> Iterator[object]:
    """A fresh chromium page per test (see the module docstring)."""
    with chromium_page() as page:
        yield page
