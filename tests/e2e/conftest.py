"""Browser journeys: headless Chromium (Debian's, driven by Playwright) against a live
server, the suite's real Redis and a real RQ worker. Screenshots go to test-artifacts/."""
from pathlib import Path

import pytest

ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts" / "screenshots"


@pytest.fixture
def shoot(page):
    """shoot("name") saves a full-page screenshot as a test artifact (full_page=False: the window only)."""
    ARTIFACTS.mkdir(parents=True, exist_ok=True)

    def take(name: str, full_page: bool = True) -> Path:
        path = ARTIFACTS / f"{name}.png"
        # From the top, nothing focused: a scrolled page draws its sticky header mid-picture.
        page.evaluate("document.activeElement && document.activeElement.blur(); window.scrollTo(0, 0)")
        page.screenshot(path=str(path), full_page=full_page)
        return path

    return take


@pytest.fixture
def seeded(transactional_db):
    """The seed course, quizzes, samples and base models, as `make run` loads them."""
    from django.core.management import call_command

    call_command("bootstrap", "--no-demo")


def login(page, live_server, username, password):
    page.goto(f"{live_server.url}/accounts/login/")
    page.fill("input[name=username]", username)
    page.fill("input[name=password]", password)
    page.click("main button[type=submit]")
    page.wait_for_url(f"{live_server.url}/dashboard/")


@pytest.fixture(autouse=True)
def private_dirs(private_dirs):
    """Uploads and run files of this test only (tests/conftest.py; the worker processes get the same folders)."""
    return private_dirs


class PageWatch:
    """Everything a page complains about while a journey runs: script errors, console errors
    (a CSP violation is one), dialogs (an injected alert() would be one) and server errors."""

    def __init__(self, page):
        self.problems = []
        page.on("pageerror", lambda error: self.problems.append(f"page error: {error}"))
        page.on("console", lambda message: message.type == "error" and self.problems.append(
            f"console: {message.text} at {message.location.get('url', '')}"))
        page.on("response", lambda response: response.status >= 400 and self.problems.append(
            f"HTTP {response.status}: {response.url}"))
        page.on("requestfailed", lambda request: self.problems.append(
            f"request failed: {request.method} {request.url} {request.failure}"))

        def on_dialog(dialog):
            self.problems.append(f"dialog: {dialog.type} {dialog.message}")
            dialog.dismiss()

        page.on("dialog", on_dialog)

    def assert_clean(self, allowed=(), abortable=("/training/runs/estimate/", "/status/?live=1")):
        """`abortable`: htmx requests that hx-sync="this:replace" or a page change may abort on
        purpose (a dataset's status poll in flight when the page reloads itself or is left); each abort also logs htmx:sendAbort and htmx:afterRequest to the console."""
        problems = [p for p in self.problems if not any(a in p for a in allowed)]
        aborts = [p for p in problems if "ERR_ABORTED" in p and any(a in p for a in abortable)]
        problems = [p for p in problems if p not in aborts]
        for event in ("htmx:sendAbort", "htmx:afterRequest"):
            for _ in aborts:
                match = next((p for p in problems if p.startswith(f"console: {event},")), None)
                if match:
                    problems.remove(match)
        assert problems == [], "\n".join(problems)
