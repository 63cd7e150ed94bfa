"""The model card (README.md of the export) in the language of the run's text: Japanese,
English, or both for a text that mixes them, with the same facts in each."""
import os
import zipfile

import pytest

from training.engine import export_zip, train
from training.engine.export import model_card

FACTS = dict(
    base="tiny", base_kind="scratch",
    data={"chars": 1200, "japanese_share": 0.8, "tokens": 900, "block_size": 32,
          "tokenizer": {"vocab_size": 400, "longest_tokens": ["です。", "ました"]},
          "repeated_lines": [{"line": "こんにちは", "count": 3}]},
    hyperparameters={"block_size": 32, "learning_rate": 0.003},
    metrics={"base_val_loss": 6.1, "val_loss": 3.25, "val_bpc": 2.5, "steps": 12},
    samples=[{"prompt": "昔々、", "base": "xyz", "tuned": "ある村に"}],
)


def japanese(text: str) -> bool:
    return any("\u3040" <= char <= "\u30ff" for char in text)  # kana


def test_a_japanese_card_is_japanese_and_keeps_the_facts():
    card = model_card(**FACTS, language="ja")
    assert "language: [ja]" in card and "# llmschool で作った GPT-2 モデル" in card
    assert "ゼロから学習" in card and "| 検証損失 | 3.25 |" in card and "| 1 文字あたりのビット数 | 2.5 |" in card
    assert "| 文字数 | 1200 |" in card and "`です。`" in card and "'こんにちは' ×3" in card
    assert '"learning_rate": 0.003' in card and "AutoModelForCausalLM.from_pretrained" in card
    assert "**プロンプト：** 昔々、" in card and "学習後：'ある村に'" in card
    assert "How to load it" not in card and "Metrics" not in card


def test_an_english_card_is_english():
    card = model_card(**FACTS, language="en")
    assert "language: [en]" in card and "# GPT-2 model made on llmschool" in card
    assert "| validation loss | 3.25 |" in card and "| bits per character | 2.5 |" in card
    assert "**Prompt:** 昔々、" in card
    assert not japanese(card.replace("昔々、", "").replace("ある村に", "").replace("です。", "")
                        .replace("ました", "").replace("こんにちは", ""))


def test_a_mixed_card_says_it_in_both_japanese_first():
    card = model_card(**FACTS, language="both")
    assert "language: [ja, en]" in card
    assert card.index("# llmschool で作った GPT-2 モデル") < card.index("# GPT-2 model made on llmschool")
    assert card.count("AutoModelForCausalLM.from_pretrained") == 2


def test_an_instruction_runs_card_names_its_loss_and_samples_for_answers():
    """Its held-out loss counts answers only and its samples answer questions: the card says so."""
    chat = {**FACTS, "data": {**FACTS["data"], "examples": 300, "val_examples": 30, "lines": 600},
            "samples": [{"prompt": "What is a token?", "base": "xyz", "tuned": "A piece of text."}]}
    card = model_card(**chat, language="en", chat=True)
    assert "## Metrics (held-out answers)" in card and "| loss on held-out answers | 3.25 |" in card
    assert "| conversations | 300 |" in card and "| held-out conversations | 30 |" in card
    assert "**Question:** What is a token?" in card and "apply_chat_template" in card
    assert "validation loss" not in card and "**Prompt:**" not in card
    card = model_card(**chat, language="ja", chat=True)
    assert "| 取っておいた会話の答えの損失 | 3.25 |" in card and "| 会話の数 | 300 |" in card
    assert "**質問：** What is a token?" in card and "検証損失" not in card


def test_an_unknown_card_language_is_refused():
    with pytest.raises(ValueError):
        model_card(**FACTS, language="fr")


def test_the_archive_of_a_japanese_run_holds_a_japanese_card(make_config, test_preset, tmp_path):
    result = train(make_config(max_steps=2, eval_every_steps=2, card_language="ja"))
    names = export_zip(result.model_dir, str(tmp_path / "model.zip"))
    assert "README.md" in names
    with zipfile.ZipFile(tmp_path / "model.zip") as archive:
        card = archive.read("README.md").decode("utf-8")
    assert "# llmschool で作った GPT-2 モデル" in card and "# GPT-2 model made on llmschool" not in card
    assert f"| 学習したステップ数 | {result.steps} |" in card
    assert "card_language" not in card  # a setting of the site, not a hyperparameter
    assert os.path.isfile(os.path.join(result.model_dir, "README.md"))


def test_a_bad_card_language_is_refused_before_training(make_config, test_preset):
    from training.engine import EngineError

    with pytest.raises(EngineError) as refused:
        train(make_config(card_language="de"))
    assert refused.value.code == "invalid_config"
