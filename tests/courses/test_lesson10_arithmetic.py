"""Lesson 10 ("After GPT-2") counts parameters and cache bytes from two config tables.

Every figure of that arithmetic is recomputed here from the tables below (the values the
lesson quotes from GPT2Config and TinyLlama-1.1B's config.json), and each result must appear
in both languages of the lesson, so the text cannot drift from its own arithmetic. The totals
are also checked against the models transformers builds from the same configs (on the meta
device: shapes only, nothing allocated or downloaded).
"""
import math
import re

import pytest

from training.engine.config import MODEL_PRESETS
from tests.courses.seed_text import SeedLesson

SLUG = "10-after-gpt2"
LESSON = SeedLesson(SLUG)
quiz = LESSON.quiz


def lesson(language: str) -> str:
    return LESSON.text(language).replace("{,}", ",")  # LaTeX thousands separators read like plain ones
LANGUAGES = ("en", "ja")

GPT2 = {"hidden": 768, "layers": 12, "heads": 12, "intermediate": 3072, "vocab": 50257, "context": 1024}
TINYLLAMA = {"hidden": 2048, "layers": 22, "heads": 32, "kv_heads": 4, "head_dim": 64, "intermediate": 5632,
             "vocab": 32000, "context": 2048, "rope_theta": 10000.0}
LLAMA_7B_SHAPE = {"hidden": 4096, "intermediate": 11008}  # LlamaConfig defaults


def gpt2_counts(c: dict) -> dict:
    d = c["hidden"]
    weights = 4 * d * d + 2 * d * c["intermediate"]          # c_attn (3d²) + c_proj (d²) + MLP
    biases = 3 * d + d + c["intermediate"] + d
    block = weights + biases + 2 * 2 * d                       # ln_1 and ln_2: gain and bias each
    blocks = c["layers"] * block + 2 * d                       # + ln_f
    wte, wpe = c["vocab"] * d, c["context"] * d
    return {"blocks": blocks, "wte": wte, "wpe": wpe, "embeddings": wte + wpe, "total": blocks + wte + wpe}


def llama_counts(c: dict, kv_heads: int | None = None, tied: bool = False) -> dict:
    d, kv = c["hidden"], (kv_heads or c["kv_heads"]) * c["head_dim"]
    q_and_o = 2 * d * d
    k_and_v = 2 * d * kv
    mlp = 3 * d * c["intermediate"]
    norms = 2 * d
    layer = q_and_o + k_and_v + mlp + norms
    layers = c["layers"] * layer
    embedding = c["vocab"] * d
    output = 0 if tied else embedding
    return {"q_and_o": q_and_o, "k_and_v": k_and_v, "mlp": mlp, "norms": norms, "layer": layer,
            "layers": layers, "final_norm": d, "embedding": embedding, "output": output,
            "total": layers + d + embedding + output}


def kv_cache_bytes(layers: int, kv_heads: int, head_dim: int, bytes_per_value: int) -> int:
    return 2 * layers * kv_heads * head_dim * bytes_per_value


