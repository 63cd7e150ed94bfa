"""django-rq's dashboard can delete, requeue or stop any job: only superusers reach it, both at
/admin/rq/ and where django-rq registers it in the admin. Instructors (staff, not superusers)
still see and manage runs through the training admin."""
import pytest
from django.urls import reverse

from tests.factories import make_user

pytestmark = pytest.mark.django_db

JOB = "run-1-1"
READS = ["/admin/rq/", "/admin/rq/queues/0/", f"/admin/rq/queues/0/{JOB}/", "/admin/rq/stats.json",
         "/admin/rq/workers/0/", "/admin/django_rq/dashboard/", f"/admin/django_rq/dashboard/queues/0/{JOB}/"]
ACTIONS = [f"/admin/rq/queues/0/{JOB}/delete/", f"/admin/rq/queues/0/{JOB}/requeue/",
           f"/admin/rq/queues/0/{JOB}/stop/", "/admin/rq/queues/0/empty/", "/admin/rq/queues/0/requeue-all/",
           "/admin/rq/queues/actions/0/", f"/admin/django_rq/dashboard/queues/0/{JOB}/delete/",
           f"/admin/django_rq/dashboard/queues/0/{JOB}/requeue/", "/admin/django_rq/dashboard/queues/0/empty/"]


@pytest.mark.parametrize("path", READS + ACTIONS)
def test_an_instructor_gets_403_on_every_rq_page_and_action(client, carol, path):
    client.force_login(carol)
    response = client.post(path, {"job_ids": [JOB], "action": "delete", "post": "yes"}) if path in ACTIONS \
        else client.get(path)
    assert response.status_code == 403, path


@pytest.mark.parametrize("path", ["/admin/rq/", ACTIONS[0], "/admin/django_rq/dashboard/"])
def test_anonymous_visitors_are_sent_to_the_admin_login(client, path):
    response = client.get(path)
    assert response.status_code == 302 and response.url.startswith(reverse("admin:login"))


def test_a_student_gets_403(client, alice):
    client.force_login(alice)
    assert client.get("/admin/rq/").status_code == 403


def test_a_superuser_sees_the_dashboard(client, redis_conn):
    boss = make_user("boss", is_staff=True, is_superuser=True)
    client.force_login(boss)
    assert client.get("/admin/rq/").status_code == 200
    assert client.get("/admin/rq/queues/0/").status_code == 200
    assert "/admin/django_rq/dashboard/" in client.get("/admin/").content.decode()


def test_the_admin_index_hides_the_rq_link_from_instructors_but_keeps_the_runs(client, carol):
    client.force_login(carol)
    page = client.get("/admin/").content.decode()
    assert "/admin/django_rq/" not in page
    assert "/admin/training/trainingrun/" in page
    assert client.get("/admin/training/trainingrun/").status_code == 200
