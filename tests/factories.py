"""Test factories: plain functions that make the things tests need (users, texts, tiny models
on disk, base models, uploads, runs, courses, lessons and quizzes). The fixtures that use them
live in the nearest conftest.py shared by their tests (most in tests/conftest.py).

Django imports stay inside the functions: engine tests import this module without Django."""
import random
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PASSWORD = "a-long-test-password-1"


# -- people ------------------------------------------------------------------------------------------------------

def make_user(username, *, instructor=False, **extra):
    from llmschool.accounts.models import User
    from llmschool.accounts.roles import user_make_instructor

    user = User.objects.create_user(username=username, email=f"{username}@example.com", password=PASSWORD, **extra)
    if instructor:
        user_make_instructor(user=user)
    return user


# -- text --------------------------------------------------------------------------------------------------------

EN_WORDS = ("the ship sailed over the grey sea while the cook sang about salt wind and rain and the captain "
            "wrote in his log that the night was calm and the stars were bright above the harbour").split()
JA_SENTENCES = ["今日は朝から雨が降っていた。", "駅まで歩いて猫に会った。", "夕飯にカレーを作った。",
                "図書館で本を三冊借りた。", "夜は静かで月がきれいだった。", "今日の一句　春の風"]
# The tiny GPT-2's tokenizer (tiny_base_dir) learns from fewer words and sentences: then its 400
# tokens include "the" at the start of a line, which tests/engine/test_inference.py reads as one token.
TINY_BASE_WORDS = EN_WORDS[:EN_WORDS.index("calm") + 1]
TINY_BASE_SENTENCES = JA_SENTENCES[:5]


def make_text(lines: int, seed: int = 0, *, words=EN_WORDS, sentences=JA_SENTENCES) -> str:
    """`lines` lines of English (twelve of `words` each) with every third one Japanese (two of
    `sentences`); the same seed gives the same text."""
    rng = random.Random(seed)
    rows = []
    for i in range(lines):
        if i % 3 == 2:
            rows.append("".join(rng.choice(sentences) for _ in range(2)))
        else:
            rows.append(" ".join(rng.choice(words) for _ in range(12)) + ".")
    return "\n".join(rows) + "\n"


# -- tiny GPT-2 models on disk -----------------------------------------------------------------------------------

# Tests stay fast with this architecture (n_embd 32, 2 layers): about 40k parameters.
TINY_ARCH = {"n_embd": 32, "n_layer": 2, "n_head": 2, "n_positions": 64}


def save_tiny_gpt2(directory, tokenizer) -> str:
    """A GPT-2 of TINY_ARCH (seeded weights) for `tokenizer`, saved with it in `directory`."""
    import torch
    from transformers import GPT2Config, GPT2LMHeadModel

    tokenizer.save_pretrained(str(directory))
    torch.manual_seed(0)
    config = GPT2Config(vocab_size=len(tokenizer), bos_token_id=tokenizer.eos_token_id,
                        eos_token_id=tokenizer.eos_token_id, **TINY_ARCH)
    GPT2LMHeadModel(config).save_pretrained(str(directory))
    return str(directory)


def gpt2_tokenizer_from(vocab_dir):
    """GPT2TokenizerFast from vocab.json + merges.txt in `vocab_dir`, <|endoftext|> as every special token.
    (from_pretrained on the folder: never the vocab_file= constructor, see ECOSYSTEM.md on transformers 5.)"""
    from transformers import GPT2TokenizerFast

    tokenizer = GPT2TokenizerFast.from_pretrained(str(vocab_dir))
    tokenizer.eos_token = tokenizer.bos_token = tokenizer.unk_token = "<|endoftext|>"
    return tokenizer


