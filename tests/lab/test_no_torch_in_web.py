"""The web process never runs a model: a fresh process that renders the new-run estimate, the
lab page, a finished run's page with its playground, and answers every lab API and a
playground request (through the inference worker) has not imported torch afterwards."""
import json
import subprocess
import sys

import pytest

from tests.conftest import worker_environment
from tests.factories import ROOT, make_base_model, upload

PROBE = """
import json, sys
import django
django.setup()
from django.test import Client
from django.test.utils import setup_test_environment
setup_test_environment()
from llmschool.accounts.models import User

ids = json.loads(sys.argv[1])
client = Client(HTTP_ACCEPT_LANGUAGE="en")
client.force_login(User.objects.get(username="alice"))
statuses = {}
def record(name, response):
    statuses[name] = response.status_code
for base in ids["bases"]:
    record("estimate " + base, client.get("/training/runs/estimate/", {"dataset": ids["dataset"], "base": base,
                                                                         "preset": "quick"}))
record("lab page", client.get("/lab/"))
record("run page", client.get(f"/training/runs/{ids['run']}/"))
record("models", client.get("/lab/api/models"))
record("loss", client.get("/lab/api/my-run-loss"))
record("tokenize", client.post("/lab/api/tokenize", {"text": "東京メトロ", "model": ids["run"]}))
record("next-token", client.post("/lab/api/next-token", {"prompt": "the cat", "model": ids["run"]}))
record("attention", client.post("/lab/api/attention", {"text": "the cat", "model": ids["run"]}))
record("playground", client.post(f"/training/runs/{ids['run']}/playground/",
                                 {"prompt": "the cat", "temperature": 0.8, "top_k": 20, "top_p": 0.9,
                                  "max_new_tokens": 4}))
print("RESULT=" + json.dumps({"statuses": statuses,
                              "loaded": sorted(m for m in ("torch", "transformers") if m in sys.modules)}))
"""


@pytest.mark.django_db(transaction=True)
def test_pages_and_lab_answers_import_no_torch_in_the_web_process(alice, make_lab_run, inference_worker,
                                                                   private_dirs, tiny_base_dir, runs_dir):
    from training.models import BaseModel
    from training.services import dataset_create

    make_base_model("tiny", order=1)
    make_base_model("local-tiny", name="Local tiny GPT-2", kind=BaseModel.PRETRAINED, source=tiny_base_dir,
                    max_block_size=64, order=5)
    dataset = dataset_create(owner=alice, uploaded_file=upload())
    run = make_lab_run(alice, name="alice-model", dataset=dataset)
    ids = {"bases": ["base:tiny", "base:local-tiny", f"run:{run.code}"], "dataset": str(dataset.code),
           "run": str(run.code)}
    env = {**worker_environment(), "TRAINING_RUNS_DIR": str(runs_dir)}
    done = subprocess.run([sys.executable, "-c", PROBE, json.dumps(ids)], cwd=ROOT, env=env, capture_output=True,
                          text=True, timeout=300)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    result = json.loads(done.stdout.split("RESULT=")[-1])
    assert set(result["statuses"].values()) == {200}, result["statuses"]
    assert result["loaded"] == [], "the web process imported " + ", ".join(result["loaded"])
