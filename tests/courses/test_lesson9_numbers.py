"""Every worked number of lesson 9 (inference) is recomputed here from a small table of the
GPT-2 configurations, so the text of either language cannot drift from the arithmetic.

The table is lesson 1's (layers, d_model, heads, exact parameters); GPT-2 small's row is
also checked against transformers' GPT2Config defaults.
"""
from pathlib import Path

import pytest

from tests.courses.seed_text import SeedLesson

ROOT = Path(__file__).resolve().parents[2]
SLUG = "09-inference"
LESSON = SeedLesson(SLUG)
lesson, quiz, in_both = LESSON.text, LESSON.quiz, LESSON.in_both
CONTEXT = 1024
KIB, MIB = 1024, 1024 ** 2
FP16, FP32 = 2, 4

# name: (layers, d_model, heads, exact parameters) -- lesson 1's table (openai/gpt-2 model_card, GPT2Config)
GPT2 = {
    "124M": (12, 768, 12, 124_439_808),
    "355M": (24, 1024, 16, 354_823_168),
    "774M": (36, 1280, 20, 774_030_080),
    "1.5B": (48, 1600, 25, 1_557_611_200),
}


def numbers_per_token(name: str) -> int:
    layers, width, heads, _ = GPT2[name]
    assert width % heads == 0 and width // heads == 64  # n_heads x d_head = d_model, d_head 64
    return 2 * layers * width


def latex_int(value: int) -> str:
    return f"{value:,}".replace(",", "{,}")


def test_gpt2_small_row_is_transformers_default_config():
    from transformers import GPT2Config

    config = GPT2Config()
    assert (config.n_layer, config.n_embd, config.n_head, config.n_positions) == (12, 768, 12, CONTEXT)
    assert config.use_cache is True  # "GPT-2's configuration has use_cache=True by default"
    in_both("`use_cache=True`")


@pytest.mark.parametrize("name", list(GPT2))
def test_the_cache_table_row(name):
    layers, width, _, params = GPT2[name]
    per_token = numbers_per_token(name)
    fp16, fp32 = per_token * FP16, per_token * FP32
    assert fp16 % KIB == 0 and fp16 * CONTEXT % MIB == 0  # the table's figures are exact
    weights_mib = params * FP16 / MIB
    share = per_token * FP16 * CONTEXT / (params * FP16)
    per_token_row = f"| GPT-2 {name} | {layers} | {width:,} | {per_token:,} | {fp16 // KIB} KiB | {fp32 // KIB} KiB |"
    context_row = (f"| GPT-2 {name} | {fp16 * CONTEXT // MIB} MiB | {fp32 * CONTEXT // MIB} MiB | "
                   f"{weights_mib:,.0f} MiB | {share:.0%} |")
    in_both(per_token_row, context_row)


def test_the_gpt2_small_walk_through_and_the_vllm_check():
    per_token = numbers_per_token("124M")
    assert per_token == 18_432 and per_token * FP16 == 36_864 and per_token * FP16 * CONTEXT == 37_748_736
    in_both(f"$2 \\times 12 \\times 768 = {latex_int(per_token)}$", f"$18{{,}}432 \\times 2 = {latex_int(36_864)}$",
            f"$36{{,}}864 \\times 1{{,}}024 = {latex_int(37_748_736)}$", "36 MiB")
    # vLLM's OPT-13B figure, the same formula: 2 x 5120 x 40 x 2 bytes = 800 KiB per token.
    assert 2 * 5120 * 40 * FP16 == 800 * KIB
    in_both("800 KB", "1.6 GB")


def test_serving_32_sequences_of_gpt2_xl():
    cache = 32 * numbers_per_token("1.5B") * FP16 * CONTEXT // MIB
    weights = GPT2["1.5B"][3] * FP16 / MIB
    assert cache == 9_600 and cache > 3 * weights
    in_both("$32 \\times 300 = 9{,}600$ MiB", f"{weights:,.0f} MiB")
    for language in ("en", "ja"):
        keyed = [c["text"] for q in quiz(language) for c in q["choices"] if c["correct"]]
        assert any("9,600 MiB" in text for text in keyed)


