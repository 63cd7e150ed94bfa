import os
from pathlib import Path

from django.core.management.base import BaseCommand, CommandError
from django.utils.text import slugify

from training import conf
from training.models import BaseModel


def seeded_bases() -> dict:
    """The seed's pretrained rows by source, so a download names and sizes them the same way."""
    from training.management.commands.seed_training import BASE_MODELS

    return {source: {"key": key, "name": name, "language": language, "size": size, "order": order}
            for key, name, kind, source, language, size, order in BASE_MODELS if kind == BaseModel.PRETRAINED}


class Command(BaseCommand):
    help = ("Download a GPT-2 family model from the Hugging Face Hub into MODELS_DIR, so that offline workers "
            "can train from it (needs internet access once), or prepare a local model directory. A model that "
            "ships only pytorch_model.bin is converted once to model.safetensors (tensors only, never a full "
            "unpickle).")

    def add_arguments(self, parser):
        parser.add_argument("source", help="a Hub id (gpt2, distilgpt2, rinna/japanese-gpt2-small) or an "
                                           "absolute path to a model directory")

    def handle(self, *args, source, **options):
        local = os.path.isabs(source)
        if local and not os.path.isdir(source):
            raise CommandError(f"{source} is not a directory.")
        if not local:
            # The site runs with HF_HUB_OFFLINE=1 so that workers never download; this command must.
            os.environ["HF_HUB_OFFLINE"] = "0"
            try:
                import huggingface_hub.constants

                huggingface_hub.constants.HF_HUB_OFFLINE = False
            except ImportError:
                pass
        from training.engine import EngineError, download_base_model

        cache_dir = conf.models_dir()
        cache_dir.mkdir(parents=True, exist_ok=True)
        self.stdout.write(f"Preparing {source} ..." if local else f"Downloading {source} into {cache_dir} ...")
        try:
            path = download_base_model(source, cache_dir=str(cache_dir))
        except EngineError as exc:
            hint = ("" if local else "\nThis command needs internet access to huggingface.co (and a GPT-2 family "
                    "model). On a machine without internet, copy a model directory here and run this command with "
                    "its absolute path.")
            raise CommandError(f"{exc}{hint}") from None
        base, created = self.base_row(source)
        self.stdout.write(self.style.SUCCESS(
            f"{source} is ready in {path}; base model '{base.name}' {'added' if created else 'is now present'}."))

    def base_row(self, source: str) -> tuple[BaseModel, bool]:
        """The seeded row for this source when there is one (it was shown as absent until now)."""
        known = seeded_bases().get(source, {})
        key = known.get("key") or slugify(Path(source).name if os.path.isabs(source) else source.replace("/", "-"))
        return BaseModel.objects.get_or_create(source=source, kind=BaseModel.PRETRAINED, defaults={
            "key": self.free_key(key[:60]), "name": known.get("name", source), "size": known.get("size", ""),
            "language": known.get("language", ""), "max_block_size": 1024, "order": known.get("order", 20)})

    @staticmethod
    def free_key(key: str) -> str:
        candidate, number = key or "base", 2
        while BaseModel.objects.filter(key=candidate).exists():
            candidate, number = f"{key[:55]}-{number}", number + 1
        return candidate
