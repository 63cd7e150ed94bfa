"""Sample prompts from the beginnings of the student's held-out lines."""
from training.engine.prompts import held_out_prompts, line_beginning

DIARY_BLOCKS = [
    "った。\n2024年1月3日（水）　快晴\n朝、バス停で霜柱を踏んだ。少し眠い一日だった。\n今日の一句　寒の月\n夕方",
    "ね。\nDay 12 aboard the Salt Magpie. Wind: a stiff westerly.\nArr, the waves were white-capped.\nCook pol",
]


def test_prompts_are_beginnings_of_whole_held_out_lines():
    prompts = held_out_prompts(DIARY_BLOCKS, count=3, seed=42)
    assert len(prompts) == 3 and len(set(prompts)) == 3
    whole_lines = [line for block in DIARY_BLOCKS for line in block.split("\n")[1:-1]]
    assert all(any(line.startswith(p) and len(p) < len(line) for line in whole_lines) for p in prompts)


def test_prompts_of_different_kinds_of_lines_come_first():
    blocks = [("x\nDay 1 aboard the ship today\nDay 2 aboard the ship today\nDay 3 aboard the ship today\n"
               "Shanty: Then the wind has come\nend")]
    for seed in range(5):
        prompts = held_out_prompts(blocks, count=2, seed=seed)
        assert "Shanty: Then the" in prompts and len(prompts) == 2


def test_the_choice_is_deterministic_by_seed():
    assert held_out_prompts(DIARY_BLOCKS, count=2, seed=1) == held_out_prompts(DIARY_BLOCKS, count=2, seed=1)
    choices = {tuple(held_out_prompts(DIARY_BLOCKS, count=2, seed=seed)) for seed in range(10)}
    assert len(choices) > 1


def test_a_beginning_is_a_few_words_or_a_few_japanese_characters():
    assert line_beginning("Day 12 aboard the Salt Magpie.") == "Day 12 aboard"
    assert line_beginning("the calm sea") == "the calm" and line_beginning("sang nightly") == "sang"
    assert line_beginning("朝、バス停で霜柱を踏んだ。少し眠い一日だった。") == "朝、バス停で霜柱"
    assert line_beginning("今日の一句　寒の月") == "今日の一"
    assert line_beginning("ab") == "" and line_beginning("----") == "" and line_beginning("壊れ\ufffdた行です") == ""


def test_text_without_line_breaks_and_no_text_at_all():
    assert held_out_prompts(["ing the sea. The ship sailed over the grey sea at dawn"], count=3, seed=0) == [
        "The ship sailed"]
    assert held_out_prompts([], count=3, seed=0) == []
    assert held_out_prompts(DIARY_BLOCKS, count=0, seed=0) == []
