"""The engine is plain Python: it must work in a process where Django was never imported."""
import subprocess
import sys
import textwrap
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def run(code: str) -> str:
    env = {"PATH": "/usr/bin:/bin", "HF_HUB_OFFLINE": "1", "PYTHONPATH": str(ROOT)}
    completed = subprocess.run([sys.executable, "-c", textwrap.dedent(code)], cwd=ROOT, env=env,
                               capture_output=True, text=True, timeout=120)
    assert completed.returncode == 0, completed.stderr
    return completed.stdout


def test_the_engine_never_imports_django(corpus_path, tiny_base_dir):
    output = run(f"""
        import sys
        import training.engine as engine
        engine.check_dataset({corpus_path!r}, block_size=32)
        engine.generate({tiny_base_dir!r}, "hi", max_new_tokens=2)
        engine.tokenize_view(engine.gpt2_tokenizer_dir(), "hi")
        for name in engine.__all__:
            getattr(engine, name)
        import training.engine.trainer
        print(sorted(m for m in sys.modules if m == "django" or m.startswith("django.")))
    """)
    assert output.strip() == "[]"


def test_the_error_classes_load_without_torch():
    output = run("""
        import sys
        from training.engine import DatasetError, TrainConfig, MODEL_PRESETS
        print("torch" in sys.modules)
    """)
    assert output.strip() == "False"
