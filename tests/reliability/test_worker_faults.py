"""Faults around the training worker, with real processes: a real Redis, real `rqworker`
processes (FaultWorker, see faultworker.py), real tiny training. tests/training covers the
plain cases (horse SIGKILL between checkpoints, the whole worker killed, cancel, an attempt
that lost the run); these cover what happens in between:

- only the worker's parent killed, its work horse orphaned and still training;
- the horse SIGKILLed while it writes a checkpoint;
- cancel while a checkpoint is being written (the horse is killed after the grace period);
- the disk full (ENOSPC) during a checkpoint; MemoryError during a checkpoint;
- the job's time limit.

Each ends with the run finished, resumed or failed with a reason, never stuck, published at
most once, and no checkpoint lost or corrupt (the newest complete one loads).
"""
import os
import signal
import subprocess
import time

import pytest
from rq.registry import StartedJobRegistry

from tests.conftest import wait_for
from tests.logs import logged
from tests.reliability.conftest import assert_finished_cleanly, fresh, pid_alive, queue_run, wait_file, wait_status
from training.reconciler import reconcile

pytestmark = pytest.mark.slow


def checkpoint_loads(directory) -> int:
    """The step of the newest complete checkpoint in `directory`, after loading every file of it."""
    import torch
    from safetensors.torch import load_file

    from training.engine import checkpoints

    path = checkpoints.latest_checkpoint(str(directory))
    assert path, f"no complete checkpoint in {directory}: {os.listdir(directory) if directory.exists() else '-'}"
    assert load_file(os.path.join(path, checkpoints.WEIGHTS))
    torch.load(os.path.join(path, checkpoints.OPTIMIZER), map_location="cpu", weights_only=True)
    return checkpoints.read_json(os.path.join(path, checkpoints.STATE))["step"]


def test_orphaned_horse_after_its_parent_dies_is_fenced_and_the_run_publishes_once(
        student, tiny, corpus, fault_worker, redis_conn):
    """Only the parent is SIGKILLed: the horse (its own process group) trains on. RQ's cleanup
    declares the job abandoned, the run goes to attempt 2 on a new worker, and the orphan,
    fenced out by the attempt number, stops without publishing."""
    run = queue_run(student, tiny, corpus, max_steps=120)
    first = fault_worker(hold=["checkpoint:5"])
    orphan = fault_worker.held("checkpoint:5")
    assert fresh(run).status == "running" and run.checkpoint_step == 5 and run.worker_pid == orphan
    os.kill(first.pid, signal.SIGKILL)
    first.process.wait(10)
    assert pid_alive(orphan), "the work horse should outlive its parent (RQ's setpgrp)"

    second = fault_worker()
    # What RQ's maintenance does once the dead worker's registry entry expires, without the wait.
    StartedJobRegistry("training", connection=redis_conn).cleanup(timestamp=time.time() + 3600)
    wait_for(lambda: fresh(run).attempt == 2, timeout=10, message="attempt 2 after the abandoned job")
    fault_worker.release("checkpoint:5")  # the orphan trains on, fenced out by the attempt number
    wait_status(run, {"succeeded", "failed"}, timeout=120, worker=second)
    assert run.status == "succeeded" and run.published_attempt == 2, run.error_detail
    wait_for(lambda: not pid_alive(orphan), timeout=30, message="the orphaned horse to stop")
    assert_finished_cleanly(run)
    assert run.step == run.total_steps == 120


def test_horse_killed_while_writing_a_checkpoint_resumes_from_the_previous_one(
        student, tiny, corpus, fault_worker):
    run = queue_run(student, tiny, corpus, max_steps=40)
    worker = fault_worker(checkpoint="slow:600", at=2)
    target, pid = wait_file(fault_worker.fault_dir / "checkpoint-2.started").split("\n")
    checkpoints_dir = run.attempt_dir(1) / "checkpoints"
    assert checkpoint_loads(checkpoints_dir) == 5  # the first checkpoint; the second is half-way
    os.kill(int(pid), signal.SIGKILL)
    wait_status(run, {"succeeded", "failed"}, timeout=120, worker=worker)
    assert run.status == "succeeded", run.error_detail
    assert run.attempt == 2 and run.published_attempt == 2
    assert logged(run, "attempt_resumed", from_attempt=1, step=5), run.log_lines
    assert_finished_cleanly(run)