def test_tinyllama_gqa_example():
    layers, kv_heads, head_dim, query_heads = 22, 4, 64, 32  # TinyLlama-1.1B config.json
    per_token = 2 * layers * kv_heads * head_dim * FP16
    assert per_token == 22_528 and 2 * layers * query_heads * head_dim * FP16 == 8 * per_token
    in_both("$2 \\times 22 \\times 4 \\times 64 \\times 2 = 22{,}528$")


def test_positions_without_and_with_the_cache():
    without = sum(range(1, CONTEXT + 1))
    assert without == CONTEXT * (CONTEXT + 1) // 2 == 524_800 and round(without / CONTEXT) == 512
    in_both("**524,800**", "**1,024**", "**512**", "$n(n+1)/2 = 524{,}800$")
    for language in ("en", "ja"):
        keyed = [c["text"] for q in quiz(language) for c in q["choices"] if c["correct"]]
        assert any("524,800" in text and "1,024" in text for text in keyed)


@pytest.mark.parametrize("name", ["124M", "1.5B"])
def test_kaplan_forward_flops_table(name):
    layers, width, _, _ = GPT2[name]
    non_embedding = 12 * layers * width ** 2  # Kaplan's N for d_attn = d_model, d_ff = 4 d_model
    attention = 2 * layers * CONTEXT * width
    share = attention / (2 * non_embedding)
    assert share == pytest.approx(CONTEXT / (12 * width))
    in_both(f"| GPT-2 {name} | {2 * non_embedding:,} | {attention:,} | {share:.1%} | {12 * width:,} ")


def test_long_context_table():
    cells = [(n * n, numbers_per_token("124M") * FP16 * n // MIB) for n in (1024, 2048, 4096, 8192)]
    assert cells[-1] == (64 * cells[0][0], 8 * cells[0][1])
    in_both(" | ".join(f"{entries:,}" for entries, _ in cells), " | ".join(f"{mib} MiB" for _, mib in cells),
            "$8{,}192^2 / 1{,}024^2$", "288 MiB")


@pytest.mark.parametrize("name", list(GPT2))
def test_weights_at_each_precision(name):
    params = GPT2[name][3]
    row = f"| GPT-2 {name} | {params:,} | " + " | ".join(
        f"{params * bits / 8 / 1e9:.2f} GB" for bits in (32, 16, 8, 4)) + " |"
    in_both(row)


def test_double_quantization_saving():
    assert 65e9 * 0.37 / 8 / 1e9 == pytest.approx(3.0, abs=0.01)
    in_both("$65\\times10^9 \\times 0.37 / 8 \\approx 3$ GB")


def test_the_cached_pass_gives_the_same_logits_as_a_full_pass():
    """The lesson's code: prefill, then one token with the cache, equals a full pass (tiny model)."""
    import torch
    from transformers import GPT2Config, GPT2LMHeadModel

    torch.manual_seed(0)
    model = GPT2LMHeadModel(GPT2Config(n_layer=2, n_embd=32, n_head=4, n_positions=16, vocab_size=50,
                                       bos_token_id=0, eos_token_id=0)).eval()
    ids = torch.tensor([[1, 2, 3, 4]])
    with torch.no_grad():
        out = model(ids, use_cache=True)
        next_id = out.logits[:, -1].argmax(-1, keepdim=True)
        cached = model(next_id, cache=out.cache, use_cache=True).logits[:, -1]
        full = model(torch.cat([ids, next_id], dim=1)).logits[:, -1]
    assert torch.allclose(cached, full, atol=1e-5)
    in_both("out = model(next_id, cache=out.cache, use_cache=True)")


def test_the_site_runs_its_models_in_float32():
    source = (ROOT / "training" / "engine" / "inference.py").read_text(encoding="utf-8")
    assert 'dtype="float32"' in source
    in_both("`training/engine/inference.py`")
