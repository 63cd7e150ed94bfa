"""The first requests of a fresh process may tokenize at the same moment (two threads of a
worker, a test): transformers' lazy names must not fail under concurrent first use."""
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]

SCRIPT = """
import threading
import django
django.setup()
from training.inference_tasks import token_rows
from training.engine import gpt2_tokenizer_dir

directory = gpt2_tokenizer_dir()
errors = []
start = threading.Barrier(4)

def first_tokens():
    start.wait()
    try:
        token_rows(directory, "東京メトロに乗る")
    except Exception as exc:  # the bug raised ImportError in all but one thread
        errors.append(repr(exc))

threads = [threading.Thread(target=first_tokens) for _ in range(4)]
for thread in threads:
    thread.start()
for thread in threads:
    thread.join()
print("errors:", errors)
sys.exit(1 if errors else 0)
"""


def test_concurrent_first_requests_in_a_fresh_process_all_succeed(tmp_path):
    env = {**os.environ, "DJANGO_SETTINGS_MODULE": "llmschool.test_settings", "VAR_DIR": str(tmp_path),
           "HF_HUB_OFFLINE": "1", "TOKENIZERS_PARALLELISM": "false"}
    result = subprocess.run([sys.executable, "-c", "import sys\n" + SCRIPT], cwd=ROOT, env=env,
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stdout + result.stderr
