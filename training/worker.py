"""The RQ worker classes.

TrainingWorker serves the `training` queue: a forking rq.Worker that also runs the run
reconciler, at start and every TRAINING_RECONCILE_INTERVAL_SECONDS, whether it is idle (the
dequeue wait is cut to that interval) or busy (from the horse-monitoring loop). Started as
`manage.py rqworker training --worker-class training.worker.TrainingWorker`.

InferenceWorker serves the `inference` queue (lab and playground, training/inference_tasks.py):
a non-forking rq.SimpleWorker, so that the models it loaded stay loaded for the next request
(at most INFERENCE_MAX_LOADED_MODELS, least recently used first out). It also serves
`inference-bulk` (the requests of students over their fair share) when `inference` is empty. Started as
`manage.py rqworker inference --worker-class training.worker.InferenceWorker`; start as many
as the hosts have cores to spare, on any host that sees the Redis and the model storage.

scripts/run.py and the test fixtures start both automatically.
"""
import logging
import time

from django.db import connections
from redis.exceptions import ConnectionError as RedisConnectionError
from rq.worker import SimpleWorker, Worker

from training import conf
from training.priority import lower_priority

log = logging.getLogger(__name__)


class TrainingWorker(Worker):
    def __init__(self, *args, **kwargs):
        lower_priority()
        interval = conf.reconcile_interval_seconds()
        # RQ's own registry cleanup (abandoned jobs) as often as our reconciler, and the
        # horse monitor wakes up often enough to run it while a job is in progress.
        kwargs.setdefault("maintenance_interval", max(1, int(interval)))
        kwargs.setdefault("job_monitoring_interval", max(1, min(30, int(interval / 2))))
        super().__init__(*args, **kwargs)
        self._last_reconcile = None

    # Reconciler timing ---------------------------------------------------------------------

    @property
    def reconcile_due(self) -> bool:
        if self._last_reconcile is None:
            return True
        return time.monotonic() - self._last_reconcile >= conf.reconcile_interval_seconds()

    def reconcile(self) -> None:
        from training.reconciler import reconcile

        self._last_reconcile = time.monotonic()
        try:
            reconcile()
        except Exception:  # the worker must survive a bad reconcile pass
            log.exception("reconciler failed")
        finally:
            # The work horse is forked from this process: it must not inherit a DB connection.
            connections.close_all()

    @property
    def dequeue_timeout(self) -> int:
        return max(1, min(super().dequeue_timeout, int(conf.reconcile_interval_seconds())))

    @property
    def should_run_maintenance_tasks(self) -> bool:
        return super().should_run_maintenance_tasks or self.reconcile_due

    def run_maintenance_tasks(self):
        if super().should_run_maintenance_tasks:
            super().run_maintenance_tasks()
        if self.reconcile_due:
            self.reconcile()

    def bootstrap(self, *args, **kwargs):
        super().bootstrap(*args, **kwargs)
        log.info("training worker: reconciling runs at start")
        self.reconcile()
        self.queue_calibration()

    def queue_calibration(self) -> None:
        """Bases without a measured speed get a short calibration job (run by a work horse, so
        this process never loads torch before forking)."""
        from training.calibration import calibration_enqueue_missing

        if not conf.calibrate_at_start():
            return
        try:
            if calibration_enqueue_missing():
                log.info("training worker: queued the speed calibration of new base models")
        except Exception:  # the worker must start even if the database is not ready
            log.exception("could not queue the speed calibration")
        finally:
            connections.close_all()

    def maintain_heartbeats(self, job):
        try:
            super().maintain_heartbeats(job)
        except RedisConnectionError as exc:
            log.warning("training worker: Redis unreachable during a job (%s); the work horse trains on", exc)
        if self.reconcile_due:
            self.reconcile()

    # A Redis restart while a job runs must not end the worker: RQ's horse monitor lets the
    # ConnectionError of these bookkeeping writes escape and the worker quits, leaving no worker
    # for the next runs. The horse does not need them (the database is the source of truth).
    def set_current_job_working_time(self, *args, **kwargs):
        try:
            return super().set_current_job_working_time(*args, **kwargs)
        except RedisConnectionError as exc:
            log.warning("training worker: Redis unreachable (%s); job working time not recorded", exc)

    def set_state(self, *args, **kwargs):
        try:
            return super().set_state(*args, **kwargs)
        except RedisConnectionError as exc:
            log.warning("training worker: Redis unreachable (%s); worker state not recorded", exc)

    # Work horse ------------------------------------------------------------------------------

    def fork_work_horse(self, job, queue):
        connections.close_all()
        return super().fork_work_horse(job, queue)

    def handle_work_horse_killed(self, job, retpid, ret_val, rusage):
        super().handle_work_horse_killed(job, retpid, ret_val, rusage)
        from training.hooks import on_work_horse_killed

        try:
            outcome = on_work_horse_killed(job, retpid, ret_val, rusage)
            log.warning("training worker: horse of %s killed; run %s", job.id, outcome)
        except Exception:
            log.exception("could not record the lost work horse of %s", job.id)
        finally:
            connections.close_all()


class InferenceWorker(SimpleWorker):
    """Runs inference jobs in its own process: loaded models stay warm between requests."""

    def __init__(self, queues, *args, **kwargs):
        from training.inference import with_bulk_queue

        lower_priority()
        super().__init__(with_bulk_queue(queues), *args, **kwargs)

    def bootstrap(self, *args, **kwargs):
        super().bootstrap(*args, **kwargs)
        from training.engine import configure_inference, warm_up_inference

        warm_up_inference()  # no fork follows: torch and transformers are loaded once, before the first request
        configure_inference(max_models=conf.inference_max_loaded_models(), threads=conf.inference_torch_threads())
        log.info("inference worker: at most %s models loaded, %s torch threads", conf.inference_max_loaded_models(),
                 conf.inference_torch_threads() or "default")
