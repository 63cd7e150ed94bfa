"""Load test: a class of simulated students on the site under gunicorn while a run trains,
then the same class while hostile clients hammer the lab and the playground.

    .venv/bin/python bench/load.py [--students 20 50] [--seconds 30] [--web-workers 4]
                                   [--hostile 20] [--attack-model gpt2|tiny]

Everything runs on this machine, in a throwaway folder: a production-like configuration
(DEBUG off, a SECRET_KEY, collected static files served by whitenoise, SQLite in WAL mode
and an embedded Redis of its own), the seeded course, one student account per simulated
student, each with a run in the training queue, and a real training worker that trains the
first of them for the whole test. Each simulated student is a thread with its own session,
logged in through the login form, that does what the pages do:

- polls its run's progress fragment every 2 s (as the htmx progress page does), and
- between polls, with a few seconds of reading in between, opens a lesson, the dashboard or
  the catalog, or takes a quiz (start, question page, submit, result).

For each phase (20, then 50 students, a fixed time each) it prints requests per second,
errors, and p50/p95/p99 latency per kind. Targets at 20 students, while the run trains: no
errors, p95 under 300 ms for pages and under 100 ms for the progress endpoint.

The attack phase adds `--hostile` clients (default 20), each a student with two threads and
no pause, sending lab requests (tokenize, next token, attention) and playground requests of
200 new tokens to their own run of a GPT-2-architecture model: 124M parameters with random
weights, saved locally (`--attack-model tiny`: a 2-layer one, for a machine too small for
124M). The site runs one inference worker (as `make run` does). It prints the students'
figures as above and how the hostile requests were answered (200, 429 over the student's
limits, 503 busy); meanwhile each student also asks their own finished run of the same model a
next-token question now and then (a lesson's lab widget), and it prints how many of those were
answered and how fast (INFERENCE_FAIR_SHARE_PER_MINUTE=100000 turns the fair share off, to
compare). The target is the students' page p95 under 300 ms with no errors while
under that attack. Only 127.0.0.1 is ever contacted, each student from a loopback
address of their own (127.0.1.x), the hostile clients all from 127.0.0.1, as nginx's per-address
limit would see them from the Internet. `--proxy nginx` puts a local nginx in
front of gunicorn that includes deploy/nginx's limit files, as a deployment does (the
hostile clients then mostly meet nginx's 429s); without it the clients talk to gunicorn directly.

The workers run at WORKER_NICENESS (10 unless the environment says otherwise), as deployed:
`WORKER_NICENESS=0 .venv/bin/python bench/load.py` measures the same site with workers at the
web server's priority, for comparison.
"""
import argparse
import functools
import http.client
import json
import os
import random
import re
import secrets
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
from collections import defaultdict
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
PYTHON = sys.executable
PASSWORD = "load-test-password-2026"
HOST = "127.0.0.1"
PAGE_KINDS = ("lesson", "dashboard", "catalog", "quiz")
LESSONS = ["01-what-is-an-llm", "02-transformer", "03-tokenization"]
ATTACK_TEXTS = ["東京メトロに乗って、猫カフェへ行く。" * 12, "Once upon a time a ship sailed over the grey sea. " * 4,
                "吾輩は猫である。名前はまだ無い。" * 10]

# --proxy nginx: a local nginx (no TLS) that includes the deployment's limit files.
NGINX_CONF = """
daemon off;
worker_processes 1;
pid {prefix}/nginx.pid;
error_log {prefix}/error.log warn;
events {{ worker_connections 1024; }}
http {{
    access_log off;
    client_body_temp_path {prefix}/body;
    proxy_temp_path {prefix}/proxy;
    fastcgi_temp_path {prefix}/fastcgi;
    uwsgi_temp_path {prefix}/uwsgi;
    scgi_temp_path {prefix}/scgi;
    include {deploy}/llmschool-limits-http.conf;
    upstream llmschool_web {{ server {upstream}; keepalive 32; }}
    server {{
        listen {host}:{port};
        client_max_body_size 11m;
        include {deploy}/llmschool-limits-server.conf;
        location / {{
            proxy_pass http://llmschool_web;
            proxy_set_header Host $host;
            proxy_http_version 1.1;
            proxy_set_header Connection "";
        }}
    }}
}}
"""

