"""Lesson 5 and its quiz describe the training site; every figure they state about it is
computed here with the site's own code, so lesson, quiz and site cannot drift apart.

The numbers come from training.engine.presets (the time-budget plan the form shows),
training.engine.data (the train/validation split) and training.engine.check (the token
count of the shipped corpora). A figure changed in the code fails here until the lesson
text and the quiz say the same.
"""
import math
from pathlib import Path

import pytest

from training.engine import presets
from training.engine.data import validation_blocks
from training.engine.estimate import parameters
from tests.courses.seed_text import SeedLesson

ROOT = Path(__file__).resolve().parents[2]
LESSON = SeedLesson("05-fine-tuning")
lesson, quiz = LESSON.text, LESSON.quiz
CORPORA = ROOT / "training" / "seed" / "corpora"
BLOCK, SPEED, GPT2 = 128, 1536, "gpt2"  # the lesson's assumed measured speed (tokens per second)


def keyed(question: dict) -> list[str]:
    return [choice["text"] for choice in question["choices"] if choice["correct"]]


def plan(preset: str, tokens: int, speed: float = SPEED) -> dict:
    return presets.preset_plan(preset, base_kind="pretrained", base_source=GPT2, parameters=parameters(GPT2),
                               tokens=tokens, tokens_per_second=speed)


def split(tokens: int, block_size: int = BLOCK) -> tuple[int, int, int]:
    """(blocks, validation blocks, training blocks) as the engine cuts the text."""
    blocks = tokens // block_size
    held_out = validation_blocks(blocks, block_size=block_size, val_fraction=0.1)
    return blocks, held_out, blocks - held_out


@pytest.fixture(scope="module")
def corpus_tokens() -> dict[str, int]:
    """GPT-2 tokens of the shipped sample corpora, counted by the dataset check."""
    from training.engine.check import check_dataset

    return {language: check_dataset(str(CORPORA / name), base_kinds=(GPT2,)).tokens
            for language, name in (("en", "en-pirate-log.txt"), ("ja", "ja-haiku-diary.txt"))}


