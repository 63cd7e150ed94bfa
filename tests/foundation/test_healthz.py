import json


def test_it_reports_database_redis_and_workers(client, db, redis_conn):
    response = client.get("/healthz")
    assert response.status_code == 200
    report = json.loads(response.content)
    assert report["ok"] is True
    assert report["database"]["ok"] is True
    assert report["redis"] == {"ok": True}
    assert report["workers"]["count"] == 0


def test_it_counts_live_workers(client, start_worker):
    from tests.conftest import wait_for

    start_worker("default")

    def one_worker():
        return json.loads(client.get("/healthz").content)["workers"]["count"] == 1

    wait_for(one_worker, timeout=30, message="the worker to register")
    report = json.loads(client.get("/healthz").content)
    assert report["workers"]["queues"] == {"default": 1}
