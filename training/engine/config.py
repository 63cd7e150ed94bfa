"""Plain-value dataclasses exchanged with the Django app, and the named presets."""
from dataclasses import asdict, dataclass, field

# From-scratch GPT-2 architectures sized for a CPU. vocab_size comes from the trained tokenizer.
MODEL_PRESETS: dict[str, dict] = {
    "tiny": {"n_embd": 128, "n_layer": 4, "n_head": 4, "n_positions": 256},
    "small": {"n_embd": 256, "n_layer": 6, "n_head": 8, "n_positions": 512},
}

# The presets offered to students (HYPER_PRESETS) are training-time budgets: see presets.py.

DEFAULT_MAX_BYTES = 10 * 2**20


@dataclass(frozen=True)
class CorpusLimits:
    """Caps that keep the check (and training) of one file within seconds and a few hundred MB:
    millions of tiny rows cost a tokenizer call each, one huge line makes the GPT-2 tokenizer
    superlinear in time and memory, and JSON nested thousands deep exhausts the parser's stack."""

    max_lines: int = 500_000  # lines of a file (a .jsonl or .csv record counts its lines)
    max_line_chars: int = 100_000  # characters of one line
    max_json_depth: int = 20  # nesting of one .jsonl line's arrays and objects

    def to_dict(self) -> dict:
        return asdict(self)


@dataclass
class TrainConfig:
    data_path: str
    output_dir: str
    base_kind: str = "scratch"  # "scratch" | "pretrained" | "run"
    # "text": a language model of the text; "instruction": conversations (chat template, loss on
    # the assistant's tokens only, see chat.py)
    task: str = "text"
    base_source: str = "tiny"  # preset name, hub id, or directory
    vocab_size: int | None = None  # from scratch: None sizes the vocabulary to the corpus; a number bounds it
    block_size: int = 128
    epochs: float = 1.0
    max_steps: int | None = None  # set: train at most this many optimizer steps (epochs is then ignored)
    early_stopping_patience: int | None = None  # stop after this many evaluations without a new best
    max_train_seconds: float | None = None  # stop (after one last evaluation) once the loop has taken this long
    learning_rate: float | None = None  # None: chosen from the base kind (see trainer.default_learning_rate)
    batch_size: int = 8
    grad_accum: int = 1
    warmup_ratio: float = 0.05
    weight_decay: float = 0.01
    max_grad_norm: float = 1.0
    lora: bool = False
    lora_r: int = 8
    lora_alpha: int = 16
    seed: int = 42
    val_fraction: float = 0.1
    eval_every_steps: int | None = None  # None: about ten evaluations per run
    eval_max_blocks: int | None = None  # None: data.EVAL_MAX_TOKENS worth of blocks (cheap on a CPU)
    checkpoint_every_seconds: float = 60.0
    checkpoint_every_steps: int | None = None
    progress_every_seconds: float = 2.0
    num_threads: int | None = None  # None: from the cores actually free
    text_prompts: int = 3  # samples from the beginnings of this many held-out lines of the text
    sample_prompts: list[str] = field(default_factory=list)  # the student's own prompts, sampled too
    sample_max_new_tokens: int = 120
    cache_dir: str | None = None
    offline: bool = True
    bf16: str | bool = "auto"  # "auto" | True | False
    max_bytes: int = DEFAULT_MAX_BYTES
    corpus_limits: dict | None = None  # CorpusLimits as a dict (None: its defaults), as the dataset check used
    card_language: str = "en"  # the model card's language: "en" | "ja" | "both" (the app decides from the text)

    def to_dict(self) -> dict:
        return asdict(self)


@dataclass
class Progress:
    event: str  # "start" | "step" | "eval" | "checkpoint" | "log" | "finishing" | "done"
    step: int = 0
    total_steps: int = 0
    epoch: float = 0.0
    train_loss: float | None = None
    val_loss: float | None = None
    val_bpc: float | None = None  # bits per character of the validation text
    learning_rate: float = 0.0
    tokens_per_second: float = 0.0
    eta_seconds: float | None = None
    overfitting: bool = False
    # A log line: `code` and `params` (plain numbers and strings) let the app say it in the
    # reader's language; `message` is the English sentence (train.log, and the fallback).
    message: str = ""
    code: str = ""
    params: dict = field(default_factory=dict)

    def to_dict(self) -> dict:
        return asdict(self)


@dataclass
class TrainResult:
    model_dir: str
    steps: int
    tokens_seen: int
    seconds: float
    base_val_loss: float
    base_perplexity: float
    final_val_loss: float
    final_perplexity: float
    best_val_loss: float
    best_step: int
    overfitting: bool
    # Why the loop ended: "max_steps" | "epochs" | "early_stopping", and the seconds the loop
    # itself took (steps and evaluations, no set-up or export): the speed calibration uses it.
    stop_reason: str = "max_steps"
    train_seconds: float = 0.0
    history: list[dict] = field(default_factory=list)
    samples: list[dict] = field(default_factory=list)
    data: dict = field(default_factory=dict)
    hyperparameters: dict = field(default_factory=dict)
    # Bits per character on the validation text: comparable across tokenizers (loss is not).
    base_val_bpc: float | None = None
    val_bpc: float | None = None

    def to_dict(self) -> dict:
        return asdict(self)


@dataclass
class DatasetReport:
    chars: int
    lines: int
    duplicate_lines: int
    bytes: int
    tokens: int
    tokens_per_char: float
    blocks: int
    tokenizer: str  # "gpt2" | "trained"
    japanese_share: float
    estimated_seconds: dict = field(default_factory=dict)
    repeated_lines: list = field(default_factory=list)  # [{"line": text, "count": n}], most repeated first
    # Tokens with each base's own tokenizer: a present pretrained base whose vocabulary is not
    # GPT-2's (rinna) is counted with it; a from-scratch base gets the characters times the
    # tokens per character of a tokenizer trained on this text, as the run will train one.
    tokens_by_base: dict = field(default_factory=dict)
    scratch_tokens_per_char: float = 0.0
    instructions: dict = field(default_factory=dict)  # an instruction dataset: instructions.InstructionReport

    def to_dict(self) -> dict:
        return asdict(self)
