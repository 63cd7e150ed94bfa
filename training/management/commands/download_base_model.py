import os

from django.core.management.base import BaseCommand, CommandError
from django.utils.text import slugify

from training import conf
from training.models import BaseModel

KNOWN = {
    "gpt2": {"name": "GPT-2 (124M)", "size": "124M", "language": "en"},
    "distilgpt2": {"name": "DistilGPT-2 (82M)", "size": "82M", "language": "en"},
}


class Command(BaseCommand):
    help = ("Download a GPT-2 family model from the Hugging Face Hub (safetensors only) into MODELS_DIR, "
            "so that offline workers can train from it. Needs internet access once.")

    def add_arguments(self, parser):
        parser.add_argument("hub_id", help="e.g. gpt2, distilgpt2, rinna/japanese-gpt2-small")

    def handle(self, *args, hub_id, **options):
        # The site runs with HF_HUB_OFFLINE=1 so that workers never download; this command must not.
        os.environ["HF_HUB_OFFLINE"] = "0"
        try:
            import huggingface_hub.constants

            huggingface_hub.constants.HF_HUB_OFFLINE = False
        except ImportError:
            pass
        from training.engine import EngineError, download_base_model

        cache_dir = conf.models_dir()
        cache_dir.mkdir(parents=True, exist_ok=True)
        self.stdout.write(f"Downloading {hub_id} into {cache_dir} ...")
        try:
            path = download_base_model(hub_id, cache_dir=str(cache_dir))
        except EngineError as exc:
            raise CommandError(
                f"{exc}\nThis command needs internet access to huggingface.co (and a GPT-2 family model with "
                "safetensors weights). On a machine without internet, copy a model directory instead and add it "
                "in the admin as a base model with that directory as its source.") from None
        known = KNOWN.get(hub_id, {})
        base, created = BaseModel.objects.get_or_create(source=hub_id, kind=BaseModel.PRETRAINED, defaults={
            "key": slugify(hub_id.replace("/", "-"))[:60], "name": known.get("name", hub_id),
            "size": known.get("size", ""), "language": known.get("language", ""), "max_block_size": 1024,
            "order": 20})
        self.stdout.write(self.style.SUCCESS(
            f"{hub_id} is cached in {path}; base model '{base.name}' {'added' if created else 'is now present'}."))
