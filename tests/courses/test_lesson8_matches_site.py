"""Lesson 8 (training mechanics) states what the site's training loop does; every figure it
gives about the site is computed here with the site's own code (training.engine.trainer,
presets, config, runtime), so lesson, quiz and site cannot drift apart.

A figure changed in the code fails here until lesson 8 (both languages) says the same.
"""
import inspect
import math

import pytest

from training.engine import presets, runtime
from training.engine.config import TrainConfig
from training.engine.estimate import parameters
from tests.courses.seed_text import SeedLesson

SLUG = "08-training-mechanics"
LESSON = SeedLesson(SLUG)
lesson, quiz, in_both = LESSON.text, LESSON.quiz, LESSON.in_both
PIRATE_LOG_TOKENS, SPEED = 23_648, 1536  # lesson 5's worked example (its own test ties both to the site)
TABLE_STEPS = (0, 1, 5, 30, 55, 80, 100, 105)  # the columns of the lesson's learning-rate table


def latex(value: float, digits: int) -> str:
    """5e-05 -> '5.0\\times10^{-5}' as the lesson writes it."""
    if value == 0:
        return "0"
    exponent = math.floor(math.log10(abs(value)))
    return f"{value / 10 ** exponent:.{digits}f}\\times10^{{{exponent}}}"


def the_run() -> dict:
    """Lesson 5's standard run on the pirate log: the plan the site makes."""
    return presets.preset_plan("standard", base_kind="pretrained", base_source="gpt2", parameters=parameters("gpt2"),
                               tokens=PIRATE_LOG_TOKENS, tokens_per_second=SPEED)


def site_optimizer(model, total_steps: int, learning_rate: float):
    """The trainer's own make_optimizer, on a run object holding only what it reads."""
    from training.engine.trainer import _Run

    run = _Run.__new__(_Run)
    run.config = TrainConfig(data_path="unused", output_dir="unused")
    run.learning_rate = learning_rate
    return run.make_optimizer(model, total_steps)


def test_the_site_settings_are_the_ones_lesson_8_states():
    config = TrainConfig(data_path="x", output_dir="y")
    assert (config.weight_decay, config.max_grad_norm, config.checkpoint_every_seconds) == (0.01, 1.0, 60.0)
    assert (presets.SETTINGS["scratch"]["warmup_ratio"], presets.SETTINGS["pretrained"]["warmup_ratio"]) == (0.02, 0.05)
    assert (presets.SETTINGS["pretrained"]["batch_size"], presets.SETTINGS["pretrained"]["grad_accum"]) == (4, 2)
    assert (presets.SETTINGS["scratch"]["batch_size"], presets.SETTINGS["scratch"]["grad_accum"]) == (8, 1)
    assert (presets.EVALUATIONS_PER_RUN, presets.EARLY_STOPPING_PATIENCE, presets.TIME_GUARD_FACTOR) == (16, 4, 1.5)
    assert "avx512_bf16" in inspect.getsource(runtime.cpu_has_bf16)
    assert "amx_bf16" in inspect.getsource(runtime.cpu_has_bf16)
    in_both("0.01", "1.0", "60", "2%", "5%", "16", "$\\lfloor T/16 \\rfloor$", "1.5", "`avx512_bf16`", "`amx_bf16`",
            "$\\beta_1 = 0.9$", "$\\beta_2 = 0.95$", "$\\epsilon = 10^{-8}$")


def test_adamw_groups_betas_and_epsilon_are_the_trainers():
    import torch

    model = torch.nn.Sequential(torch.nn.Embedding(10, 4), torch.nn.Linear(4, 4), torch.nn.LayerNorm(4))
    optimizer, _ = site_optimizer(model, total_steps=10, learning_rate=5e-5)
    assert isinstance(optimizer, torch.optim.AdamW)
    decay, no_decay = optimizer.param_groups
    assert decay["weight_decay"] == 0.01 and no_decay["weight_decay"] == 0.0
    assert all(p.dim() >= 2 for p in decay["params"]) and len(decay["params"]) == 2  # embedding + linear weight
    assert all(p.dim() == 1 for p in no_decay["params"]) and len(no_decay["params"]) == 3  # bias, LayerNorm gain+bias
    assert decay["betas"] == (0.9, 0.95) and decay["eps"] == 1e-8