def build_tiny_gpt2(directory, texts, *, vocab_size=400) -> str:
    """A pretrained-looking GPT-2 directory (config.json, model.safetensors, tokenizer files) under
    `directory`/model: a byte-level BPE trained on `texts` (an iterable of strings), then save_tiny_gpt2."""
    from tokenizers import ByteLevelBPETokenizer

    raw = Path(directory) / "raw-tokenizer"
    raw.mkdir(parents=True)
    bpe = ByteLevelBPETokenizer()
    bpe.train_from_iterator(texts, vocab_size=vocab_size, min_frequency=2, special_tokens=["<|endoftext|>"],
                            show_progress=False)
    bpe.save_model(str(raw))
    return save_tiny_gpt2(Path(directory) / "model", gpt2_tokenizer_from(raw))


# -- rinna's Japanese GPT-2, stood in for (no Hub here) ----------------------------------------------------------

HAIKU_DIARY = ROOT / "training" / "seed" / "corpora" / "ja-haiku-diary.txt"
# A few lower-case Latin words, so that do_lower_case shows: rinna's vocabulary has lower-case letters only.
LATIN_LINES = ["today i took the bus to the library.", "the cat and the dog sat in the rain."] * 20
RINNA_SPECIALS = ["<unk>", "<s>", "</s>", "[PAD]", "[CLS]", "[SEP]", "[MASK]"]  # ids 0..6, as rinna's spiece.model
# rinna/japanese-gpt2-small's tokenizer_config.json and special_tokens_map.json, key for key.
RINNA_TOKENIZER_CONFIG = {"eos_token": "</s>", "unk_token": "<unk>", "pad_token": "[PAD]", "extra_ids": 0,
                          "additional_special_tokens": [], "sp_model_kwargs": {}, "bos_token": "<s>",
                          "cls_token": "[CLS]", "sep_token": "[SEP]", "mask_token": "[MASK]", "do_lower_case": True,
                          "tokenizer_class": "T5Tokenizer"}
RINNA_SPECIAL_TOKENS_MAP = {"bos_token": "<s>", "eos_token": "</s>", "unk_token": "<unk>", "sep_token": "[SEP]",
                            "pad_token": "[PAD]", "cls_token": "[CLS]", "mask_token": "[MASK]"}


def build_rinna_standin(directory: Path, *, pickled_only: bool = False, vocab_size: int = 600) -> Path:
    """A tiny stand-in for rinna/japanese-gpt2-small with the files its repository has:
    config.json (GPT2LMHeadModel, bos 1, eos 2), model.safetensors (or, with pickled_only, only
    pytorch_model.bin as torch.save wrote it, old attention buffers included), spiece.model (a
    unigram SentencePiece trained on the shipped haiku diary, special pieces at rinna's ids),
    tokenizer_config.json naming T5Tokenizer with do_lower_case, special_tokens_map.json, README.md."""
    import json

    import sentencepiece
    import torch
    from transformers import GPT2Config, GPT2LMHeadModel

    directory.mkdir(parents=True, exist_ok=True)
    lines = [line for line in HAIKU_DIARY.read_text(encoding="utf-8").splitlines() if line.strip()] + LATIN_LINES
    sentencepiece.SentencePieceTrainer.train(
        sentence_iterator=iter(lines), model_prefix=str(directory / "spiece"), model_type="unigram",
        vocab_size=vocab_size, character_coverage=1.0, unk_id=0, bos_id=1, eos_id=2, pad_id=3, pad_piece="[PAD]",
        user_defined_symbols=["[CLS]", "[SEP]", "[MASK]"], minloglevel=2, num_threads=1)
    (directory / "spiece.vocab").unlink()
    (directory / "tokenizer_config.json").write_text(json.dumps(RINNA_TOKENIZER_CONFIG))
    (directory / "special_tokens_map.json").write_text(json.dumps(RINNA_SPECIAL_TOKENS_MAP))
    (directory / "README.md").write_text("# japanese-gpt2-small (test stand-in)\n")
    torch.manual_seed(0)
    config = GPT2Config(vocab_size=vocab_size, bos_token_id=1, eos_token_id=2, **TINY_ARCH)
    model = GPT2LMHeadModel(config)
    model.save_pretrained(str(directory))
    (directory / "generation_config.json").unlink()  # rinna's repositories have none
    if pickled_only:
        (directory / "model.safetensors").unlink()
        state = model.state_dict()  # lm_head.weight and transformer.wte.weight share one tensor
        positions = config.n_positions
        for layer in range(config.n_layer):  # what transformers 4.x saved with GPT-2 weights
            state[f"transformer.h.{layer}.attn.bias"] = torch.tril(torch.ones(positions, positions)).view(
                1, 1, positions, positions)
            state[f"transformer.h.{layer}.attn.masked_bias"] = torch.tensor(-1e4)
        torch.save(state, directory / "pytorch_model.bin")
    return directory


