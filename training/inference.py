"""The web side of inference: per-student limits, then a job on the `inference` queue and a
short wait for its answer. The web process never loads a model (training/inference_tasks.py
says what the workers do and how to add a task).

`inference_call(user, task, payload)` returns the task's result or raises:
- InferenceRefused (status 429): the student already has a request in flight, or made more
  than INFERENCE_RATE_PER_MINUTE this minute;
- InferenceBusy (status 503): the queue is full, Redis is unreachable, or no worker answered
  within INFERENCE_WAIT_SECONDS ("busy, try again");
- InferenceFailed (status 500): the worker failed on it (a bug, a broken model file);
- InferenceEngineError: the engine refused the input (code and params, for the caller to word).

Limits live in Redis (keys below PREFIX): a per-student in-flight key whose value is the job id
(released by the caller when it has the answer or withdrew the job, else by the worker when the
job ends, else by its TTL), and a per-student counter that expires a minute after its first
request. In each web process, at most INFERENCE_WAITING_PER_PROCESS threads wait for an answer
at once; another request is answered "busy" at once, so the process's other threads stay free
for pages (a gunicorn gthread worker queues a new connection behind its busy threads).

Fair share: a student who tried more than INFERENCE_FAIR_SHARE_PER_MINUTE requests this minute
(answered or not: a script, a flood) goes to the back. Their requests wait in a queue of their
own, `inference-bulk`, which the inference workers serve only when `inference` is empty, and
may hold at most half of a web process's waiting threads, and wait a quarter as long (a
generation stops at its requester's deadline, so their jobs hold a worker a quarter as long);
so the students who ask now and then are answered first and find a waiting thread free.
"""
import logging
import threading
import time
import uuid

import django_rq
from django.utils.translation import gettext as _
from redis.exceptions import RedisError
from rq.job import Job, JobStatus
from rq.results import Result

from training import conf

log = logging.getLogger(__name__)

QUEUE_NAME = "inference"
BULK_QUEUE_NAME = "inference-bulk"  # over the fair share: served when QUEUE_NAME is empty
BULK_WAIT_DIVISOR = 4  # over the fair share, a request waits (and its generation runs) a quarter as long
JOB_FUNCTION = "training.inference_tasks.run_task"
PREFIX = "llmschool:inference"
RESULT_TTL = 60
RATE_WINDOW_SECONDS = 60
BLOCK_STEP_SECONDS = 3.0

_waiting = None  # the process's semaphore of waiting threads (made on first use, from the setting)
_waiting_heavy = None  # ... of those, the ones students over their fair share may hold
_waiting_lock = threading.Lock()


def waiting_slots() -> threading.BoundedSemaphore:
    global _waiting
    with _waiting_lock:
        if _waiting is None:
            _waiting = threading.BoundedSemaphore(conf.inference_waiting_per_process())
        return _waiting


