"""With DEBUG off (production), missing pages and server errors are styled and translated."""
import pytest
from django.test import Client
from django.urls import reverse


@pytest.mark.django_db
def test_a_missing_page_is_explained_in_the_ui_language(settings, alice):
    settings.DEBUG = False
    client = Client()
    response = client.get("/no-such-page/")
    assert response.status_code == 404
    page = response.content.decode()
    assert "ページが見つかりません" in page and 'class="site-header"' in page and reverse("home") in page
    client.force_login(alice)
    page = client.get(f"/training/runs/{'0' * 8}-0000-0000-0000-{'0' * 12}/").content.decode()
    assert "ページが見つかりません" in page and reverse("dashboard") in page


def test_the_server_error_page_renders_on_its_own():
    from django.template.loader import render_to_string
    from django.utils import translation

    with translation.override("ja"):
        page = render_to_string("500.html")  # no request, no context: what Django's server_error view does
    assert "エラーが発生しました" in page and "<html" in page