# A GPT-2-architecture model with random weights and the real GPT-2 tokenizer, saved locally.
MODEL_SCRIPT = """
import shutil, sys
from pathlib import Path
from transformers import GPT2Config, GPT2LMHeadModel
from training.engine import gpt2_tokenizer_dir
target, size = Path(sys.argv[1]), sys.argv[2]
shape = {} if size == "gpt2" else {"n_layer": 2, "n_head": 2, "n_embd": 64, "n_positions": 256}
model = GPT2LMHeadModel(GPT2Config(**shape))
model.save_pretrained(target)
for name in ("vocab.json", "merges.txt"):
    shutil.copy(Path(gpt2_tokenizer_dir()) / name, target / name)
print(f"PARAMETERS={sum(p.numel() for p in model.parameters())}")
"""

HOSTILE_SCRIPT = """
import json
from llmschool.accounts.models import User
from training.models import TrainingRun
codes = []
for i in range({count}):
    user, _ = User.objects.get_or_create(username=f"hostile{{i:02d}}", defaults={{"email": f"h{{i}}@example.com"}})
    user.set_password({password!r}); user.preferred_language = "ja"; user.save()
    run = TrainingRun.objects.create(owner=user, name=f"attack-{{i}}", status=TrainingRun.SUCCEEDED, published_attempt=1)
    run.attempt_dir(1).mkdir(parents=True, exist_ok=True)
    (run.attempt_dir(1) / "export").symlink_to({model_dir!r}, target_is_directory=True)
    codes.append(str(run.code))
print("CODES=" + json.dumps(codes))
"""

LAB_SCRIPT = """
import json
from llmschool.accounts.models import User
from training.models import TrainingRun
codes = []
for i in range({count}):
    user = User.objects.get(username=f"student{{i:02d}}")
    run = TrainingRun.objects.create(owner=user, name=f"lab-{{i}}", status=TrainingRun.SUCCEEDED, published_attempt=1)
    run.attempt_dir(1).mkdir(parents=True, exist_ok=True)
    (run.attempt_dir(1) / "export").symlink_to({model_dir!r}, target_is_directory=True)
    codes.append(str(run.code))
print("CODES=" + json.dumps(codes))
"""

SETUP_SCRIPT = """
import json, sys
from django.db import transaction
from llmschool.accounts.models import User
from training.models import BaseModel, Dataset
from training.services import training_run_create
count, steps = {count}, {steps}
base = BaseModel.objects.get(key="tiny")
corpus = Dataset.objects.filter(is_sample=True, published=True).order_by("name").first()
codes = []
for i in range(count):
    user, _ = User.objects.get_or_create(username=f"student{{i:02d}}", defaults={{"email": f"s{{i}}@example.com"}})
    user.set_password({password!r}); user.preferred_language = "ja"; user.save()
    run = training_run_create(owner=user, dataset=corpus, base_model=base, name=f"load-{{i}}",
                              extra={{"max_steps": steps if i == 0 else 200}})
    codes.append(str(run.code))
print("CODES=" + json.dumps(codes))
"""


# -- the site under test ----------------------------------------------------------------

