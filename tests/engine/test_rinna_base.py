"""rinna's Japanese GPT-2 as a base, on a local stand-in with the same files (tests/conftest.py):
its SentencePiece tokenizer loaded as rinna meant it, fine-tuning, LoRA, the export read back
by transformers, the dataset check counting with it, and the lab's token view."""
import json
import os

import pytest

from training.engine import check_dataset, estimate_seconds, train
from training.engine.inference import tokenize_view
from training.engine.tokenization import load_tokenizer

from .conftest import file_names

JA_TEXT = "今日の一句　寒の月\n朝、バス停で霜柱を踏んだ。"


@pytest.fixture(scope="module")
def haiku_path(tmp_path_factory) -> str:
    from tests.factories import HAIKU_DIARY

    path = tmp_path_factory.mktemp("haiku") / "haiku.txt"
    path.write_text(HAIKU_DIARY.read_text(encoding="utf-8")[:12000], encoding="utf-8")
    return str(path)


def test_the_tokenizer_loads_as_rinna_meant_it(rinna_standin_dir):
    tokenizer = load_tokenizer(str(rinna_standin_dir))
    assert len(tokenizer) == 600
    specials = (tokenizer.unk_token_id, tokenizer.bos_token_id, tokenizer.eos_token_id, tokenizer.pad_token_id)
    assert specials == (0, 1, 2, 3)
    ids = tokenizer(JA_TEXT, add_special_tokens=False)["input_ids"]
    assert 2 not in ids and 0 not in ids  # no </s>, no unknown piece: every character is in the vocabulary
    assert tokenizer(JA_TEXT)["input_ids"] == ids + [2]  # like T5Tokenizer: </s> unless asked not to
    # SentencePiece's normalizer makes line breaks and the ideographic space plain word boundaries.
    assert "".join(tokenizer.decode(ids).split()) == "".join(JA_TEXT.split())
    # do_lower_case: the vocabulary has lower-case letters only.
    assert tokenizer("The CAT", add_special_tokens=False)["input_ids"] == \
        tokenizer("the cat", add_special_tokens=False)["input_ids"]
    # An unknown character is <unk> (0), not </s> (2) as transformers' T5Tokenizer would make it.
    assert 0 in tokenizer("雪☃", add_special_tokens=False)["input_ids"]
    assert 2 not in tokenizer("雪☃", add_special_tokens=False)["input_ids"]


def test_a_fine_tune_exports_a_model_transformers_reads_back(make_config, rinna_standin_dir, haiku_path):
    from transformers import AutoModelForCausalLM, AutoTokenizer

    result = train(make_config(data_path=haiku_path, base_kind="pretrained", base_source=str(rinna_standin_dir),
                               max_steps=8, eval_every_steps=4, learning_rate=3e-3,
                               text_prompts=0, sample_prompts=["今日の一句"]))
    assert result.final_val_loss < result.base_val_loss
    assert result.data["vocab_size"] == 600
    assert file_names(result.model_dir) == {"README.md", "config.json", "generation_config.json",
                                            "model.safetensors", "tokenizer.json", "tokenizer_config.json"}
    assert [s["prompt"] for s in result.samples] == ["今日の一句"]
    assert all("</s>" not in s["tuned"] and "<unk>" not in s["tuned"] for s in result.samples)
    config = json.loads(open(os.path.join(result.model_dir, "tokenizer_config.json")).read())
    assert config["do_lower_case"] is True and config["eos_token"] == "</s>"
    # Someone at home: plain transformers, no llmschool code.
    exported = AutoTokenizer.from_pretrained(result.model_dir)
    ours = load_tokenizer(str(rinna_standin_dir))
    for text in (JA_TEXT, "The CAT sat in the Rain ☃", "雪"):
        assert exported(text, add_special_tokens=False)["input_ids"] == \
            ours(text, add_special_tokens=False)["input_ids"]
    model = AutoModelForCausalLM.from_pretrained(result.model_dir)
    prompt = exported("今日の一句", add_special_tokens=False, return_tensors="pt")
    output = model.generate(**prompt, max_new_tokens=12, do_sample=False, pad_token_id=exported.pad_token_id)
    assert output.shape[1] > prompt["input_ids"].shape[1]
    assert exported.decode(output[0], skip_special_tokens=True).replace(" ", "").startswith("今日の一句")


def test_lora_adapts_the_japanese_base(make_config, rinna_standin_dir, haiku_path, tmp_path):
    result = train(make_config(data_path=haiku_path, output_dir=str(tmp_path / "lora"), base_kind="pretrained",
                               base_source=str(rinna_standin_dir), lora=True, max_steps=6, eval_every_steps=3,
                               learning_rate=1e-2, sample_prompts=["今日の一句"]))
    assert result.final_val_loss < result.base_val_loss
    assert "model.safetensors" in file_names(result.model_dir)


def test_the_dataset_check_counts_with_the_bases_own_tokenizer(rinna_standin_dir, haiku_path):
    from training.engine.corpus import read_corpus
    from training.engine.data import count_tokens, tokenize_corpus

    base = str(rinna_standin_dir)
    report = check_dataset(haiku_path, base_kinds=("gpt2", base))
    own = count_tokens(tokenize_corpus(read_corpus(haiku_path, max_bytes=10**7), load_tokenizer(base)))
    assert report.tokens_by_base == {"gpt2": report.tokens, base: own}
    assert own < report.tokens  # GPT-2's byte-level BPE needs about a token per Japanese character or more
    # The estimate for the base is the one for its own token count.
    assert report.estimated_seconds[base] == estimate_seconds(own, base=base, block_size=128)
    alone = check_dataset(haiku_path, tokenizer_dir=base, base_kinds=(base,))
    assert alone.tokens == own and alone.tokens_by_base == {base: own}  # counted once, with its own


def test_the_token_view_covers_the_text_without_overlaps(rinna_standin_dir):
    text = "今日の一句\n寒の月"
    tokens = tokenize_view(str(rinna_standin_dir), text)
    ids = load_tokenizer(str(rinna_standin_dir))(text, add_special_tokens=False)["input_ids"]
    assert [t["id"] for t in tokens] == ids
    raw, position = text.encode("utf-8"), 0
    for token in tokens:
        assert token["start"] == position and bytes.fromhex(token["bytes"]) == raw[token["start"]:token["end"]]
        position = token["end"]
    assert position == len(raw)
    markers = [t for t in tokens if t["text"] == "\u2581"]
    assert markers and markers[0]["start"] == markers[0]["end"] == 0  # the word marker before 今
    assert any(t["bytes"] == "0a" for t in tokens)  # the marker that stands for the line break