def test_the_learning_rate_table_is_the_site_schedule():
    import torch

    plan = the_run()
    steps = plan["plan"]["steps"]
    rate = plan["hyperparameters"]["learning_rate"]
    warmup = int(round(plan["hyperparameters"]["warmup_ratio"] * steps))
    assert (steps, warmup, rate) == (105, 5, 5e-5)
    optimizer, scheduler = site_optimizer(torch.nn.Linear(2, 2), steps, rate)
    rates = [scheduler.get_last_lr()[0]]
    for _ in range(steps):
        optimizer.step()
        scheduler.step()
        rates.append(scheduler.get_last_lr()[0])
    assert rates[0] == 0 and rates[-1] == 0 and rates[warmup] == pytest.approx(rate)
    assert rates[warmup + (steps - warmup) // 2] == pytest.approx(rate / 2)  # half the peak at step 55
    cells = {0: "0", 1: latex(rates[1], 1), 5: latex(rates[5], 1), 30: latex(rates[30], 2), 55: latex(rates[55], 1),
             80: latex(rates[80], 1), 100: latex(rates[100], 1), 105: "0"}
    assert cells[30] == "4.27\\times10^{-5}" and cells[80] == "7.3\\times10^{-6}"
    row = "| " + " | ".join(c if c == "0" else f"${c}$" for c in (cells[s] for s in TABLE_STEPS)) + " |"
    header_en = "| Step $s$ | " + " | ".join(str(s) for s in TABLE_STEPS) + " |"
    header_ja = "| ステップ $s$ | " + " | ".join(str(s) for s in TABLE_STEPS) + " |"
    assert header_en in lesson("en") and header_ja in lesson("ja")
    in_both(row, f"$T = {steps}$", f"$w = \\mathrm{{round}}(0.05 \\times {steps}) = {warmup}$",
            f"$w + (T - w)/2 = {warmup + (steps - warmup) // 2}$")

    # Weight decay over the run: the learning rates of the 105 updates (the last rate is never used).
    used = rates[:steps]
    total = sum(used)
    shrink = 1 - math.prod(1 - 0.01 * r for r in used)
    assert total == pytest.approx(2.625e-3)
    in_both("$\\sum_t \\eta_t = 2.625\\times10^{-3}$", f"**{shrink * 100:.4f}%**")
    assert f"{shrink * 100:.4f}" == "0.0026"
    for language in ("en", "ja"):
        keyed = [c["text"] for q in quiz(language) for c in q["choices"] if c["correct"]]
        assert any("0.0026%" in text for text in keyed)


def test_the_memory_table_follows_from_float32_and_adams_two_averages():
    import torch

    layer = torch.nn.Linear(3, 3)
    optimizer = torch.optim.AdamW(layer.parameters())
    layer(torch.ones(1, 3)).sum().backward()
    optimizer.step()
    state = optimizer.state[layer.weight]
    assert {"exp_avg", "exp_avg_sq"} <= set(state) and state["exp_avg"].dtype == torch.float32

    total = 124_439_808  # GPT-2 small as transformers counts it (lessons 1, 2 and 5 state the same)
    lora = 12 * 8 * ((768 + 2304) + (768 + 768) + (768 + 3072) + (3072 + 768))  # r(d+k) on c_attn, c_proj, c_fc, c_proj
    assert lora == 1_179_648
    full = total * 16
    with_lora = total * 4 + lora * 16
    in_both(f"{total:,}", f"{lora:,}", f"{total * 4:,} B", f"{total * 8:,} B", f"{lora * 4:,} B", f"{lora * 8:,} B",
            f"{full:,} B ≈ {full / 1e9:.2f} GB", f"{with_lora:,} B ≈ {with_lora / 1e9:.2f} GB")


def test_the_number_formats_table_is_torch_finfo():
    import torch

    bf16, fp16, fp32 = torch.finfo(torch.bfloat16), torch.finfo(torch.float16), torch.finfo(torch.float32)
    assert (bf16.bits, fp16.bits, fp32.bits) == (16, 16, 32)
    assert f"{fp32.max:.1e}" == f"{bf16.max:.1e}" == "3.4e+38" and fp16.max == 65504
    assert f"{fp32.tiny:.1e}" == f"{bf16.tiny:.1e}" == "1.2e-38" and f"{fp16.tiny:.1e}" == "6.1e-05"
    assert (f"{fp32.eps:.1e}", bf16.eps, round(fp16.eps, 5)) == ("1.2e-07", 0.0078125, 0.00098)
    in_both("| float32 | 1 / 8 / 23 | $3.4\\times10^{38}$ | $1.2\\times10^{-38}$ | $1.2\\times10^{-7}$ |",
            "| bfloat16 | 1 / 8 / 7 | $3.4\\times10^{38}$ | $1.2\\times10^{-38}$ | $0.0078$ |",
            "| float16 | 1 / 5 / 10 | 65,504 | $6.1\\times10^{-5}$ | $0.00098$ |", "$1.0078$")
    # "An update of 5e-5 added to a weight of 1.0 in bfloat16 simply disappears."
    assert (torch.tensor(1.0, dtype=torch.bfloat16) + 5e-5).item() == 1.0
    assert torch.tensor(1.0 + 5e-5, dtype=torch.float32).item() != 1.0


def test_clipping_a_gradient_of_norm_5():
    import torch

    weight = torch.nn.Parameter(torch.zeros(2))
    weight.grad = torch.tensor([3.0, 4.0])
    norm = torch.nn.utils.clip_grad_norm_([weight], TrainConfig(data_path="x", output_dir="y").max_grad_norm)
    assert norm.item() == 5.0 and weight.grad.tolist() == pytest.approx([0.6, 0.8], rel=1e-5)
    in_both("$(3, 4)$", "$(0.6, 0.8)$")


def test_the_overfitting_warning_rule_is_the_trainers(monkeypatch):
    """Lesson 8: the warning comes when validation loss exceeds its best by more than 0.01 or 2%
    of it (whichever is larger) while the training loss is below its value at the best step."""
    from training.engine import trainer

    monkeypatch.setattr(trainer.ckpt, "save_best", lambda *args, **kwargs: None)
    run = trainer._Run.__new__(trainer._Run)
    run.out, run.bpc, run.log = "unused", (lambda loss: 0.0), (lambda *args, **kwargs: None)

    def warned(best: float, val: float, train: float) -> bool:
        state = {"history": [], "best_val_loss": None, "best_step": 0, "best_train_loss": None, "overfitting": False}
        run.record_eval(None, state, 10, 2.0, best, 1e-4)
        run.record_eval(None, state, 20, train, val, 1e-4)
        return state["overfitting"]

    assert not warned(0.4, 0.4 + 0.009, 0.3) and warned(0.4, 0.4 + 0.011, 0.3)  # 0.01 is more than 2% of 0.4
    assert not warned(3.0, 3.0 + 0.059, 1.5) and warned(3.0, 3.0 + 0.061, 1.5)  # 2% of 3.0 = 0.06
    assert not warned(1.0, 1.5, 2.5) and warned(1.0, 1.5, 1.9)  # training loss not below its value at the best step
