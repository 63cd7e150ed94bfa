"""Browser journeys: headless Chromium (Debian's, driven by Playwright) against a live
server, the suite's real Redis and a real RQ worker. Screenshots go to test-artifacts/."""
from pathlib import Path

import pytest

ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts" / "screenshots"


@pytest.fixture
def shoot(page):
    """shoot("name") saves a full-page screenshot as a test artifact."""
    ARTIFACTS.mkdir(parents=True, exist_ok=True)

    def take(name: str) -> Path:
        path = ARTIFACTS / f"{name}.png"
        # From the top, nothing focused: a scrolled page draws its sticky header mid-picture.
        page.evaluate("document.activeElement && document.activeElement.blur(); window.scrollTo(0, 0)")
        page.screenshot(path=str(path), full_page=True)
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
def private_dirs(settings, tmp_path):
    """Uploads and run files of this test only (the worker processes get the same folders)."""
    settings.MEDIA_ROOT = tmp_path / "media"
    settings.MODELS_DIR = tmp_path / "models"
    settings.MEDIA_ROOT.mkdir()
    settings.MODELS_DIR.mkdir()


class PageWatch:
    """Everything a page complains about while a journey runs: script errors, console errors
    (a CSP violation is one), dialogs (an injected alert() would be one) and server errors."""

    def __init__(self, page):
        self.problems = []
        page.on("pageerror", lambda error: self.problems.append(f"page error: {error}"))
        page.on("console", lambda message: message.type == "error" and self.problems.append(
            f"console: {message.text} at {message.location.get('url', '')}"))
        page.on("response", lambda response: response.status >= 500 and self.problems.append(
            f"HTTP {response.status}: {response.url}"))

        def on_dialog(dialog):
            self.problems.append(f"dialog: {dialog.type} {dialog.message}")
            dialog.dismiss()

        page.on("dialog", on_dialog)

    def assert_clean(self, allowed=()):
        problems = [p for p in self.problems if not any(a in p for a in allowed)]
        assert problems == []