class Site:
    """Redis, a training worker, an inference worker and gunicorn in a throwaway VAR_DIR."""

    def __init__(self, workdir: Path, web_workers: int, threads: int, proxy: str = "none"):
        self.workdir = workdir
        self.proxy = proxy
        self.web_workers = web_workers
        self.threads = threads
        self.processes: list[subprocess.Popen] = []
        self.port = free_port()
        self.url = f"http://{HOST}:{self.port}"
        self.env = None

    def start(self, students: int, train_steps: int, hostile: int, attack_model: str):
        from llmschool import devservices

        var = self.workdir / "var"
        redis_process, redis_url = devservices.start_embedded_redis(var / "redis")
        self.processes.append(redis_process)
        self.env = {
            **os.environ, "DJANGO_SETTINGS_MODULE": "llmschool.settings", "DEBUG": "false",
            "SECRET_KEY": secrets.token_urlsafe(50), "VAR_DIR": str(var), "STATIC_ROOT": str(self.workdir / "static"),
            "REDIS_URL": redis_url, "ALLOWED_HOSTS": HOST, "SECURE_HTTPS": "false", "LOG_LEVEL": "WARNING",
            "HF_HUB_OFFLINE": "1", "TOKENIZERS_PARALLELISM": "false", "TRAINING_MAX_QUEUED_RUNS": str(students + 10),
            "PYTHONUNBUFFERED": "1",
        }
        self.env.pop("DATABASE_URL", None)
        step("migrate, collectstatic, seed")
        self.manage("migrate", "--no-input", "-v", "0")
        self.manage("collectstatic", "--no-input", "-v", "0")
        self.manage("bootstrap", "--no-demo")
        step(f"{students} students, each with a run in the queue")
        output = self.manage("shell", "-c", SETUP_SCRIPT.format(count=students, steps=train_steps, password=PASSWORD))
        self.run_codes = json.loads(re.search(r"CODES=(.*)", output).group(1))
        self.hostile_codes = []
        if hostile:
            model_dir = self.workdir / f"attack-{attack_model}"
            step(f"a GPT-2-architecture model with random weights ({attack_model}) and {hostile} hostile students")
            made = subprocess.run([PYTHON, "-c", MODEL_SCRIPT, str(model_dir), attack_model], cwd=ROOT, env=self.env,
                                  capture_output=True, text=True, timeout=600)
            if made.returncode:
                raise SystemExit(f"could not build the attack model:\n{made.stderr[-3000:]}")
            self.attack_parameters = int(re.search(r"PARAMETERS=(\d+)", made.stdout).group(1))
            output = self.manage("shell", "-c", HOSTILE_SCRIPT.format(count=hostile, password=PASSWORD,
                                                                      model_dir=str(model_dir)))
            self.hostile_codes = json.loads(re.search(r"CODES=(.*)", output).group(1))
            # The honest students' own finished runs of the same model, for their lab requests.
            output = self.manage("shell", "-c", LAB_SCRIPT.format(count=students, model_dir=str(model_dir)))
            self.lab_codes = json.loads(re.search(r"CODES=(.*)", output).group(1))
        logs = self.workdir / "logs"
        logs.mkdir()
        step("training worker, inference worker and gunicorn")
        self.worker = subprocess.Popen(
            [PYTHON, str(ROOT / "manage.py"), "rqworker", "training", "--worker-class", "training.worker.TrainingWorker"],
            cwd=ROOT, env=self.env, stdout=open(logs / "worker.log", "wb"), stderr=subprocess.STDOUT,
            start_new_session=True)
        self.inference = devservices.start_worker("inference", self.env, extra_args=devservices.inference_worker_args(),
                                                  log_path=logs / "worker-inference.log")
        self.web = subprocess.Popen(
            [str(Path(PYTHON).parent / "gunicorn"), "llmschool.wsgi", "-b", f"{HOST}:{self.port}",
             "-w", str(self.web_workers), "--threads", str(self.threads),
             "--error-logfile", str(logs / "gunicorn-error.log")],
            cwd=ROOT, env=self.env, stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT, start_new_session=True)
        self.processes += [self.worker, self.inference, self.web]
        self.logs = logs
        wait(lambda: http_status(self.url + "/healthz") == 200, 60, "gunicorn to answer /healthz")
        if self.proxy == "nginx":
            self.start_nginx()

    def start_nginx(self):
        """nginx in front of gunicorn with deploy/nginx's limits (the same files a deployment
        includes), so the clients meet what they would meet in production."""
        nginx = shutil.which("nginx") or "/usr/sbin/nginx"
        if not Path(nginx).exists():
            raise SystemExit("--proxy nginx: nginx is not installed (apt-get install nginx-light)")
        port, prefix = free_port(), self.workdir / "nginx"
        prefix.mkdir()
        conf = prefix / "nginx.conf"
        conf.write_text(NGINX_CONF.format(prefix=prefix, deploy=ROOT / "deploy" / "nginx", port=port,
                                          upstream=f"{HOST}:{self.port}", host=HOST))
        step(f"nginx on port {port} in front of gunicorn (deploy/nginx limits)")
        self.processes.append(subprocess.Popen([nginx, "-p", str(prefix), "-c", str(conf)], stdout=subprocess.DEVNULL,
                                               stderr=open(self.logs / "nginx.log", "wb"), start_new_session=True))
        self.url = f"http://{HOST}:{port}"
        wait(lambda: http_status(self.url + "/healthz") == 200, 30, "nginx to answer /healthz")

    def manage(self, *args) -> str:
        done = subprocess.run([PYTHON, str(ROOT / "manage.py"), *args], cwd=ROOT, env=self.env, capture_output=True,
                              text=True, timeout=600)
        if done.returncode:
            raise SystemExit(f"manage.py {args[0]} failed:\n{done.stdout[-2000:]}\n{done.stderr[-3000:]}")
        return done.stdout

    def stop(self):
        """Cold-stop everything, and make sure no work horse outlives its worker: a horse is
        in a process group of its own and would go on training in the background."""
        import psutil

        from llmschool import devservices

        children = []
        for process in self.processes:
            try:
                children += psutil.Process(process.pid).children(recursive=True)
            except psutil.NoSuchProcess:
                pass
        devservices.stop(list(reversed(self.processes)))  # SIGTERM twice: RQ's cold shutdown
        for child in children:
            try:
                child.kill()
            except psutil.NoSuchProcess:
                pass