def test_cancel_while_a_checkpoint_is_written_ends_cancelled_and_keeps_the_last_good_checkpoint(
        student, tiny, corpus, fault_worker):
    """The disk is slow: the horse sits in a checkpoint write when the student cancels. It
    cannot report, so the heartbeat thread kills it after the grace period; the run ends
    cancelled, the half-written checkpoint is never taken for a complete one, and an
    instructor can requeue the run from the last good one."""
    from django.test import Client
    from django.urls import reverse

    from training.services import training_run_requeue

    run = queue_run(student, tiny, corpus, max_steps=40)
    # The checkpoint write never ends by itself: only the grace-period kill can end this run.
    worker = fault_worker(checkpoint="slow:600", at=2, settings={"TRAINING_CANCEL_GRACE_SECONDS": 3})
    _target, pid = wait_file(fault_worker.fault_dir / "checkpoint-2.started").split("\n")
    client = Client()
    client.force_login(student)
    client.post(reverse("training:run_cancel", args=[run.code]))
    wait_status(run, {"cancelled", "failed", "succeeded"}, timeout=60, worker=worker)
    assert run.status == "cancelled", run.error_detail
    wait_for(lambda: not pid_alive(int(pid)), timeout=10, message="the horse to be gone")
    assert_finished_cleanly(run)
    assert checkpoint_loads(run.attempt_dir(1) / "checkpoints") == 5

    requeued = training_run_requeue(run=run)
    assert requeued.attempt == 2
    wait_status(run, {"succeeded", "failed", "cancelled"}, timeout=120, worker=worker)
    assert run.status == "succeeded" and run.published_attempt == 2, run.error_detail
    assert logged(run, "attempt_resumed", attempt=2, step=5) and logged(run, "resumed", step=5), run.log_lines
    assert_finished_cleanly(run)


def test_disk_full_during_a_checkpoint_fails_the_run_with_a_reason_and_keeps_the_previous_checkpoint(
        student, tiny, corpus, fault_worker):
    from django.test import Client
    from django.urls import reverse

    run = queue_run(student, tiny, corpus, max_steps=40)
    worker = fault_worker(checkpoint="enospc", at=2)
    wait_status(run, {"succeeded", "failed", "cancelled"}, timeout=120, worker=worker)
    assert run.status == "failed" and run.attempt == 1, "a full disk is not retried"
    assert run.error_code == "disk_full", (run.error_code, run.error_detail[-800:])
    assert "No space left on device" in run.error_detail
    assert_finished_cleanly(run)
    checkpoints_dir = run.attempt_dir(1) / "checkpoints"
    assert checkpoint_loads(checkpoints_dir) == 5
    assert [name for name in os.listdir(checkpoints_dir) if ".tmp" in name] == [], \
        "the half-written checkpoint still takes disk space on a full disk"
    client = Client()
    client.force_login(student)
    page = client.get(reverse("training:run_detail", args=[run.code]), HTTP_ACCEPT_LANGUAGE="en").content.decode()
    assert "disk" in page.lower() and "No space left" not in page  # a reason for people; the errno for the admin


def test_memory_error_fails_the_run_as_out_of_memory_without_a_retry_loop(student, tiny, corpus, fault_worker,
                                                                          redis_conn):
    run = queue_run(student, tiny, corpus, max_steps=40)
    worker = fault_worker(checkpoint="memory", at=1)
    wait_status(run, {"succeeded", "failed", "cancelled"}, timeout=120, worker=worker)
    assert (run.status, run.error_code, run.attempt) == ("failed", "out_of_memory", 1), run.error_detail[-800:]
    # No retry loop: neither RQ nor a reconciler pass queues attempt 2.
    reconcile()
    assert fresh(run).attempt == 1 and run.status == "failed"
    assert not redis_conn.exists(f"rq:job:run-{run.pk}-2")
    assert_finished_cleanly(run)


