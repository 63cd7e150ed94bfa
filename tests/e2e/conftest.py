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