def free_port() -> int:
    with socket.socket() as s:
        s.bind((HOST, 0))
        return s.getsockname()[1]


def http_status(url) -> int | None:
    try:
        with urllib.request.urlopen(url, timeout=2) as response:
            return response.status
    except urllib.error.HTTPError as error:
        return error.code
    except OSError:
        return None


def wait(predicate, timeout, message):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.25)
    raise SystemExit(f"timed out waiting for {message}")


def step(message):
    print(f"· {message}", flush=True)


# -- a simulated student ------------------------------------------------------------------

class NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args, **kwargs):
        return None


class FromAddress(urllib.request.HTTPHandler):
    """Connects from a loopback address of its own (127.0.0.0/8 is all loopback on Linux): each
    student is a client of their own to nginx's per-address limit, the hostile clients share one."""

    def __init__(self, address: str):
        super().__init__()
        self.address = address

    def http_open(self, req):
        return self.do_open(functools.partial(http.client.HTTPConnection, source_address=(self.address, 0)), req)


class Student:
    """One browser: cookies, the CSRF token, and a record of every request it made."""

    def __init__(self, site: Site, username: str, run_code: str, results: list, stop: threading.Event, seed: int,
                 address: str = HOST):
        assert urllib.parse.urlparse(site.url).hostname == HOST, "load only ever goes to 127.0.0.1"
        self.site, self.username, self.run_code = site, username, run_code
        self.results, self.stop = results, stop
        self.cookies: dict[str, str] = {}
        self.opener = urllib.request.build_opener(NoRedirect(), FromAddress(address))
        self.random = random.Random(seed)
        self.lab_code = None  # during the attack: the student's own finished run, asked now and then in the lab

    def request(self, kind, path, data=None, headers=None, record=True):
        body = urllib.parse.urlencode(data).encode() if data is not None else None
        request = urllib.request.Request(self.site.url + path, body, headers={
            "Cookie": "; ".join(f"{k}={v}" for k, v in self.cookies.items()), "Referer": self.site.url + path,
            "Accept-Language": "ja", **(headers or {})})
        started = time.perf_counter()
        error = ""
        try:
            response = self.opener.open(request, timeout=30)
        except urllib.error.HTTPError as http_error:
            response = http_error
        except OSError as exc:
            response, error = None, f"{type(exc).__name__}: {exc}"
        if response is None:
            status, content, location = 0, b"", ""
        else:
            with response:
                content = response.read()
                status = response.status
                location = response.headers.get("Location", "")
                for header in response.headers.get_all("Set-Cookie") or []:
                    name, value = header.split(";", 1)[0].split("=", 1)
                    self.cookies[name.strip()] = value.strip()
        elapsed = time.perf_counter() - started
        if status >= 400 or status == 0:
            error = error or f"HTTP {status} {path}"
        if record:
            self.results.append((kind, elapsed, error))
        return status, content, location

    def log_in(self):
        self.request("login", "/accounts/login/", record=False)
        status, _content, location = self.request("login", "/accounts/login/", {
            "username": self.username, "password": PASSWORD, "csrfmiddlewaretoken": self.cookies["csrftoken"]},
            record=False)
        if status != 302 or "/dashboard/" not in location:
            raise SystemExit(f"{self.username} could not log in ({status} {location})")

    def post(self, kind, path, fields):
        return self.request(kind, path, {**fields, "csrfmiddlewaretoken": self.cookies["csrftoken"]})

    def poll_progress(self):
        self.request("progress", f"/training/runs/{self.run_code}/progress/?live=1",
                     headers={"HX-Request": "true", "HX-Current-URL": f"{self.site.url}/training/runs/{self.run_code}/"})

    def page_action(self):
        if self.lab_code and self.random.random() < 0.25:  # a lesson's lab widget: one request now and then
            self.post("lab", "/lab/api/next-token", {"model": self.lab_code, "prompt": self.random.choice(ATTACK_TEXTS)[:80]})
            return
        choice = self.random.choices(PAGE_KINDS, weights=(50, 20, 10, 20))[0]
        if choice == "lesson":
            self.request("lesson", f"/courses/build-llms-ja/{self.random.choice(LESSONS)}/")
        elif choice == "dashboard":
            self.request("dashboard", "/dashboard/")
        elif choice == "catalog":
            self.request("catalog", "/courses/")
        else:
            self.take_quiz()

    def take_quiz(self):
        quiz_id = self.random.choice(self.site.quiz_ids)
        status, _content, location = self.post("quiz", f"/quizzes/{quiz_id}/start/", {})
        if status != 302:
            return
        take = urllib.parse.urlparse(location).path
        status, content, _ = self.request("quiz", take)
        if status != 200:
            return
        answers: dict[str, list[str]] = defaultdict(list)
        for name, value in re.findall(rb'name="(q\d+)"[^>]*value="(\d+)"', content):
            answers[name.decode()].append(value.decode())
        fields = [(name, self.random.choice(values)) for name, values in answers.items()]
        body = fields + [("csrfmiddlewaretoken", self.cookies["csrftoken"])]
        status, _content, location = self.request("quiz", take + "submit/", dict(body))
        if status == 302:
            self.request("quiz", urllib.parse.urlparse(location).path)

    def live(self):
        next_poll = time.monotonic() + self.random.uniform(0, 2)
        next_page = time.monotonic() + self.random.uniform(0, 3)
        while not self.stop.is_set():
            now = time.monotonic()
            if now >= next_poll:
                self.poll_progress()
                next_poll += 2.0
            elif now >= next_page:
                self.page_action()
                next_page = time.monotonic() + self.random.uniform(2.0, 5.0)  # reading
            else:
                self.stop.wait(min(next_poll, next_page) - now)