def test_a_run_over_its_time_limit_fails_as_timeout_and_keeps_its_checkpoint(student, tiny, corpus, fault_worker,
                                                                             redis_conn):
    """RQ's time limit is an alarm in the work horse (its SIGALRM handler raises
    JobTimeoutException). The run is held after its first checkpoint and the alarm is rung at
    that moment, so the limit falls at the same step on a fast machine and on a loaded one."""
    run = queue_run(student, tiny, corpus, max_steps=40)
    worker = fault_worker(hold=["checkpoint:5"])
    horse = fault_worker.held("checkpoint:5")
    os.kill(horse, signal.SIGALRM)
    wait_status(run, {"succeeded", "failed", "cancelled"}, timeout=120, worker=worker)
    assert (run.status, run.error_code, run.attempt) == ("failed", "timeout", 1), run.error_detail[-800:]
    assert_finished_cleanly(run)
    assert checkpoint_loads(run.attempt_dir(1) / "checkpoints") == 5


def test_warm_then_cold_shutdown_of_the_worker(student, tiny, corpus, fault_worker):
    """One SIGTERM (a deploy) lets the current run finish, then the worker exits. `make run`'s
    stop (llmschool.devservices.stop: two SIGTERMs, a cold shutdown) takes the work horse down
    with the worker, and the next worker resumes the run from its checkpoint. RQ ignores a
    second signal that comes within a second of the first, and the horse sits in a process
    group of its own: a stop that gets either wrong leaves the horse training in the background."""
    from llmschool import devservices

    first = queue_run(student, tiny, corpus, max_steps=40)
    worker = fault_worker(hold=["checkpoint:5"])
    fault_worker.held("checkpoint:5")
    os.kill(worker.pid, signal.SIGTERM)
    wait_for(lambda: "warm shut down requested" in worker.output(), timeout=30,
             message="the worker to begin its warm shutdown")
    fault_worker.release("checkpoint:5")
    wait_status(first, {"succeeded", "failed", "cancelled"}, timeout=90, worker=worker)
    assert first.status == "succeeded", first.error_detail
    # After "succeeded" the horse still prunes the run's files and the worker records the job:
    # on a loaded machine that takes a while, so wait for the exit as long as for a status.
    try:
        assert worker.process.wait(120) == 0, worker.output()[-3000:]
    except subprocess.TimeoutExpired:
        raise AssertionError("the worker did not exit after its warm shutdown:\n" + worker.output()[-3000:]) from None
    assert_finished_cleanly(first)

    second = queue_run(student, tiny, corpus, max_steps=80)
    worker = fault_worker(hold=["checkpoint:10"])
    horse = fault_worker.held("checkpoint:10")
    # The horse is held and never let go: a warm shutdown would wait for it for ever, so only
    # a cold one stops the worker and the horse with it.
    devservices.stop([worker.process], timeout=60)
    assert worker.process.returncode is not None
    wait_for(lambda: not pid_alive(horse), timeout=30, message="the work horse to go with the worker")
    assert "cold shut down" in worker.output(), worker.output()[-3000:]
    assert fresh(second).status == "running" and second.step == 10  # nobody knows yet
    fault_worker.release("checkpoint:10")

    replacement = fault_worker(settings={"TRAINING_HEARTBEAT_STALE_SECONDS": 3, "TRAINING_RECONCILE_INTERVAL_SECONDS": 1})
    wait_status(second, {"succeeded", "failed", "cancelled"}, timeout=120, worker=replacement)
    assert second.status == "succeeded" and second.attempt == 2, second.error_detail
    assert logged(second, "attempt_resumed", attempt=2, from_attempt=1), second.log_lines
    assert_finished_cleanly(second)