def figures(tokens: int) -> dict:
    """The worked example of lesson 5: the engine's split, the presets' rules, the plan's budget."""
    blocks, held_out, train = split(tokens)
    settings = presets.SETTINGS["pretrained"]
    per_batch = settings["batch_size"] * settings["grad_accum"]
    steps_per_epoch = math.ceil(train / per_batch)
    passes = presets.max_epochs(tokens=tokens, parameters=parameters(GPT2))
    cap = math.ceil(passes * steps_per_epoch)
    blocks_256, _, train_256 = split(tokens, 256)
    return {
        "tokens": tokens, "blocks": blocks, "held_out": held_out, "train": train,
        "per_step": per_batch * BLOCK, "steps_per_epoch": steps_per_epoch, "max_epochs": passes, "cap": cap,
        "quick": plan("quick", tokens)["plan"], "standard": plan("standard", tokens)["plan"],
        "long": plan("long", tokens)["plan"], "eval_every": max(1, cap // presets.EVALUATIONS_PER_RUN),
        "blocks_256": blocks_256, "train_256": train_256, "steps_per_epoch_256": math.ceil(train_256 / per_batch),
        "val_min_blocks": math.ceil(20_000 / BLOCK),
    }


def test_the_site_works_the_way_lesson_5_says():
    assert {name: value["budget_seconds"] for name, value in presets.HYPER_PRESETS.items()} == {
        "quick": 60, "standard": 300, "long": 1200}
    assert presets.SETTINGS["scratch"] == {"batch_size": 8, "grad_accum": 1, "block_size": 128, "warmup_ratio": 0.02}
    assert presets.SETTINGS["pretrained"] == {"batch_size": 4, "grad_accum": 2, "block_size": 128,
                                              "warmup_ratio": 0.05}
    assert (presets.EVALUATIONS_PER_RUN, presets.EARLY_STOPPING_PATIENCE) == (16, 4)
    assert (presets.MAX_EPOCHS_FACTOR, presets.MAX_EPOCHS_RANGE) == (400, (2.0, 100.0))
    rates = {"tiny": presets.default_learning_rate("scratch", "tiny"),
             "small": presets.default_learning_rate("scratch", "small"),
             "full": presets.default_learning_rate("pretrained", GPT2),
             "lora": presets.default_learning_rate("pretrained", GPT2, lora=True)}
    assert rates == {"tiny": 2e-3, "small": 1e-3, "full": 5e-5, "lora": 3e-4}
    for language in ("en", "ja"):
        text = lesson(language)
        for snippet in (r"$2\times10^{-3}$", r"$10^{-3}$", r"$5\times10^{-5}$", r"$3\times10^{-4}$",
                        r"$400\sqrt{", "4 × 2", "8 × 1"):
            assert snippet in text, f"{language} lesson 5 lacks {snippet!r}"


@pytest.mark.parametrize("language", ["en", "ja"])
def test_the_worked_example_is_what_the_site_computes(corpus_tokens, language):
    f = figures(corpus_tokens[language])
    assert f["quick"]["limited_by"] == "budget" and f["quick"]["steps"] < f["cap"]
    assert f["standard"]["budget_steps"] > f["cap"] and f["long"]["budget_steps"] > f["cap"]
    assert f["quick"]["tokens_per_step"] == f["per_step"] == 1024
    assert f["quick"]["max_epochs"] == f["max_epochs"]
    text = lesson(language)
    if language == "en":
        expected = [
            f"$\\lfloor {f['tokens']:,} / 128 \\rfloor = {f['blocks']}$".replace(",", "{,}"),
            f"20,000 tokens would be {f['val_min_blocks']} blocks",
            f"{f['held_out']} blocks for validation, {f['train']} for training",
            f"$4 \\times 2 \\times 128 = {f['per_step']:,}$".replace(",", "{,}"),
            f"$\\lceil {f['train']} / 8 \\rceil = {f['steps_per_epoch']}$",
            f"\\approx {f['max_epochs']}$ passes",
            f"$\\lceil {f['max_epochs']} \\times {f['steps_per_epoch']} \\rceil = {f['cap']}$ steps",
            f"/ 1{{,}}024 = {f['quick']['steps']}$ steps, below the cap",
            f"about {f['quick']['steps'] / f['steps_per_epoch']:.1f} passes",
            f"so the cap decides: {f['cap']} steps",
            f"capped at {f['cap']} steps too",
            f"$\\lfloor {f['cap']} / 16 \\rfloor = {f['eval_every']}$ steps",
            f"{presets.EARLY_STOPPING_PATIENCE * f['eval_every']} steps, pass without a new best",
            f"gives {f['blocks_256']} blocks, {f['train_256']} of them for training, and "
            f"{f['steps_per_epoch_256']} steps per epoch",
        ]
    else:
        expected = [
            f"$\\lfloor {f['tokens']:,} / 128 \\rfloor = {f['blocks']}$".replace(",", "{,}"),
            f"20,000 トークンは {f['val_min_blocks']} ブロック",
            f"検証 {f['held_out']}、学習 {f['train']}",
            f"$4 \\times 2 \\times 128 = {f['per_step']:,}$".replace(",", "{,}"),
            f"$\\lceil {f['train']} / 8 \\rceil = {f['steps_per_epoch']}$",
            f"\\approx {f['max_epochs']}$ 回",
            f"$\\lceil {f['max_epochs']} \\times {f['steps_per_epoch']} \\rceil = {f['cap']}$ ステップ",
            f"/ 1{{,}}024 = {f['quick']['steps']}$ ステップで、上限より少ない",
            f"約 {f['quick']['steps'] / f['steps_per_epoch']:.1f} 回読む",
            f"上限の {f['cap']} ステップ",
            f"ロング**も同じく {f['cap']} ステップ",
            f"$\\lfloor {f['cap']} / 16 \\rfloor = {f['eval_every']}$ ステップごと",
            f"{presets.EARLY_STOPPING_PATIENCE * f['eval_every']} ステップのあいだ改善がなければ",
            f"ブロックは {f['blocks_256']} 個、そのうち学習用が {f['train_256']} 個で、1 エポックは "
            f"{f['steps_per_epoch_256']} ステップ",
        ]
    missing = [snippet for snippet in expected if snippet not in text]
    assert not missing, f"{language} lesson 5 does not state what the site computes: {missing}"


def test_quiz_5_asks_the_same_step_arithmetic_in_both_languages_and_keys_the_sites_answer(corpus_tokens):
    f = figures(corpus_tokens["en"])  # the quiz's cap of 105 steps is the pirate log's (lesson 5, English)
    quick = f["quick"]
    for language in ("en", "ja"):
        question = quiz(language)[1]
        for given in ("60", "1,536", "4", "2", "128", str(f["cap"])):
            assert given in question["text"], f"{language} quiz 5 Q2 does not give {given}"
        assert keyed(question) == [str(quick["steps"])]
        assert f"{quick['steps']} " in question["explanation"]
    assert quick["steps"] == int(60 * SPEED / quick["tokens_per_step"]) < f["cap"]
    # The distractor for forgetting the accumulation.
    without_accumulation = int(60 * SPEED / (presets.SETTINGS["pretrained"]["batch_size"] * BLOCK))
    assert all(str(without_accumulation) in [c["text"] for c in quiz(language)[1]["choices"]] for language in ("en", "ja"))


def test_quiz_5_early_stopping_question_follows_the_sites_patience():
    every, best = 6, 54
    stop = best + presets.EARLY_STOPPING_PATIENCE * every
    for language in ("en", "ja"):
        question = quiz(language)[-1]
        assert f"{every}" in question["text"] and f"{best}" in question["text"] and f"{stop}" in question["text"]
        assert len(keyed(question)) == 1 and str(stop) in keyed(question)[0] and str(best) in keyed(question)[0]


@pytest.mark.parametrize("language", ["en", "ja"])
def test_the_plan_caps_the_passes_over_the_blocks_the_engine_trains_on(corpus_tokens, language):
    f = figures(corpus_tokens[language])
    assert plan("standard", f["tokens"])["plan"]["steps"] == f["cap"]