class Hostile(Student):
    """A student who hammers the lab and the playground of their own run, with no pause and
    two requests at a time; every answer's status is counted by kind."""

    KINDS = ("tokenize", "next-token", "attention", "playground")

    def attack(self):
        while not self.stop.is_set():
            kind = self.random.choice(self.KINDS)
            text = self.random.choice(ATTACK_TEXTS)
            if kind == "playground":
                path, fields = f"/training/runs/{self.run_code}/playground/", {
                    "prompt": text[:200], "temperature": "0.8", "top_k": "50", "top_p": "0.95",
                    "max_new_tokens": "200"}
            else:
                path, fields = f"/lab/api/{kind}", {"model": self.run_code, "text": text[:200], "prompt": text,
                                                     "temperature": str(self.random.choice([1.0, 0.5, 1e-45]))}
            self.post("attack " + kind, path, fields)

    def threads(self) -> list:
        return [threading.Thread(target=self.attack, daemon=True) for _ in range(2)]


# -- phases and the report ------------------------------------------------------------------

def percentile(values, q):
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(q / 100 * (len(ordered) - 1))))]


def cpu_seconds(site: Site) -> dict:
    """CPU time used so far by the web server, the training worker (with its work horse) and this process."""
    import psutil

    def tree(pid):
        try:
            root = psutil.Process(pid)
            total = 0.0
            for process in [root, *root.children(recursive=True)]:
                try:
                    times = process.cpu_times()
                    total += times.user + times.system + times.children_user + times.children_system
                except psutil.NoSuchProcess:
                    pass
            return total
        except psutil.NoSuchProcess:
            return 0.0

    me = psutil.Process().cpu_times()
    return {"web": tree(site.web.pid), "training": tree(site.worker.pid), "inference": tree(site.inference.pid),
            "load generator": me.user + me.system}