# -- instruction datasets (until the course's sample sets land) --------------------------------------------------

def make_instructions(count: int, seed: int = 0, *, alpaca_every: int = 0) -> str:
    """JSONL of `count` short conversations a tiny model can learn: the user asks to repeat a
    few words (English or Japanese) and the assistant answers with them; one in `alpaca_every`
    lines (0: none) in the Alpaca form. Deterministic by seed."""
    import json
    import random

    rng = random.Random(seed)
    words = EN_WORDS
    lines = []
    for index in range(count):
        if index % 2:
            answer = rng.choice(JA_SENTENCES)
            question = f"次の文を繰り返して：{answer}"
        else:
            answer = " ".join(rng.choice(words) for _ in range(5))
            question = f"Repeat: {answer}"
        if alpaca_every and index % alpaca_every == 0:
            record = {"instruction": question, "input": "", "output": answer}
        else:
            record = {"messages": [{"role": "system", "content": "You repeat."}, {"role": "user", "content": question},
                                   {"role": "assistant", "content": answer}]}
        lines.append(json.dumps(record, ensure_ascii=False))
    return "\n".join(lines) + "\n"


# -- training: base models, uploads, runs ------------------------------------------------------------------------

# Fast values for real training in tests: tiny vocabulary, frequent reports, one thread, and
# checkpoints by step only (a checkpoint by time would land where a slow machine happens to be).
FAST = {"vocab_size": 300, "block_size": 32, "batch_size": 4, "eval_every_steps": 5, "sample_max_new_tokens": 8,
        "num_threads": 1, "progress_every_seconds": 0.2, "checkpoint_every_seconds": 3600}


def make_base_model(key="tiny", **fields):
    """A base model row; by default a from-scratch one trained with the "tiny" preset."""
    from training.models import BaseModel

    values = {"name": "Tiny GPT", "kind": BaseModel.SCRATCH, "source": "tiny", "max_block_size": 256, **fields}
    return BaseModel.objects.create(key=key, **values)


def upload(name="corpus.txt", content: bytes | None = None):
    """An uploaded text file, by default 240 lines of make_text."""
    from django.core.files.uploadedfile import SimpleUploadedFile

    return SimpleUploadedFile(name, content if content is not None else make_text(240).encode(),
                              content_type="text/plain")


def make_checked_dataset(owner, uploaded_file=None, **fields):
    """An upload through the service with its check job run here, in this process, as the
    `default` worker would run it (tests that need the real worker start one)."""
    from training.dataset_check import check_job
    from training.services import dataset_create

    dataset = dataset_create(owner=owner, uploaded_file=uploaded_file or upload(), **fields)
    check_job(dataset.pk, dataset.check_attempt)
    dataset.refresh_from_db()
    return dataset


def run_pending_checks() -> int:
    """Run every queued dataset check here (what the `default` worker does); how many ran."""
    from training.dataset_check import check_job
    from training.models import Dataset

    pending = list(Dataset.objects.filter(check_status=Dataset.CHECKING).values_list("pk", "check_attempt"))
    for pk, attempt in pending:
        check_job(pk, attempt)
    return len(pending)


def run_form(dataset, base="base:tiny", **values):
    """What the new-run page posts: `dataset` on `base` with the quick preset, `values` added."""
    return {"dataset": str(dataset.code), "base": base, "preset": "quick", **values}