def figures() -> dict[str, str]:
    """Every number the lesson derives, formatted as the lesson writes it."""
    g, t = gpt2_counts(GPT2), llama_counts(TINYLLAMA)
    mha = llama_counts(TINYLLAMA, kv_heads=TINYLLAMA["heads"])
    extra_for_mha = mha["total"] - t["total"]
    d = TINYLLAMA["hidden"]
    gelu_mlp = 2 * d * 4 * d
    head_dim = TINYLLAMA["head_dim"]
    gpt2_kv = kv_cache_bytes(GPT2["layers"], GPT2["heads"], GPT2["hidden"] // GPT2["heads"], 2)
    tiny_kv = kv_cache_bytes(TINYLLAMA["layers"], TINYLLAMA["kv_heads"], head_dim, 2)
    tiny_mha_kv = kv_cache_bytes(TINYLLAMA["layers"], TINYLLAMA["heads"], head_dim, 2)
    slowest = TINYLLAMA["rope_theta"] ** (-2 * (head_dim // 2 - 1) / head_dim)
    a = (1, 1, 1, 5)
    mean = sum(a) / len(a)
    sigma = math.sqrt(sum((x - mean) ** 2 for x in a) / len(a))
    rms = math.sqrt(sum(x * x for x in a) / len(a))
    return {
        # TinyLlama's parameter table
        "q and o per layer": f"{t['q_and_o']:,}", "k and v per layer": f"{t['k_and_v']:,}",
        "SwiGLU per layer": f"{t['mlp']:,}", "norms per layer": f"{t['norms']:,}", "one layer": f"{t['layer']:,}",
        "all layers": f"{t['layers']:,}", "final norm": f"{t['final_norm']:,}",
        "embedding": f"{t['embedding']:,}", "total": f"{t['total']:,}",
        # GPT-2 small, as in lesson 2
        "gpt2 total": f"{g['total']:,}", "gpt2 blocks": f"{g['blocks']:,}", "gpt2 embeddings": f"{g['embeddings']:,}",
        "gpt2 wpe": f"{g['wpe']:,}",
        # what each design choice costs
        "k and v if MHA": f"{mha['k_and_v']:,}", "extra params if MHA": f"{extra_for_mha:,}",
        "MHA share": f"{round(100 * extra_for_mha / t['total'])}%", "GELU MLP": f"{gelu_mlp:,}",
        # KV cache
        "gpt2 kv/token": f"{gpt2_kv:,} B", "gpt2 kv/context": f"{gpt2_kv * GPT2['context'] // 2**20} MiB",
        "tiny kv/token": f"{tiny_kv:,} B", "tiny kv/context": f"{tiny_kv * TINYLLAMA['context'] // 2**20} MiB",
        "tiny MHA kv/token": f"{tiny_mha_kv:,} B",
        "tiny MHA kv/context": f"{tiny_mha_kv * TINYLLAMA['context'] // 2**20} MiB",
        # MLP ratios
        "gpt2 ratio": f"{GPT2['intermediate'] / GPT2['hidden']:.1f}",
        "llama-7b ratio": f"{LLAMA_7B_SHAPE['intermediate'] / LLAMA_7B_SHAPE['hidden']}",
        "tiny ratio": f"{TINYLLAMA['intermediate'] / TINYLLAMA['hidden']}",
        "two thirds of 4": f"{2 / 3 * 4:.2f}",
        # RoPE frequencies
        "fastest period": f"{2 * math.pi:.1f}", "slowest angle": f"{slowest / 10 ** -4:.2f}\\times 10^{{-4}}",
        "slowest period": f"{round(2 * math.pi / slowest):,}",
        # RMSNorm worked example
        "LN sigma": f"{sigma:.3f}", "LN low": f"{(1 - mean) / sigma:.3f}", "LN high": f"{(5 - mean) / sigma:.3f}",
        "RMS": f"{rms:.3f}", "RMS low": f"{1 / rms:.3f}", "RMS high": f"{5 / rms:.3f}",
    }


def test_the_arithmetic_itself():
    # Independent anchors: lesson 2's GPT-2 count and the known TinyLlama total.
    assert gpt2_counts(GPT2)["total"] == 124_439_808 and gpt2_counts(GPT2)["blocks"] == 85_056_000
    assert llama_counts(TINYLLAMA)["total"] == 1_100_048_384
    assert 2 * TINYLLAMA["hidden"] * TINYLLAMA["hidden"] // TINYLLAMA["heads"] * TINYLLAMA["heads"] == \
        llama_counts(TINYLLAMA)["q_and_o"]
    assert TINYLLAMA["hidden"] // TINYLLAMA["heads"] == TINYLLAMA["head_dim"]
    assert TINYLLAMA["heads"] // TINYLLAMA["kv_heads"] == 8  # "8 times smaller" cache, "groups of 8"


@pytest.mark.parametrize("language", LANGUAGES)
def test_every_figure_of_the_arithmetic_is_in_the_lesson(language):
    text = lesson(language)
    missing = {name: value for name, value in figures().items() if value not in text}
    assert not missing, f"{language}/{SLUG}.md does not state (or states differently): {missing}"


GROUPED_NUMBER = re.compile(r"\d{1,3}(?:,\d{3})+")


def test_no_other_large_number_appears_and_both_languages_state_the_same_ones():
    """A figure changed in one place only (a table cell, one language) fails here, even where the
    correct figure still appears elsewhere: every comma-grouped number must be derived or quoted."""
    quoted = {GPT2["context"], GPT2["intermediate"], TINYLLAMA["context"], TINYLLAMA["intermediate"],
              LLAMA_7B_SHAPE["hidden"], LLAMA_7B_SHAPE["intermediate"], int(TINYLLAMA["rope_theta"])}
    allowed = {value.split(" ")[0] for value in figures().values()} | {f"{n:,}" for n in quoted}
    found = {language: sorted(GROUPED_NUMBER.findall(lesson(language))) for language in LANGUAGES}
    for language, numbers in found.items():
        assert not set(numbers) - allowed, f"{language}: numbers the arithmetic does not give: {set(numbers) - allowed}"
    assert found["en"] == found["ja"]


@pytest.mark.parametrize("language", LANGUAGES)
def test_the_config_table_quotes_the_configs(language):
    text = lesson(language)
    for field, key in (("hidden_size", "hidden"), ("num_hidden_layers", "layers"), ("num_attention_heads", "heads"),
                       ("num_key_value_heads", "kv_heads"), ("head_dim", "head_dim"),
                       ("intermediate_size", "intermediate"), ("max_position_embeddings", "context"),
                       ("vocab_size", "vocab")):
        assert f"`{field}` = {TINYLLAMA[key]} |" in text, field
    assert f"`rope_theta` = {TINYLLAMA['rope_theta']}" in text
    for field, key in (("n_embd", "hidden"), ("n_layer", "layers"), ("n_head", "heads"), ("n_positions", "context"),
                       ("vocab_size", "vocab")):
        assert f"| `{field}` = {GPT2[key]} |" in text, field
    assert f"$4d$ = {GPT2['intermediate']}" in text and f"= {GPT2['hidden'] // GPT2['heads']}" in text


@pytest.mark.parametrize("language", LANGUAGES)
def test_the_site_preset_the_lesson_names_is_the_sites(language):
    tiny = MODEL_PRESETS["tiny"]
    text = lesson(language)
    for field in ("n_embd", "n_layer", "n_head", "n_positions"):
        assert f"`{field}` {tiny[field]}" in text, field


@pytest.mark.parametrize("language", LANGUAGES)
def test_the_quiz_uses_the_same_figures(language):
    keyed = " ".join(c["text"] for q in quiz(language) for c in q["choices"] if c["correct"])
    t = llama_counts(TINYLLAMA)
    assert f"{t['total']:,}" in keyed
    assert f"{t['k_and_v']:,}" in keyed
    assert f"{kv_cache_bytes(TINYLLAMA['layers'], TINYLLAMA['kv_heads'], TINYLLAMA['head_dim'], 2):,}" in keyed
    assert f"{kv_cache_bytes(TINYLLAMA['layers'], TINYLLAMA['heads'], TINYLLAMA['head_dim'], 2):,}" in keyed


def test_transformers_builds_models_with_exactly_these_counts():
    torch = pytest.importorskip("torch")
    from transformers import GPT2Config, GPT2LMHeadModel, LlamaConfig, LlamaForCausalLM

    def tiny_llama(kv_heads: int, tied: bool):
        return LlamaConfig(hidden_size=TINYLLAMA["hidden"], intermediate_size=TINYLLAMA["intermediate"],
                           num_hidden_layers=TINYLLAMA["layers"], num_attention_heads=TINYLLAMA["heads"],
                           num_key_value_heads=kv_heads, vocab_size=TINYLLAMA["vocab"],
                           max_position_embeddings=TINYLLAMA["context"], tie_word_embeddings=tied)

    def count(model) -> int:
        return sum(p.numel() for p in model.parameters())  # tied weights are one parameter, counted once

    with torch.device("meta"):
        gpt2 = GPT2LMHeadModel(GPT2Config(n_embd=GPT2["hidden"], n_layer=GPT2["layers"], n_head=GPT2["heads"],
                                          n_positions=GPT2["context"], vocab_size=GPT2["vocab"]))
        assert count(gpt2) == gpt2_counts(GPT2)["total"]
        model = LlamaForCausalLM(tiny_llama(TINYLLAMA["kv_heads"], tied=False))
        assert count(model) == llama_counts(TINYLLAMA)["total"]
        layer = model.model.layers[0]
        assert count(layer) == llama_counts(TINYLLAMA)["layer"]
        assert count(layer.mlp) == llama_counts(TINYLLAMA)["mlp"]
        assert count(LlamaForCausalLM(tiny_llama(TINYLLAMA["heads"], tied=False))) == \
            llama_counts(TINYLLAMA, kv_heads=TINYLLAMA["heads"])["total"]
        assert count(LlamaForCausalLM(tiny_llama(TINYLLAMA["kv_heads"], tied=True))) == \
            llama_counts(TINYLLAMA, tied=True)["total"]