def run_phase(site: Site, students: list, seconds: float, hostile: list = ()) -> dict:
    cpu_before = cpu_seconds(site)
    results: list = []
    stop = threading.Event()
    for student in [*students, *hostile]:
        student.results, student.stop = results, stop
    threads = [threading.Thread(target=student.live, daemon=True) for student in students]
    threads += [thread for client in hostile for thread in client.threads()]
    started = time.monotonic()
    for thread in threads:
        thread.start()
    stop.wait(seconds)
    stop.set()
    for thread in threads:
        thread.join(35)
    elapsed = time.monotonic() - started
    cpu_after = cpu_seconds(site)
    cpu = {name: (cpu_after[name] - cpu_before[name]) / elapsed for name in cpu_after}
    by_kind = defaultdict(list)
    errors = defaultdict(list)
    attack = defaultdict(lambda: defaultdict(int))
    lab = []  # the students' own lab requests during the attack: (latency ms, answer)
    for kind, latency, error in results:
        answer = error.split(" ")[1] if error.startswith("HTTP ") else (error or "200")
        if kind.startswith("attack "):
            attack[kind.split(" ", 1)[1]][answer] += 1
            continue
        if kind == "lab":
            lab.append((latency * 1000, answer))
            continue
        by_kind[kind].append(latency * 1000)
        if error:
            errors[kind].append(error)
    return {"elapsed": elapsed, "by_kind": by_kind, "errors": errors, "total": sum(map(len, by_kind.values())),
            "cpu": cpu, "attack": attack, "lab": lab}


def training_step(site: Site, student: Student) -> tuple[str, int]:
    _status, content, _ = student.request("probe", f"/training/runs/{site.run_codes[0]}/progress/?format=json",
                                          record=False)
    data = json.loads(content)
    return data["status"], data["step"]


