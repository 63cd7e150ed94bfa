"""The exported Hugging Face directory (with a model card) and its zip archive."""
import copy
import json
import os
import shutil
import zipfile

# Everything a download may contain; nothing else is copied (no training_args.bin, no pickles).
EXPORT_FILES = (
    "README.md", "config.json", "generation_config.json", "model.safetensors",
    "tokenizer.json", "tokenizer_config.json", "special_tokens_map.json",
    "vocab.json", "merges.txt", "chat_template.jinja",
)
ZIP_DATE = (1980, 1, 1, 0, 0, 0)  # fixed timestamps: the same model gives the same archive


def export_model(model, tokenizer, export_dir: str, *, card: str) -> str:
    """Write the HF directory atomically: build it next to the target, then rename."""
    from transformers import GenerationConfig
    from transformers.utils import logging as transformers_logging

    from .tokenization import byte_fallback_ids, make_portable

    transformers_logging.disable_progress_bar()  # keeps worker logs readable
    tmp = export_dir + ".tmp"
    shutil.rmtree(tmp, ignore_errors=True)
    model = model.to("cpu")
    model.config.use_cache = True
    model.generation_config = GenerationConfig(
        do_sample=True, max_new_tokens=50, temperature=0.8, top_k=50, top_p=0.95,
        repetition_penalty=1.1, bos_token_id=tokenizer.eos_token_id,
        eos_token_id=tokenizer.eos_token_id, pad_token_id=tokenizer.eos_token_id,
        # Saved with the model, so a downloaded scratch model never samples a lone byte either.
        suppress_tokens=byte_fallback_ids(tokenizer) or None,
    )
    model.save_pretrained(tmp)
    # The tokenizer may be shared (cached): save a copy that states the model's context.
    tokenizer = copy.copy(tokenizer)
    tokenizer.model_max_length = model.config.n_positions
    tokenizer.save_pretrained(tmp)
    make_portable(tmp)
    with open(os.path.join(tmp, "README.md"), "w", encoding="utf-8") as f:
        f.write(card)
    for name in os.listdir(tmp):
        if name not in EXPORT_FILES:
            _remove(os.path.join(tmp, name))
    if os.path.exists(export_dir):
        shutil.rmtree(export_dir)
    os.replace(tmp, export_dir)
    return export_dir


def _remove(path: str) -> None:
    if os.path.isdir(path) and not os.path.islink(path):
        shutil.rmtree(path)
    else:
        os.remove(path)


def export_zip(model_dir: str, zip_path: str) -> list[str]:
    """Zip the exported directory under fixed entry names (top level, sorted); atomic write."""
    names = sorted(
        name for name in EXPORT_FILES
        if os.path.isfile(os.path.join(model_dir, name)) and not os.path.islink(os.path.join(model_dir, name))
    )
    tmp = zip_path + ".tmp"
    with zipfile.ZipFile(tmp, "w") as archive:
        for name in names:
            info = zipfile.ZipInfo(name, date_time=ZIP_DATE)
            info.external_attr = 0o644 << 16
            # Weights barely compress; storing them keeps zipping fast.
            info.compress_type = zipfile.ZIP_STORED if name.endswith(".safetensors") else zipfile.ZIP_DEFLATED
            with open(os.path.join(model_dir, name), "rb") as source, archive.open(info, "w") as target:
                shutil.copyfileobj(source, target, 1 << 20)
    os.replace(tmp, zip_path)
    return names


def model_card(*, base: str, base_kind: str, data: dict, hyperparameters: dict, metrics: dict,
               samples: list[dict]) -> str:
    """README.md for the export: where it came from, on what, how well, and how to load it."""
    metric_rows = "\n".join(f"| {name} | {_fmt(value)} |" for name, value in metrics.items())
    data_rows = "\n".join(f"| {name} | {_fmt(value)} |" for name, value in data.items())
    sample_text = "\n\n".join(
        f"**Prompt:** {s['prompt']}\n\n- before: {s['base']!r}\n- after: {s['tuned']!r}" for s in samples
    )
    base_line = {"scratch": f"trained from scratch (GPT-2 architecture, preset `{base}`)",
                 "pretrained": f"fine-tuned from `{base}`",
                 "run": "continued from a previous llmschool run"}.get(base_kind, base)
    return f"""---
library_name: transformers
pipeline_tag: text-generation
tags: [gpt2, llmschool]
---

# GPT-2 model made on llmschool

Base: {base_line}.

## How to load it

```python
from transformers import AutoModelForCausalLM, AutoTokenizer, pipeline

model = AutoModelForCausalLM.from_pretrained("path/to/this/folder")
tokenizer = AutoTokenizer.from_pretrained("path/to/this/folder")
generator = pipeline("text-generation", model=model, tokenizer=tokenizer)
print(generator("Once upon a time,", max_new_tokens=40)[0]["generated_text"])
```

## Metrics (validation set)

| metric | value |
| --- | --- |
{metric_rows}

## Training data

| figure | value |
| --- | --- |
{data_rows}

## Hyperparameters

```json
{json.dumps(hyperparameters, indent=2, ensure_ascii=False, sort_keys=True)}
```

## Samples (same seed and settings before and after training)

{sample_text}
"""


def _fmt(value) -> str:
    return f"{value:.4g}" if isinstance(value, float) else str(value)
