"""deploy/nginx: the per-student limits a deployment puts in front of the model endpoints
(bench/load.py --proxy nginx measures the pages behind them under attack). The limited
location must cover every endpoint that runs a model and nothing else."""
import json
import re
import shutil
import subprocess
import sys
import uuid
from pathlib import Path

import pytest
from django.urls import reverse

ROOT = Path(__file__).resolve().parents[2]
DEPLOY = ROOT / "deploy" / "nginx"
SERVER = (DEPLOY / "llmschool-limits-server.conf").read_text(encoding="utf-8")
LIMITED = re.compile(re.search(r"location ~ (\S+) \{", SERVER).group(1))


def test_every_model_endpoint_is_limited_and_no_page_is():
    code = uuid.uuid4()
    models = [reverse(f"lab:{name}") for name in ("api_tokenize", "api_next_token", "api_attention",
                                                   "api_chat_template")]
    models.append(reverse("training:run_playground", args=[code]))
    pages = [reverse("lab:index"), reverse("lab:api_models"), reverse("lab:api_my_run_loss"),
             reverse("training:run_detail", args=[code]), reverse("training:run_progress", args=[code]), "/courses/",
             "/dashboard/", "/healthz"]
    assert [path for path in models if not LIMITED.match(path)] == []
    assert [path for path in pages if LIMITED.match(path)] == []


def test_a_refusal_is_the_json_the_lab_reads():
    body = re.search(r"return 429 '(.*)';", SERVER).group(1)
    error = json.loads(body)["error"]
    assert error["code"] == "rate_limited" and "try again" in error["message"] and "もう一度" in error["message"]


def test_the_limits_key_students_by_the_sites_session_cookie(settings):
    http = (DEPLOY / "llmschool-limits-http.conf").read_text(encoding="utf-8")
    assert f"$cookie_{settings.SESSION_COOKIE_NAME}" in http
    for zone in re.findall(r"zone=(\w+)", SERVER):
        assert f"zone={zone}:" in http, zone


@pytest.mark.skipif(not (shutil.which("nginx") or Path("/usr/sbin/nginx").exists()), reason="nginx is not installed")
def test_nginx_accepts_the_configuration_the_bench_runs(tmp_path):
    sys.path.insert(0, str(ROOT / "bench"))
    try:
        from load import NGINX_CONF
    finally:
        sys.path.remove(str(ROOT / "bench"))
    conf = tmp_path / "nginx.conf"
    conf.write_text(NGINX_CONF.format(prefix=tmp_path, deploy=DEPLOY, port=1, upstream="127.0.0.1:2",
                                      host="127.0.0.1"))
    nginx = shutil.which("nginx") or "/usr/sbin/nginx"
    checked = subprocess.run([nginx, "-t", "-p", str(tmp_path), "-c", str(conf)], capture_output=True, text=True)
    assert checked.returncode == 0, checked.stderr