def report(count: int, phase: dict, before, after, hostile: int = 0) -> bool:
    attack = f" and {hostile} hostile clients" if hostile else ""
    print(f"\n{count} students{attack}, {phase['elapsed']:.0f} s: {phase['total']} student requests, "
          f"{phase['total'] / phase['elapsed']:.1f} requests/s, "
          f"{sum(len(v) for v in phase['errors'].values())} errors; training {before[0]} step {before[1]} -> "
          f"{after[0]} step {after[1]}")
    print("  CPU cores busy: " + ", ".join(f"{name} {value:.2f}" for name, value in phase["cpu"].items())
          + f" (of {os.cpu_count()}); 1-min load average at the end {os.getloadavg()[0]:.2f}"
          + " (much above the sum: other work on this machine)")
    print(f"  {'kind':<10} {'count':>6} {'p50 ms':>8} {'p95 ms':>8} {'p99 ms':>8} {'max ms':>8} {'errors':>7}")
    pages = []
    for kind in ("progress", *PAGE_KINDS):
        values = phase["by_kind"].get(kind, [])
        if kind != "progress":
            pages += values
        print(f"  {kind:<10} {len(values):>6} {percentile(values, 50):>8.1f} {percentile(values, 95):>8.1f} "
              f"{percentile(values, 99):>8.1f} {max(values, default=float('nan')):>8.1f} "
              f"{len(phase['errors'].get(kind, [])):>7}")
    print(f"  {'all pages':<10} {len(pages):>6} {percentile(pages, 50):>8.1f} {percentile(pages, 95):>8.1f} "
          f"{percentile(pages, 99):>8.1f} {max(pages, default=float('nan')):>8.1f}")
    for kind, messages in phase["errors"].items():
        for message, n in sorted({m: messages.count(m) for m in messages}.items())[:5]:
            print(f"  error {kind}: {message} ×{n}")
    progress_p95 = percentile(phase["by_kind"].get("progress", []), 95)
    if phase["attack"]:
        print(f"  hostile requests by answer: {'kind':<11} " + " ".join(f"{s:>6}" for s in ("200", "429", "503", "other")))
        for kind, statuses in sorted(phase["attack"].items()):
            other = sum(n for s, n in statuses.items() if s not in ("200", "429", "503"))
            print(f"  {'':<27}{kind:<11} " + " ".join(f"{statuses.get(s, 0):>6}" for s in ("200", "429", "503"))
                  + f" {other:>6}")
        if phase["lab"]:
            answered = [ms for ms, answer in phase["lab"] if answer == "200"]
            counts = {answer: sum(1 for _, a in phase["lab"] if a == answer) for answer in ("200", "429", "503")}
            print(f"  students' own lab requests: {len(phase['lab'])}, answered {counts['200']} "
                  f"({100 * counts['200'] / len(phase['lab']):.0f} %), 429 {counts['429']}, 503 busy {counts['503']}, "
                  f"other {len(phase['lab']) - sum(counts.values())}; answered in p50 {percentile(answered, 50):.0f} ms, "
                  f"p95 {percentile(answered, 95):.0f} ms")
        ok = not phase["errors"] and percentile(pages, 95) < 300
        print(f"  target under attack (students: no errors, pages p95 < 300 ms): {'met' if ok else 'NOT met'}")
        return ok
    ok = not phase["errors"] and percentile(pages, 95) < 300 and progress_p95 < 100
    print(f"  targets (no errors, pages p95 < 300 ms, progress p95 < 100 ms): {'met' if ok else 'NOT met'}")
    return ok


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--students", type=int, nargs="+", default=[20, 50])
    parser.add_argument("--seconds", type=float, default=30.0, help="length of each phase (at most 300)")
    parser.add_argument("--web-workers", type=int, default=4, help="gunicorn workers (README: -w 4)")
    parser.add_argument("--train-steps", type=int, default=20000, help="steps of the run that trains meanwhile")
    parser.add_argument("--threads", type=int, default=8, help="threads per gunicorn worker (README: --threads 8)")
    parser.add_argument("--hostile", type=int, default=20, help="hostile clients in the attack phase (0: no attack)")
    parser.add_argument("--attack-students", type=int, default=20, help="students browsing during the attack")
    parser.add_argument("--attack-model", choices=("gpt2", "tiny"), default="gpt2",
                        help="the attacked run's model: GPT-2 small's architecture (124M) or a 2-layer one")
    parser.add_argument("--proxy", choices=("none", "nginx"), default="none",
                        help="nginx in front of gunicorn with deploy/nginx's per-student limits (needs nginx)")
    parser.add_argument("--keep", action="store_true", help="keep the throwaway folder (logs, database)")
    args = parser.parse_args()
    seconds = min(max(1.0, args.seconds), 300.0)
    most = max(*args.students, args.attack_students if args.hostile else 0)

    workdir = Path(tempfile.mkdtemp(prefix="llmschool-load-"))
    site = Site(workdir, args.web_workers, args.threads, args.proxy)
    all_met = True
    try:
        site.start(most, args.train_steps, args.hostile, args.attack_model)
        site.quiz_ids = [int(i) for i in re.findall(r"QUIZ=(\d+)", site.manage("shell", "-c", (
            "from quizzes.models import Quiz\n"
            "for q in Quiz.objects.available().filter(lesson__course__language='ja'): print(f'QUIZ={q.pk}')")))]
        # Each student from an address of their own; the hostile clients all from 127.0.0.1.
        students = [Student(site, f"student{i:02d}", site.run_codes[i], [], threading.Event(), seed=i,
                            address=f"127.0.{1 + i // 250}.{1 + i % 250}") for i in range(most)]
        hostile = [Hostile(site, f"hostile{i:02d}", code, [], threading.Event(), seed=1000 + i)
                   for i, code in enumerate(site.hostile_codes)]
        step(f"logging in {most} students" + (f" and {len(hostile)} hostile ones" if hostile else ""))
        for student in [*students, *hostile]:
            student.log_in()
        step("waiting for the first run to train")
        wait(lambda: training_step(site, students[0])[0] == "running" and training_step(site, students[0])[1] > 0,
             180, "the run to start training")
        proxy = "nginx (deploy/nginx limits) in front of " if args.proxy == "nginx" else ""
        print(f"· site {site.url}: {proxy}gunicorn -w {args.web_workers} --threads {args.threads}, 1 training worker, "
              f"1 inference worker (both at nice {os.environ.get('WORKER_NICENESS') or 10}: WORKER_NICENESS), SQLite "
              f"WAL, embedded Redis; {os.cpu_count()} CPU cores (shared by the load generator)")
        for count in args.students:
            before = training_step(site, students[0])
            phase = run_phase(site, students[:count], seconds)
            after = training_step(site, students[0])
            met = report(count, phase, before, after)
            if count <= 20:
                all_met = all_met and met
        if hostile:
            print(f"\n· attack: {len(hostile)} hostile clients (2 requests at a time each) on a "
                  f"{site.attack_parameters / 1e6:.0f}M-parameter GPT-2-architecture model")
            for student, code in zip(students, site.lab_codes):
                student.lab_code = code
            before = training_step(site, students[0])
            phase = run_phase(site, students[:args.attack_students], seconds, hostile)
            after = training_step(site, students[0])
            all_met = report(args.attack_students, phase, before, after, hostile=len(hostile)) and all_met
        worker_log = (site.logs / "worker.log").read_text(errors="replace") + (
            site.logs / "worker-inference.log").read_text(errors="replace")
        errors_log = (site.logs / "gunicorn-error.log").read_text(errors="replace")
        if "Traceback" in worker_log or "Traceback" in errors_log:
            print("\n! tracebacks in the logs:", site.logs)
            all_met = False
    finally:
        site.stop()
        if args.keep:
            print(f"kept {workdir}")
        else:
            shutil.rmtree(workdir, ignore_errors=True)
    return 0 if all_met else 1


if __name__ == "__main__":
    sys.exit(main())