def make_finished_run(owner, dataset, *, archive=True):
    """A succeeded run with metrics, a two-step history and one sample; with archive, a stand-in
    (empty) zip file where the download is read from."""
    from training.models import TrainingRun

    run = TrainingRun.objects.create(owner=owner, dataset=dataset, status="succeeded", published_attempt=1,
                                     metrics={"base_val_loss": 6.0, "final_val_loss": 4.0, "base_perplexity": 403.4,
                                              "final_perplexity": 54.6},
                                     history=[{"step": 1, "train_loss": 6.0}, {"step": 2, "train_loss": 5.0,
                                                                               "val_loss": 5.5}],
                                     samples=[{"prompt": "Once", "base": " x", "tuned": " upon"}])
    if archive:
        run.archive_path.parent.mkdir(parents=True)
        run.archive_path.write_bytes(b"PK\x05\x06" + b"\x00" * 18)
    return run


# -- courses and quizzes -----------------------------------------------------------------------------------------

# (kind, text, explanation, [(choice text, correct)])
QUESTIONS = [
    ("single", "Which token comes next?", "EXPLAIN-ONE: the model predicts one token at a time.",
     [("Alpha", False), ("Bravo", True), ("Charlie", False)]),
    ("multiple", "Which are parts of a Transformer? (select all that apply)", "EXPLAIN-TWO: attention and MLP blocks.",
     [("Attention", True), ("MLP", True), ("Spreadsheet", False), ("Printer", False)]),
    ("single", "What does softmax output?", "EXPLAIN-THREE: a probability distribution.",
     [("Probabilities", True), ("Pixels", False), ("Passwords", False)]),
]


def make_course(slug="llm-ja", *, language="ja", published=True, **extra):
    from courses.models import Course

    defaults = {"title": f"Course {slug}", "description": "About LLMs.", "order": 1}
    return Course.objects.create(slug=slug, language=language, published=published, **{**defaults, **extra})


def make_lesson(slug="01-intro", *, course=None, language="en", order=None, published=True,
                body="## Intro\n\nSome text.", **extra):
    """A lesson in `course`, or without one in the published course of `language` (made on first
    use, slug course-<language>). Its order is the slug's leading number unless given."""
    from courses.models import Course, Lesson

    if course is None:
        course, _ = Course.objects.get_or_create(
            slug=f"course-{language}", defaults={"language": language, "title": f"Course {language}", "published": True})
    if order is None:
        order = int(slug[:2]) if slug[:2].isdigit() else 0
    defaults = {"title": f"Lesson {slug}", "summary": f"Summary of {slug}.", "minutes": 15}
    return Lesson.objects.create(course=course, slug=slug, order=order, published=published, body_md=body,
                                 **{**defaults, **extra})


def make_quiz(lesson=None, *, questions=QUESTIONS, pass_mark=70, published=True, shuffle=True):
    """A quiz on `lesson` (by default a new make_lesson()) with `questions`, in the shape of QUESTIONS."""
    from quizzes.models import Choice, Question, Quiz

    lesson = lesson or make_lesson()
    quiz = Quiz.objects.create(lesson=lesson, title=f"Quiz on {lesson.title}", pass_mark=pass_mark,
                               published=published, shuffle_choices=shuffle)
    for order, (kind, text, explanation, choices) in enumerate(questions, 1):
        question = Question.objects.create(quiz=quiz, order=order, kind=kind, text=text, explanation=explanation)
        for index, (choice_text, correct) in enumerate(choices, 1):
            Choice.objects.create(question=question, text=choice_text, is_correct=correct, order=index)
    return quiz


class SteadyClock:
    """A clock for the engine's `train(clock=...)` that moves a quarter of a second at every
    reading; the engine reads it once per step, so each step "takes" the same time however
    fast or loaded the machine is."""

    def __init__(self, start: float = 1000.0):
        self.now = start

    def __call__(self) -> float:
        self.now += 0.25
        return self.now
