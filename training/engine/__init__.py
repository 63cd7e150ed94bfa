"""llmschool's training engine: plain Python (no Django), called by the RQ job, the site's
playground, tests and benchmarks. The names below are its whole public API (training/engine/README.md
describes them).

Names are imported lazily so that `from training.engine import DatasetError` does not load
torch into a web process that only needs the error classes.
"""
import importlib

# name -> module, or name -> (module, the name inside it)
_EXPORTS = {
    "TrainConfig": "config", "TrainResult": "config", "Progress": "config", "DatasetReport": "config",
    "MODEL_PRESETS": "config", "CorpusLimits": "config", "HYPER_PRESETS": "presets", "preset_plan": "presets",
    "BATCH_SETTINGS": ("presets", "SETTINGS"),
    "calibrate": "calibration",
    "EngineError": "errors", "DatasetError": "errors", "BaseModelMissing": "errors",
    "TrainingCancelled": "errors", "OutOfMemory": "errors",
    "check_dataset": "check", "check_instruction_dataset": "check", "prepare_text": "prepare", "PreparationReport": "prepare",
    "train": "trainer",
    "export_zip": "export",
    "is_base_present": "bases", "download_base_model": "bases",
    "estimate_seconds": "estimate", "fallback_tokens_per_second": "estimate",
    "base_parameters": ("estimate", "parameters"),
    "load_model": "inference", "generate": "inference", "next_token_distribution": "inference",
    "tokenize_view": "inference", "attention_weights": "inference", "vocabulary_size": "inference",
    "configure_inference": "inference", "warm_up_inference": ("inference", "warm_up"), "chat_reply": "inference",
    "check_instructions": "instructions", "looks_like_instructions": "instructions",
    "InstructionReport": "instructions",
    "gpt2_tokenizer_dir": "tokenization", "MAX_NEW_TOKENS": "sampling",
    "chat_token_view": "chat_view",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str):
    if name not in _EXPORTS:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    module, inner = _EXPORTS[name] if isinstance(_EXPORTS[name], tuple) else (_EXPORTS[name], name)
    value = getattr(importlib.import_module(f".{module}", __name__), inner)
    globals()[name] = value
    return value


def __dir__():
    return __all__