def heavy_waiting_slots() -> threading.BoundedSemaphore:
    """The waiting threads a student over their fair share may take: half of them (at least one)."""
    global _waiting_heavy
    with _waiting_lock:
        if _waiting_heavy is None:
            _waiting_heavy = threading.BoundedSemaphore(max(1, conf.inference_waiting_per_process() // 2))
        return _waiting_heavy


def over_fair_share(user_id) -> bool:
    """Count this attempt and say whether the student tried more than their fair share of requests
    this minute. Attempts answered "busy" count too: a flood that is mostly refused still floods.
    (Unknown when Redis is unreachable: the request then fails as busy anyway.)"""
    try:
        count = _count_in_window(connection(), attempts_key(user_id))
    except RedisError:
        return False
    return count > conf.inference_fair_share_per_minute()


# Counts one more in a window that ends RATE_WINDOW_SECONDS after its first (one round trip).
_COUNT = ("local n = redis.call('incr', KEYS[1]) if redis.call('ttl', KEYS[1]) < 0 then "
          "redis.call('expire', KEYS[1], ARGV[1]) end return n")


def _count_in_window(redis, key: str) -> int:
    """One more in `key`'s window (the rate limit and the fair share both count this way)."""
    return int(redis.eval(_COUNT, 1, key, RATE_WINDOW_SECONDS))

# Deletes the in-flight key only while it still names this job (a later request may own it).
_RELEASE = "if redis.call('get', KEYS[1]) == ARGV[1] then return redis.call('del', KEYS[1]) else return 0 end"


class InferenceError(Exception):
    status = 500
    code = "inference_failed"

    def __init__(self, message: str, *, code: str | None = None, params: dict | None = None):
        super().__init__(message)
        self.message = message
        self.code = code or self.code
        self.params = params or {}


class InferenceRefused(InferenceError):
    status = 429


class InferenceBusy(InferenceError):
    status = 503
    code = "busy"


class InferenceFailed(InferenceError):
    status = 500


class InferenceEngineError(InferenceError):
    """The engine refused the input; `code` and `params` are the engine's."""
    status = 400


def inflight_key(user_id) -> str:
    return f"{PREFIX}:inflight:{user_id}"


def rate_key(user_id) -> str:
    return f"{PREFIX}:rate:{user_id}"


def attempts_key(user_id) -> str:
    return f"{PREFIX}:attempts:{user_id}"


def connection():
    return django_rq.get_connection(QUEUE_NAME)


def inference_queue(*, bulk: bool = False):
    # commit_mode="auto": the web request waits for the job, it cannot wait for a commit.
    return django_rq.get_queue(BULK_QUEUE_NAME if bulk else QUEUE_NAME, commit_mode="auto", connection=connection())


def with_bulk_queue(queues: list) -> list:
    """The queues an inference worker serves: after `inference`, `inference-bulk` (so that
    `rqworker inference` serves both, the students within their fair share first)."""
    names = [queue if isinstance(queue, str) else queue.name for queue in queues]
    if QUEUE_NAME not in names or BULK_QUEUE_NAME in names:
        return list(queues)
    at = names.index(QUEUE_NAME) + 1
    main = queues[at - 1]
    bulk = BULK_QUEUE_NAME if isinstance(main, str) else type(main)(
        BULK_QUEUE_NAME, connection=main.connection, serializer=main.serializer)
    return [*queues[:at], bulk, *queues[at:]]


def busy_message() -> str:
    return _("The models are busy right now. Please try again in a few seconds.")


def inference_call(user, task: str, payload: dict, *, wait: float | None = None):
    """Run `task` with `payload` (plain values) on an inference worker, within the user's limits."""
    wait = conf.inference_wait_seconds() if wait is None else wait
    heavy = over_fair_share(user.pk)
    if heavy:  # a quarter of the wait: its generation stops by then, freeing the worker for the others
        wait = wait / BULK_WAIT_DIVISOR
    held = []
    try:
        for slots in ((heavy_waiting_slots(), waiting_slots()) if heavy else (waiting_slots(),)):
            if not slots.acquire(blocking=False):
                raise InferenceBusy(busy_message())
            held.append(slots)
        return _call(user, task, payload, wait, heavy=heavy)
    finally:
        for slots in held:
            slots.release()


def _call(user, task: str, payload: dict, wait: float, *, heavy: bool = False):
    try:
        redis = connection()
        _count_request(redis, user.pk)
        job_id = f"inference-{uuid.uuid4().hex}"
        if not redis.set(inflight_key(user.pk), job_id, nx=True, ex=int(wait + conf.inference_job_timeout()) + 5):
            raise InferenceRefused(_("Your previous request is still running. Wait for its answer, then try again."),
                                   code="in_flight")
        try:
            job = _enqueue(task, payload, job_id, wait, inflight_key(user.pk), heavy=heavy)
        except BaseException:
            redis.eval(_RELEASE, 1, inflight_key(user.pk), job_id)
            raise
        return _answer(redis, job, user.pk, wait)
    except RedisError as exc:
        log.warning("inference %s: Redis unreachable (%s)", task, exc)
        raise InferenceBusy(busy_message()) from None


def _count_request(redis, user_id) -> None:
    count = _count_in_window(redis, rate_key(user_id))
    limit = conf.inference_rate_per_minute()
    if count > limit:
        raise InferenceRefused(_("You sent too many requests (at most %(limit)s a minute). Wait a moment, then try "
                                 "again.") % {"limit": limit}, code="rate_limited", params={"limit": limit})


def _enqueue(task: str, payload: dict, job_id: str, wait: float, key: str, *, heavy: bool = False) -> Job:
    queue = inference_queue(bulk=heavy)
    limit = conf.inference_max_queued()
    if queue.count >= (max(1, limit // 2) if heavy else limit):  # over the fair share: half as many wait
        raise InferenceBusy(busy_message())
    return queue.enqueue_call(
        func=JOB_FUNCTION, args=(task, payload), job_id=job_id,
        timeout=conf.inference_job_timeout(),
        ttl=max(1, int(wait) + 1),  # a job nobody waits for any more is dropped from the queue
        result_ttl=RESULT_TTL, failure_ttl=RESULT_TTL,
        description=f"inference {task}",
        # When the request stops waiting: the worker skips the job after it, and a generation
        # stops a little before it (training/inference_tasks.py).
        meta={"release": key, "deadline": time.time() + wait},
    )


def _answer(redis, job: Job, user_id, wait: float):
    """Wait for the job's result; withdraw it on timeout. The in-flight key is released here,
    or, when the job was already running, by the worker when it ends (until then the student
    may not start another)."""
    key = inflight_key(user_id)
    result = _wait_for_result(redis, job, wait)
    if result is None:
        try:
            running = job.get_status(refresh=True) == JobStatus.STARTED
        except Exception:  # the job hash expired (its ttl) or is half deleted: not running
            running = False
        if not running:
            _withdraw(job)
            redis.eval(_RELEASE, 1, key, job.id)
        raise InferenceBusy(busy_message())
    redis.eval(_RELEASE, 1, key, job.id)
    if result.type != Result.Type.SUCCESSFUL:
        log.warning("inference job %s failed: %s", job.id, (result.exc_string or "")[-2000:])
        raise InferenceFailed(_("The model could not answer. Try again, or pick another model."))
    answer = result.return_value or {}
    if "error" in answer:
        error = answer["error"]
        raise InferenceEngineError(_("The model could not answer. Try again, or pick another model."),
                                   code=error.get("code") or "engine_error", params=error.get("params") or {})
    return answer["result"]


def _wait_for_result(redis, job: Job, wait: float) -> Result | None:
    """Block on the job's result stream (no polling) until it has an entry or `wait` passes,
    in steps shorter than the Redis client's socket timeout (5 s by default)."""
    deadline = time.monotonic() + wait
    stream = Result.get_key(job.id)
    while True:
        left = deadline - time.monotonic()
        if left <= 0:
            return None
        if redis.xread({stream: "0-0"}, count=1, block=max(1, int(min(left, BLOCK_STEP_SECONDS) * 1000))):
            return Result.fetch_latest(job, serializer=job.serializer)


def _withdraw(job: Job) -> None:
    try:
        job.cancel()
    except Exception:  # already gone (ttl), finished meanwhile, or never saved
        pass
    try:
        job.delete()
    except RedisError:
        pass


def release_after_job(job) -> None:
    """Called by the worker when a job ends: release the student's in-flight key (job.meta
    ["release"]) if it still names this job (the request may have given up waiting)."""
    key = (job.meta or {}).get("release") if job is not None else None
    if key:
        try:
            job.connection.eval(_RELEASE, 1, key, job.id)
        except RedisError:
            pass  # the key's TTL ends it
