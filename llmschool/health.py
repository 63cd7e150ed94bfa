"""What /healthz reports: can we reach the database and Redis, and how many RQ workers live."""
from django.db import connection


def _database() -> dict:
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
        return {"ok": True, "vendor": connection.vendor}
    except Exception as exc:  # any driver error means "down"
        return {"ok": False, "error": exc.__class__.__name__}


def _redis_and_workers() -> tuple[dict, dict]:
    import django_rq
    from rq import Worker

    try:
        conn = django_rq.get_connection("default")
        conn.ping()
    except Exception as exc:
        return {"ok": False, "error": exc.__class__.__name__}, {"count": 0, "queues": {}}
    workers = Worker.all(connection=conn)
    per_queue: dict[str, int] = {}
    for worker in workers:
        for name in worker.queue_names():
            per_queue[name] = per_queue.get(name, 0) + 1
    return {"ok": True}, {"count": len(workers), "queues": per_queue}


def health_report() -> dict:
    database = _database()
    redis, workers = _redis_and_workers()
    return {"ok": database["ok"] and redis["ok"], "database": database, "redis": redis, "workers": workers}
