"""The from-scratch tokenizer: sized to the corpus, every frequent character a token of its
own, byte fallback for the rest; and a from-scratch model that never writes a character
absent from its training text."""
import json
from collections import Counter
from pathlib import Path

import pytest

from tests.factories import make_text
from training.engine import (
    generate,
    gpt2_tokenizer_dir,
    tokenization,
    tokenize_view,
    train,
)
from training.engine.tokenization import (
    byte_fallback_ids,
    chars_per_token,
    load_tokenizer,
    train_bpe_tokenizer,
    vocabulary_plan,
)

# Rare on purpose: each occurs once, so it is left to byte fallback (𠮷 is outside the BMP).
RARE = "鬱𠮷🙂"


@pytest.fixture(autouse=True, scope="module")
def one_thread():
    """Generation on a busy 2-core machine is ten times faster on one thread."""
    import torch

    previous = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(previous)


@pytest.fixture(scope="module")
def corpus_text() -> str:
    return make_text(200, seed=5) + f"ある日{RARE[0]}な気分で{RARE[1]}野家に行った{RARE[2]}\n"


@pytest.fixture(scope="module")
def tokenizer_dir(corpus_text, tmp_path_factory) -> str:
    return train_bpe_tokenizer([corpus_text], str(tmp_path_factory.mktemp("tok") / "tokenizer"),
                               model_max_length=96)


def test_the_vocabulary_grows_with_the_square_root_of_the_corpus(monkeypatch):
    small = vocabulary_plan(["今日は雨が降った。駅まで歩いた。\n" * 1500])  # 25k characters
    large = vocabulary_plan(["今日は雨が降った。駅まで歩いた。\n" * 60000])  # 1M characters
    assert small["chars"] == 25_500 and 250 <= small["merges"] <= 400
    assert large["merges"] == pytest.approx(small["merges"] * (60000 / 1500) ** 0.5, rel=0.02)
    monkeypatch.setattr(tokenization, "MAX_MERGES", 100)
    assert vocabulary_plan(["今日は雨が降った。駅まで歩いた。\n" * 1500])["merges"] == 100  # bounded
    # Japanese words are short and have no spaces between them: tokens stay within a word.
    assert small["max_token_chars"] == 4
    assert vocabulary_plan(["the ship sailed on\n" * 100])["max_token_chars"] == 10


def test_a_configured_vocab_size_bounds_the_merges_never_the_alphabet():
    text = "the ship sailed over the grey sea 今日は雨\n" * 200
    plan = vocabulary_plan([text], vocab_size=300)
    assert plan["merges"] == 300 - 257 - len(plan["alphabet"])
    assert vocabulary_plan([text], vocab_size=257)["merges"] == 0
    assert set(plan["alphabet"]) == set(text)


def test_a_small_corpus_gets_no_phrase_tokens(tmp_path):
    diary = (Path(__file__).parents[2] / "training/seed/corpora/ja-haiku-diary.txt").read_text(encoding="utf-8")
    tokenizer = load_tokenizer(train_bpe_tokenizer([diary], str(tmp_path / "tok")))
    longest = max(len(tokenizer.decode([i])) for i in range(len(tokenizer)) if i not in byte_fallback_ids(tokenizer)
                  and i != tokenizer.eos_token_id)
    assert longest <= 4
    assert 257 + len(set(diary)) < len(tokenizer) < 1500  # was 4,000 tokens of whole phrases


def test_every_frequent_character_is_one_token_and_rare_ones_fall_back_to_bytes(tokenizer_dir, corpus_text):
    tokenizer = load_tokenizer(tokenizer_dir)
    byte_ids = set(byte_fallback_ids(tokenizer))
    assert len(byte_ids) == 256
    for char, count in Counter(corpus_text).items():
        ids = tokenizer(char, add_special_tokens=False)["input_ids"]
        if count >= 2:
            assert len(ids) == 1 and ids[0] not in byte_ids, char
        else:
            assert len(ids) == len(char.encode("utf-8")) and set(ids) <= byte_ids, char


@pytest.mark.parametrize("text", [
    "今日は朝から雨が降っていた。", "the ship sailed over the grey sea", "混ざった text と emoji 🙂🎉",
    f"まれな字: {RARE} 鬱蒼 𠮷野家 龘", "tabs\tand\nnewlines\n\n  spaces", "<0x41> looks like a byte token", "",
])
def test_decoding_gives_back_the_original_text(tokenizer_dir, text):
    tokenizer = load_tokenizer(tokenizer_dir)
    ids = tokenizer(text, add_special_tokens=False)["input_ids"]
    assert tokenizer.decode(ids) == text


