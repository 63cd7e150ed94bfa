"""Where a run starts from: a pretrained GPT-2 (hub id or local directory), a fresh GPT-2
architecture from a preset, or a previous run's export. Safetensors only; never remote code.

A repository that ships only pytorch_model.bin (a pickle) is converted once, when it is
downloaded, to model.safetensors with torch.load(weights_only=True): tensors and plain
containers only, never a full unpickle. Training and inference load safetensors only."""
import json
import os

from .config import MODEL_PRESETS
from .errors import BaseModelMissing, EngineError

SUPPORTED_MODEL_TYPES = ("gpt2",)
WEIGHT_FILES = ("model.safetensors", "model.safetensors.index.json")
PICKLED_WEIGHTS = "pytorch_model.bin"
# *.model: SentencePiece vocabularies (rinna's spiece.model).
DOWNLOAD_PATTERNS = ["*.json", "*.safetensors", "merges.txt", "vocab.json", "*.model", "*.txt", "README.md"]
# Non-persistent buffers that old GPT-2 checkpoints saved; today's GPT-2 rebuilds them.
OBSOLETE_BUFFERS = (".attn.bias", ".attn.masked_bias")


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


def local_model_dir(source: str, *, cache_dir: str | None = None) -> str | None:
    """The directory a present base loads from (no network), or None when it is absent."""
    if os.path.isdir(source):
        for candidate in (source, os.path.join(source, "export")):
            if is_local_model_dir(candidate):
                return candidate
        return None
    return _cached_snapshot(source, cache_dir)


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


def download_base_model(source: str, *, cache_dir: str | None = None) -> str:
    """Make a GPT-2 family model loadable offline; returns its local directory.

    A hub id is fetched into the cache (config, tokenizer and safetensors weights; the pickled
    pytorch_model.bin only when the repository has no safetensors, and then converted once).
    A local directory holding only pytorch_model.bin is converted in place.
    """
    if os.path.isdir(source):
        return prepare_local_dir(source)
    from huggingface_hub import snapshot_download

    try:
        path = snapshot_download(source, cache_dir=cache_dir, allow_patterns=DOWNLOAD_PATTERNS)
        if not is_local_model_dir(path):
            path = snapshot_download(source, cache_dir=cache_dir, allow_patterns=[PICKLED_WEIGHTS])
    except Exception as exc:
        raise EngineError(f"Could not download {source}: {exc}", code="download_failed",
                          params={"source": source}) from None
    return prepare_local_dir(path, source=source, keep_pickle=False)


def prepare_local_dir(path: str, *, source: str | None = None, keep_pickle: bool = True) -> str:
    """Check a model directory and give it safetensors weights, converting pytorch_model.bin once.

    keep_pickle=False removes the pickle after conversion (a hub cache: the file and its blob),
    so that nothing can load it later and the disk is not used twice.
    """
    source = source or path
    if not os.path.isfile(os.path.join(path, "config.json")):
        raise EngineError(f"{source} has no config.json; it is not a Hugging Face model.",
                          code="no_safetensors", params={"source": source})
    _check_model_type(path, source)
    pickled = os.path.join(path, PICKLED_WEIGHTS)
    if not is_local_model_dir(path):
        if not os.path.isfile(pickled):
            raise EngineError(f"{source} has neither model.safetensors nor pytorch_model.bin; it cannot be used.",
                              code="no_safetensors", params={"source": source})
        convert_pickled_weights(path, source=source)
    if not keep_pickle and os.path.lexists(pickled):
        _remove_with_blob(pickled)
    return path


def convert_pickled_weights(path: str, *, source: str = "") -> str:
    """pytorch_model.bin -> model.safetensors (atomic), loading the pickle with weights_only=True.

    Keys are matched against the model that config.json describes: a missing "transformer."
    prefix is added, obsolete attention buffers are dropped, and lm_head.weight is left out
    when it is tied to the embeddings (as save_pretrained does), so the result loads without
    missing or unexpected keys.
    """
    import pickle

    import torch
    from safetensors.torch import save_file
    from transformers import AutoConfig, AutoModelForCausalLM

    source = source or path
    try:
        state = torch.load(os.path.join(path, PICKLED_WEIGHTS), map_location="cpu", weights_only=True)
    except (pickle.UnpicklingError, RuntimeError, EOFError, ValueError, AttributeError) as exc:
        raise EngineError(f"{source}: pytorch_model.bin holds more than plain tensors and was refused ({exc}).",
                          code="unsafe_weights", params={"source": source}) from None
    if isinstance(state, dict) and isinstance(state.get("state_dict"), dict):
        state = state["state_dict"]
    if not isinstance(state, dict) or not all(isinstance(v, torch.Tensor) for v in state.values()):
        raise EngineError(f"{source}: pytorch_model.bin is not a state dict of tensors.",
                          code="unsafe_weights", params={"source": source})
    config = AutoConfig.from_pretrained(path, local_files_only=True, trust_remote_code=False)
    with torch.device("meta"):
        expected = AutoModelForCausalLM.from_config(config, trust_remote_code=False).state_dict()
    tensors = {}
    for key, tensor in state.items():
        name = key if key in expected or "transformer." + key not in expected else "transformer." + key
        if name in expected:
            tensors[name] = tensor
        elif not key.endswith(OBSOLETE_BUFFERS):
            raise EngineError(f"{source}: unexpected weight {key!r} in pytorch_model.bin.",
                              code="unsupported_model", params={"source": source, "key": key})
    tied = getattr(config, "tie_word_embeddings", True)
    if tied:
        tensors.pop("lm_head.weight", None)
    missing = sorted(set(expected) - set(tensors) - ({"lm_head.weight"} if tied else set()))
    if missing:
        raise EngineError(f"{source}: pytorch_model.bin lacks {', '.join(missing[:5])}.",
                          code="unsupported_model", params={"source": source, "missing": missing[:5]})
    seen, contiguous = set(), {}
    for name, tensor in tensors.items():  # safetensors refuses tensors that share memory
        tensor = tensor.contiguous()
        if tensor.data_ptr() in seen:
            tensor = tensor.clone()
        seen.add(tensor.data_ptr())
        contiguous[name] = tensor
    target = os.path.join(path, "model.safetensors")
    save_file(contiguous, target + ".tmp", metadata={"format": "pt"})
    os.replace(target + ".tmp", target)
    return target


def _remove_with_blob(path: str) -> None:
    """Remove a file; when it is a hub cache link, the blob it points to as well."""
    blob = os.path.realpath(path) if os.path.islink(path) else None
    os.remove(path)
    if blob and os.path.isfile(blob):
        os.remove(blob)


def resolve_pretrained(source: str, *, cache_dir: str | None, offline: bool) -> str:
    """A local directory holding config.json and safetensors weights for a hub id or a path."""
    if os.path.isdir(source):
        if not is_local_model_dir(source):
            command = f"python manage.py download_base_model {source}"
            hint = (f" It has pytorch_model.bin: convert it once with: {command}"
                    if os.path.isfile(os.path.join(source, PICKLED_WEIGHTS)) else "")
            raise BaseModelMissing(f"{source} holds no config.json and model.safetensors.{hint}",
                                   params={"source": source, "command": command})
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
