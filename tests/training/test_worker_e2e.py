"""End to end with a real Redis, real `manage.py rqworker` processes (TrainingWorker) and real
(tiny) training: upload, queue, progress, results, download; cancel; a killed work horse; a
killed worker; an attempt that lost the run never publishes."""
import io
import os
import signal
import zipfile

import pytest
from django.test import Client
from django.urls import reverse

from tests.conftest import wait_for
from tests.factories import run_pending_checks, upload
from tests.logs import logged
from training import lifecycle, services
from training.models import Dataset, TrainingRun

pytestmark = pytest.mark.slow

EXPECTED_ARCHIVE = {"config.json", "generation_config.json", "model.safetensors", "tokenizer.json",
                    "tokenizer_config.json", "README.md"}


def fresh(run) -> TrainingRun:
    run.refresh_from_db()
    return run


def wait_status(run, statuses, timeout=120.0):
    def done():
        return fresh(run).status in statuses

    wait_for(done, timeout=timeout, interval=0.2, message=f"run {run.pk} to reach {statuses}")
    return run


def load_and_generate(archive: bytes, target) -> str:
    from transformers import AutoModelForCausalLM, AutoTokenizer

    with zipfile.ZipFile(io.BytesIO(archive)) as zf:
        names = set(zf.namelist())
        assert EXPECTED_ARCHIVE <= names and not any(n.endswith((".bin", ".pkl", ".pt")) for n in names)
        assert all("/" not in n and ".." not in n for n in names)
        zf.extractall(target)
    model = AutoModelForCausalLM.from_pretrained(str(target), local_files_only=True, use_safetensors=True)
    tokenizer = AutoTokenizer.from_pretrained(str(target), local_files_only=True)
    inputs = tokenizer("the ship", return_tensors="pt")
    output = model.generate(**inputs, max_new_tokens=5, do_sample=False, pad_token_id=tokenizer.eos_token_id)
    assert output.shape[1] > inputs["input_ids"].shape[1]
    return tokenizer.decode(output[0])


def test_upload_queue_train_and_download_two_runs(fault_worker, inference_worker, alice, bases, local_base, fast_runs,
                                                  settings, tmp_path):
    settings.TRAINING_MAX_ACTIVE_RUNS_PER_USER = 2
    client = Client()
    client.force_login(alice)
    client.post(reverse("training:datasets"), {"file": upload("story.txt")})
    run_pending_checks()  # the check's own worker test is test_dataset_worker.py
    dataset = Dataset.objects.get(owner=alice)
    # Held at two evaluations, so the progress endpoint is read while the run trains on any machine.
    fault_worker(hold=["eval:10", "eval:20"])
    response = client.post(reverse("training:run_new"), {"dataset": dataset.code, "base": "base:tiny",
                                                         "preset": "quick", "max_steps": "40", "name": "scratch"})
    assert response.status_code == 302, response.content.decode()[:2000]
    response = client.post(reverse("training:run_new"), {"dataset": dataset.code, "base": "base:local-tiny",
                                                         "preset": "quick", "max_steps": "25", "name": "fine-tune"})
    assert response.status_code == 302, response.content.decode()[:2000]
    scratch, tuned = TrainingRun.objects.get(name="scratch"), TrainingRun.objects.get(name="fine-tune")

    # The progress endpoint reports rising steps while the scratch run trains (the first run
    # queued is the first one trained; one worker trains one run at a time).
    progress_url = reverse("training:run_progress", args=[scratch.code]) + "?format=json"
    for point, step in (("eval:10", 10), ("eval:20", 20)):
        fault_worker.held(point)
        data = client.get(progress_url).json()
        assert (data["status"], data["step"], data["total_steps"]) == ("running", step, 40), data
        fault_worker.release(point)
    wait_status(scratch, {"succeeded", "failed"})
    assert scratch.status == "succeeded", scratch.error_detail
    wait_status(tuned, {"succeeded", "failed"})
    assert tuned.status == "succeeded", tuned.error_detail

    for run in (fresh(scratch), tuned):
        assert run.published_attempt == 1 and run.step == run.total_steps > 0
        assert run.metrics["final_val_loss"] < run.metrics["base_val_loss"]
        assert len(run.samples) == 3 and all(s["tuned"] is not None for s in run.samples)
        page = client.get(reverse("training:run_detail", args=[run.code])).content.decode()
        assert "<polyline" in page and "hx-trigger" not in page
        response = client.get(reverse("training:run_download", args=[run.code]))
        assert response["Content-Disposition"] == f'attachment; filename="llmschool-{run.code}.zip"'
        text = load_and_generate(b"".join(response.streaming_content), tmp_path / run.name)
        assert text.startswith("the ship")
    # The playground answers with the trained model.
    response = client.post(reverse("training:run_playground", args=[tuned.code]),
                           {"prompt": "the ship", "temperature": 0.8, "top_k": 20, "top_p": 0.9,
                            "max_new_tokens": 8}, HTTP_HX_REQUEST="true")
    assert response.status_code == 200 and "<mark>" in response.content.decode()
    # Continuing from a finished run is offered as a base.
    form_page = client.get(reverse("training:run_new")).content.decode()
    assert f"run:{tuned.code}" in form_page