def test_it_loads_as_a_fast_tokenizer_with_the_model_context(tokenizer_dir):
    from transformers import AutoTokenizer, PreTrainedTokenizerFast

    tokenizer = AutoTokenizer.from_pretrained(tokenizer_dir, local_files_only=True)
    assert isinstance(tokenizer, PreTrainedTokenizerFast)
    assert tokenizer.model_max_length == 96 and tokenizer.eos_token_id == 0
    config = json.loads((Path(tokenizer_dir) / "tokenizer_config.json").read_text(encoding="utf-8"))
    assert config["tokenizer_class"] == "PreTrainedTokenizerFast"  # also known to transformers 4


def test_the_token_view_shows_the_bytes_of_each_token(tokenizer_dir):
    text = f"今日は {RARE[1]} the ship"
    tokens = tokenize_view(tokenizer_dir, text)
    assert b"".join(bytes.fromhex(t["bytes"]) for t in tokens) == text.encode("utf-8")
    assert [t["start"] for t in tokens[1:]] == [t["end"] for t in tokens[:-1]]
    rare = [t for t in tokens if "\ufffd" in t["text"]]
    assert len(rare) == 4 and all(t["end"] - t["start"] == 1 for t in rare)  # 𠮷: four byte tokens
    assert all(t["text"] != "\ufffd" for t in tokens if t["bytes"] in ("e4 bb 8a", "e6 97 a5"))


@pytest.mark.parametrize("which", ["gpt2", "scratch"])
def test_characters_per_token_add_up_to_the_text(which, tokenizer_dir):
    tokenizer = load_tokenizer(gpt2_tokenizer_dir() if which == "gpt2" else tokenizer_dir)
    table = chars_per_token(tokenizer)
    for text in ("今日は朝から雨が降っていた。", f"mixed 混在 {RARE} text\n"):
        ids = tokenizer(text, add_special_tokens=False)["input_ids"]
        assert int(table[ids].sum()) == len(text)
    assert table[tokenizer.eos_token_id] == 1


@pytest.fixture(scope="module")
def barely_trained(tmp_path_factory, corpus_text):
    from tests.factories import TINY_ARCH
    from training.engine import MODEL_PRESETS, TrainConfig

    directory = tmp_path_factory.mktemp("barely")
    path = directory / "corpus.txt"
    path.write_text(corpus_text, encoding="utf-8")
    MODEL_PRESETS["test-bytes"] = dict(TINY_ARCH)
    try:
        result = train(TrainConfig(data_path=str(path), output_dir=str(directory / "run"), base_source="test-bytes",
                                   block_size=32, batch_size=4, max_steps=3, eval_every_steps=3,
                                   sample_max_new_tokens=4, num_threads=1, seed=1))
    finally:
        MODEL_PRESETS.pop("test-bytes")
    return result


def test_a_scratch_model_writes_only_characters_of_its_training_text(barely_trained, corpus_text):
    allowed = set(corpus_text)
    written = "".join(generate(barely_trained.model_dir, prompt, max_new_tokens=60, temperature=1.5, top_k=None,
                               top_p=None, repetition_penalty=1.0, seed=seed)
                      for seed in range(8) for prompt in ("", "今日は"))
    assert len(written) > 300
    assert "\ufffd" not in written
    assert set(written) <= allowed


def test_the_download_keeps_the_rule_and_the_context(barely_trained, corpus_text):
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    model_dir = barely_trained.model_dir
    model = AutoModelForCausalLM.from_pretrained(model_dir)
    tokenizer = AutoTokenizer.from_pretrained(model_dir)
    assert tokenizer.model_max_length == model.config.n_positions
    assert sorted(model.generation_config.suppress_tokens) == byte_fallback_ids(tokenizer)
    torch.manual_seed(0)
    output = model.generate(torch.tensor([[tokenizer.eos_token_id]] * 8), max_new_tokens=40, do_sample=True,
                            temperature=1.5, top_k=0, top_p=1.0)
    written = tokenizer.decode(output.flatten(), skip_special_tokens=True)
    assert "\ufffd" not in written and set(written) <= set(corpus_text)


def test_the_result_says_what_the_tokenizer_learned(barely_trained):
    summary = barely_trained.data["tokenizer"]
    assert summary["vocab_size"] == barely_trained.data["vocab_size"] and summary["byte_fallback"]
    assert 0 < summary["tokens_per_char"] < 1
    assert summary["longest_tokens"] and all(len(t) <= 10 for t in summary["longest_tokens"])
    assert [len(t) for t in summary["longest_tokens"]] == sorted((len(t) for t in summary["longest_tokens"]),
                                                                 reverse=True)
