"""Load the shared sample corpora and the base models (idempotent; never overwrites edits)."""
from pathlib import Path

from django.core.files import File
from django.core.management.base import BaseCommand
from django.utils.translation import gettext_noop

from training import services
from training.models import BaseModel, Dataset

CORPORA_DIR = Path(__file__).resolve().parents[2] / "seed" / "corpora"
# Conversations for instruction runs (lesson 7): one JSONL file per language.
INSTRUCTIONS_DIR = Path(__file__).resolve().parents[2] / "seed" / "instructions"
INSTRUCTION_NAMES = {
    "ja-course-tutor": ("講座のチューター（会話） (Course tutor, conversations)", "ja",
                        "この講座の内容についての質問と答え。インストラクション学習用です。Questions and answers about this "
                        "course, in Japanese, for instruction runs."),
    "en-course-tutor": ("Course tutor (conversations)", "en",
                        "Questions about this course and a tutor's answers, for instruction runs."),
}

# Friendly names for the corpora the project ships; other files get their file name.
CORPUS_NAMES = {
    "ja-haiku-diary": ("俳句日記 (Haiku diary)", "ja",
                       "一年分の短い日記。毎日「今日の一句」で終わります。A year of short Japanese diary entries, "
                       "each ending with a haiku."),
    "en-pirate-log": ("The Salt Magpie's log (pirate)", "en",
                      "The ship's log of the Salt Magpie, written in a pirate voice; every day ends with a shanty."),
}

BASE_MODELS = [
    # key, name, kind, source, language, size, order. Names are msgids: BaseModel.display_name
    # shows them translated (an instructor's own name is shown as typed).
    ("tiny", gettext_noop("Tiny GPT (from scratch)"), BaseModel.SCRATCH, "tiny", "", "", 1),
    ("small", gettext_noop("Small GPT (from scratch)"), BaseModel.SCRATCH, "small", "", "", 2),
    ("gpt2", "GPT-2 (124M)", BaseModel.PRETRAINED, "gpt2", "en", "124M", 10),
    ("distilgpt2", "DistilGPT-2 (82M)", BaseModel.PRETRAINED, "distilgpt2", "en", "82M", 11),
    # rinna's Japanese GPT-2 (MIT): GPT-2 weights, SentencePiece vocabulary of 32,000 pieces.
    ("rinna-ja-xsmall", gettext_noop("Japanese GPT-2 xsmall (rinna)"), BaseModel.PRETRAINED,
     "rinna/japanese-gpt2-xsmall", "ja", "37M", 12),
    ("rinna-ja-small", gettext_noop("Japanese GPT-2 small (rinna)"), BaseModel.PRETRAINED,
     "rinna/japanese-gpt2-small", "ja", "110M", 13),
    ("rinna-ja-medium", gettext_noop("Japanese GPT-2 medium (rinna)"), BaseModel.PRETRAINED,
     "rinna/japanese-gpt2-medium", "ja", "336M", 14),
]


class Command(BaseCommand):
    help = ("Create the base models and the shared sample datasets from training/seed/corpora/*.txt and "
            "training/seed/instructions/*.jsonl (conversations).")

    def handle(self, *args, **options):
        created_bases = self.seed_base_models()
        created, restored = self.seed_corpora()
        self.stdout.write(f"seed_training: {created_bases} base model(s) and {created} sample dataset(s) added, "
                          f"{restored} sample file(s) restored.")

    def seed_base_models(self) -> int:
        from training.engine import MODEL_PRESETS

        created = 0
        for key, name, kind, source, language, size, order in BASE_MODELS:
            if kind == BaseModel.SCRATCH:
                preset = MODEL_PRESETS.get(source, {})
                max_block = int(preset.get("n_positions", 256))
                size = size or f"{preset.get('n_layer', '?')} layers × {preset.get('n_embd', '?')}"
            else:
                max_block = 1024
            _, was_created = BaseModel.objects.get_or_create(key=key, defaults={
                "name": name, "kind": kind, "source": source, "language": language, "size": size,
                "max_block_size": max_block, "order": order})
            created += was_created
        return created

    def seed_corpora(self) -> tuple[int, int]:
        created = restored = 0
        files = [(path, "corpus", Dataset.TEXT, CORPUS_NAMES) for path in sorted(CORPORA_DIR.glob("*.txt"))]
        files += [(path, "instructions", Dataset.INSTRUCTION, INSTRUCTION_NAMES)
                  for path in sorted(INSTRUCTIONS_DIR.glob("*.jsonl"))]
        for path, prefix, kind, names in files:
            key = f"{prefix}:{path.stem}"
            dataset = Dataset.objects.filter(seed_key=key).first()
            if dataset is not None:
                if not dataset.file or not Path(dataset.file.path).exists():
                    self._store(dataset, path)
                    restored += 1
                continue
            name, language, description = names.get(path.stem, (path.stem, "", ""))
            dataset = Dataset(seed_key=key, name=name, language=language, description=description, kind=kind,
                              is_sample=True, published=True)
            self._store(dataset, path)
            created += 1
        return created, restored

    def _store(self, dataset: Dataset, path: Path) -> None:
        with path.open("rb") as handle:
            dataset.file.save(path.name, File(handle), save=False)
        dataset.size_bytes = path.stat().st_size
        dataset.upload_name = path.name
        services.dataset_check(dataset=dataset)  # here, not as a job: the samples must be ready when seeding ends
        if dataset.error_code:
            self.stderr.write(f"  {path.name}: {dataset.error_code} {dataset.error_params}")
        dataset.save()
