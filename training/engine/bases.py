"""Where a run starts from: a pretrained GPT-2 (hub id or local directory), a fresh GPT-2
architecture from a preset, or a previous run's export. Safetensors only; never remote code."""
import json
import os

from .config import MODEL_PRESETS
from .errors import BaseModelMissing, EngineError

SUPPORTED_MODEL_TYPES = ("gpt2",)
WEIGHT_FILES = ("model.safetensors", "model.safetensors.index.json")
DOWNLOAD_PATTERNS = ["*.json", "*.safetensors", "merges.txt", "vocab.json", "*.model", "*.txt", "README.md"]


def is_local_model_dir(path: str) -> bool:
    return os.path.isfile(os.path.join(path, "config.json")) and any(
        os.path.isfile(os.path.join(path, name)) for name in WEIGHT_FILES
    )


def run_export_dir(source: str) -> str:
    """A previous run may be given as its output_dir or as its export/ directory."""
    for candidate in (os.path.join(source, "export"), source):
        if is_local_model_dir(candidate):
            return candidate
    raise BaseModelMissing(
        f"No exported model found in {source}.", code="base_missing", params={"source": source}
    )


def is_base_present(source: str, *, cache_dir: str | None = None) -> bool:
    """True when the base can be loaded without a network: a local model dir, or a cached hub id."""
    if os.path.isdir(source):
        return is_local_model_dir(source) or is_local_model_dir(os.path.join(source, "export"))
    return _cached_snapshot(source, cache_dir) is not None


def _cached_snapshot(hub_id: str, cache_dir: str | None) -> str | None:
    from huggingface_hub import try_to_load_from_cache

    try:
        config = try_to_load_from_cache(hub_id, "config.json", cache_dir=cache_dir)
    except Exception:  # an id that is not a valid repo name is simply not present
        return None
    if not isinstance(config, str):
        return None
    snapshot = os.path.dirname(config)
    return snapshot if is_local_model_dir(snapshot) else None


def download_base_model(hub_id: str, *, cache_dir: str | None = None) -> str:
    """Fetch a GPT-2 family model (safetensors weights only) into the cache; returns its local dir."""
    from huggingface_hub import snapshot_download

    try:
        path = snapshot_download(hub_id, cache_dir=cache_dir, allow_patterns=DOWNLOAD_PATTERNS)
    except Exception as exc:
        raise EngineError(f"Could not download {hub_id}: {exc}", code="download_failed",
                          params={"source": hub_id}) from None
    if not is_local_model_dir(path):
        raise EngineError(f"{hub_id} has no safetensors weights; it cannot be used.",
                          code="no_safetensors", params={"source": hub_id})
    _check_model_type(path, hub_id)
    return path


def resolve_pretrained(source: str, *, cache_dir: str | None, offline: bool) -> str:
    """A local directory holding config.json and safetensors weights for a hub id or a path."""
    if os.path.isdir(source):
        if not is_local_model_dir(source):
            raise BaseModelMissing(f"{source} holds no config.json and model.safetensors.",
                                   params={"source": source})
        return source
    snapshot = _cached_snapshot(source, cache_dir)
    if snapshot:
        return snapshot
    if not offline:
        return download_base_model(source, cache_dir=cache_dir)
    raise BaseModelMissing(
        f"The base model {source} is not on this machine. "
        f"Cache it once with: python manage.py download_base_model {source}",
        params={"source": source, "command": f"python manage.py download_base_model {source}"},
    )


def _check_model_type(path: str, source: str) -> None:
    with open(os.path.join(path, "config.json"), encoding="utf-8") as f:
        model_type = json.load(f).get("model_type")
    if model_type not in SUPPORTED_MODEL_TYPES:
        raise EngineError(f"{source} is a {model_type} model; only the GPT-2 family is supported.",
                          code="unsupported_model", params={"source": source, "model_type": model_type})


def load_pretrained(directory: str, source: str):
    """Model and tokenizer from a local directory: safetensors only, no remote code, no network."""
    from transformers import AutoModelForCausalLM

    from .tokenization import load_tokenizer

    _check_model_type(directory, source)
    model = AutoModelForCausalLM.from_pretrained(
        directory, use_safetensors=True, trust_remote_code=False, local_files_only=True,
        dtype="float32",
    )
    return model, load_tokenizer(directory)


def scratch_config(preset: str, *, vocab_size: int, block_size: int, eos_token_id: int):
    from transformers import GPT2Config

    if preset not in MODEL_PRESETS:
        raise EngineError(f"Unknown model preset {preset!r}; choose one of {', '.join(MODEL_PRESETS)}.",
                          code="invalid_config", params={"preset": preset})
    values = dict(MODEL_PRESETS[preset])
    values["n_positions"] = max(values["n_positions"], block_size)
    return GPT2Config(vocab_size=vocab_size, bos_token_id=eos_token_id, eos_token_id=eos_token_id,
                      pad_token_id=eos_token_id, **values)