def start_long_run(alice, bases, corpus, **extra):
    return services.training_run_create(owner=alice, dataset=corpus, base_model=bases["tiny"],
                                        extra={"max_steps": 400, **extra})


def test_cancel_stops_a_running_run_at_the_next_report(fault_worker, alice, bases, corpus, fast_runs):
    run = start_long_run(alice, bases, corpus, max_steps=400)
    fault_worker(hold=["eval:5"])
    fault_worker.held("eval:5")
    client = Client()
    client.force_login(alice)
    client.post(reverse("training:run_cancel", args=[run.code]))
    fault_worker.release("eval:5")
    wait_status(run, {"cancelled", "failed", "succeeded"}, timeout=60)
    # The engine hears of the cancel at its next report and stops after that step.
    assert run.status == "cancelled" and run.step == 5, (run.status, run.step)
    assert run.active_slot is None and run.step < run.total_steps
    assert logged(run, "cancelled")


def test_killed_work_horse_resumes_from_its_checkpoint(fault_worker, alice, bases, corpus, fast_runs):
    run = start_long_run(alice, bases, corpus, max_steps=150, checkpoint_every_steps=10)
    worker = fault_worker(hold=["checkpoint:10"])
    horse = fault_worker.held("checkpoint:10")
    assert fresh(run).checkpoint_step == 10 and run.status == "running"
    assert horse == run.worker_pid and horse != worker.pid
    os.kill(horse, signal.SIGKILL)
    fault_worker.release("checkpoint:10")  # the next attempt passes this point
    wait_status(run, {"succeeded", "failed"}, timeout=120)
    assert run.status == "succeeded", run.error_detail + worker.output()[-3000:]
    assert run.attempt == 2 and run.published_attempt == 2 and run.step == 150
    assert logged(run, "attempt_resumed", attempt=2, from_attempt=1, step=10), run.log_lines
    assert logged(run, "resumed", step=10), run.log_lines
    # The status is published before the old attempt's folder is removed: wait for the clean-up.
    wait_for(lambda: not run.attempt_dir(1).exists(), timeout=60, message="attempt 1's folder to be removed")
    assert run.archive_path.is_file()


def test_killed_worker_is_replaced_and_the_run_resumes(fault_worker, alice, bases, corpus, fast_runs, settings,
                                                      monkeypatch):
    # Short limits for this test's workers (environment) and reconciler calls here (settings).
    monkeypatch.setenv("TRAINING_HEARTBEAT_STALE_SECONDS", "3")
    monkeypatch.setenv("TRAINING_RECONCILE_INTERVAL_SECONDS", "1")
    settings.TRAINING_HEARTBEAT_STALE_SECONDS = 3
    run = start_long_run(alice, bases, corpus, max_steps=150, checkpoint_every_steps=10)
    first = fault_worker(hold=["checkpoint:10"])
    fault_worker.held("checkpoint:10")
    assert fresh(run).checkpoint_step == 10 and run.status == "running"
    # SIGKILL the whole worker: the parent and its work horse (which has a process group of its own).
    os.killpg(first.pid, signal.SIGKILL)
    os.kill(run.worker_pid, signal.SIGKILL)
    first.process.wait(10)
    fault_worker.release("checkpoint:10")  # the next attempt passes this point
    second = fault_worker()
    wait_status(run, {"succeeded", "failed"}, timeout=150)
    assert run.status == "succeeded", run.error_detail + second.output()[-3000:]
    assert run.attempt == 2 and run.published_attempt == 2
    assert "heartbeat stale" in run.error_detail or run.error_detail == ""


def test_an_attempt_that_lost_the_run_never_publishes(fault_worker, alice, bases, corpus, fast_runs):
    """The reconciler gives up on attempt 1 while its horse is in fact alive (a stale heartbeat
    after a database hiccup, say): attempt 1 must stop without publishing; attempt 2 publishes."""
    run = start_long_run(alice, bases, corpus, max_steps=150, checkpoint_every_steps=10)
    fault_worker(hold=["checkpoint:10"])
    fault_worker.held("checkpoint:10")
    assert lifecycle.run_retry_or_fail(run_id=run.pk, attempt=1, reason="worker_lost") == "retried"
    fault_worker.release("checkpoint:10")  # attempt 1 goes on, and is fenced out at its next report
    wait_status(run, {"succeeded", "failed"}, timeout=150)
    assert run.status == "succeeded" and run.published_attempt == 2, run.error_detail
    # Attempt 1's horse may still be deleting its own folder: wait for it before listing files.
    wait_for(lambda: not (run.run_dir / "attempt-1").exists(), timeout=60, message="attempt 1 to clean up")
    archives = list(run.run_dir.rglob("*.zip"))
    assert archives == [run.archive_path]
