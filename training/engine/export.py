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

    from .chat import end_token_id, has_chat_tokens
    from .tokenization import byte_fallback_ids, make_portable

    transformers_logging.disable_progress_bar()  # keeps worker logs readable
    tmp = export_dir + ".tmp"
    shutil.rmtree(tmp, ignore_errors=True)
    model = model.to("cpu")
    model.config.use_cache = True
    # A chat model stops at <|end|> (the close of its answer) as well as at the end of text.
    stop = [tokenizer.eos_token_id, end_token_id(tokenizer)] if has_chat_tokens(tokenizer) else tokenizer.eos_token_id
    model.generation_config = GenerationConfig(
        do_sample=True, max_new_tokens=50, temperature=0.8, top_k=50, top_p=0.95,
        repetition_penalty=1.1, bos_token_id=tokenizer.eos_token_id,
        eos_token_id=stop, pad_token_id=tokenizer.eos_token_id,
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


CARD_LANGUAGES = ("en", "ja", "both")

# Row labels of the card's tables; a figure without a label shows under its own key.
METRIC_LABELS = {
    "en": {"base_val_loss": "validation loss of the base", "base_perplexity": "perplexity of the base",
           "base_val_bpc": "bits per character of the base", "val_loss": "validation loss",
           "perplexity": "perplexity", "val_bpc": "bits per character",
           "exported_step": "exported step (lowest validation loss)", "steps": "steps trained"},
    "ja": {"base_val_loss": "ベースモデルの検証損失", "base_perplexity": "ベースモデルのパープレキシティ",
           "base_val_bpc": "ベースモデルの 1 文字あたりのビット数", "val_loss": "検証損失",
           "perplexity": "パープレキシティ", "val_bpc": "1 文字あたりのビット数",
           "exported_step": "書き出したステップ（検証損失が最小のもの）", "steps": "学習したステップ数"},
}
# An instruction run's held-out loss counts answers only (its card, like its progress page, says so).
CHAT_METRIC_LABELS = {
    "en": {"base_val_loss": "loss on held-out answers of the base", "val_loss": "loss on held-out answers",
           "exported_step": "exported step (lowest loss on held-out answers)"},
    "ja": {"base_val_loss": "ベースモデルの取っておいた会話の答えの損失", "val_loss": "取っておいた会話の答えの損失",
           "exported_step": "書き出したステップ（取っておいた会話の答えの損失が最小のもの）"},
}
DATA_LABELS = {
    "en": {"chars": "characters", "lines": "lines", "duplicate_lines": "duplicate lines",
           "japanese_share": "share of Japanese characters", "bytes": "bytes", "tokens": "tokens",
           "tokens_per_char": "tokens per character", "train_blocks": "training blocks",
           "val_blocks": "validation blocks", "block_size": "block size (tokens)", "vocab_size": "vocabulary size",
           "val_tokens": "evaluated tokens", "val_chars": "evaluated characters",
           "longest_tokens": "longest tokens of the trained vocabulary", "repeated_lines": "most repeated lines"},
    "ja": {"chars": "文字数", "lines": "行数", "duplicate_lines": "重複している行", "japanese_share": "日本語の割合",
           "bytes": "バイト数", "tokens": "トークン数", "tokens_per_char": "1 文字あたりのトークン数",
           "train_blocks": "学習ブロック数", "val_blocks": "検証ブロック数", "block_size": "ブロックの長さ（トークン）",
           "vocab_size": "語彙数", "val_tokens": "評価に使ったトークン数", "val_chars": "評価に使った文字数",
           "longest_tokens": "学習した語彙の中で特に長いトークン", "repeated_lines": "よく繰り返される行"},
}
# An instruction run's data: its conversations, as the chat template writes them (a line a message).
CHAT_DATA_LABELS = {
    "en": {"lines": "lines (a message each, as the chat template writes them)", "examples": "conversations",
           "train_examples": "training conversations", "val_examples": "held-out conversations",
           "cut_examples": "conversations cut to the block", "answer_tokens": "answer tokens (what is learned)"},
    "ja": {"lines": "行数（チャットテンプレートで書き出した、メッセージごとの行）", "examples": "会話の数",
           "train_examples": "学習に使った会話", "val_examples": "取っておいた会話",
           "cut_examples": "ブロックの長さで切られた会話", "answer_tokens": "答えのトークン数（学習するもの）"},
}


def model_card(*, base: str, base_kind: str, data: dict, hyperparameters: dict, metrics: dict,
               samples: list[dict], language: str = "en", chat: bool = False) -> str:
    """README.md for the export: where it came from, on what, how well, and how to load it.

    Written in the language of the run's text ("en", "ja"), or in both, Japanese first, for a
    text that mixes them (the app decides which from the dataset)."""
    if language not in CARD_LANGUAGES:
        raise ValueError(f"card language must be one of {CARD_LANGUAGES}, not {language!r}")
    languages = ["ja", "en"] if language == "both" else [language]
    bodies = [_card({**CARD_WORDS[lang], **(CHAT_CARD_WORDS[lang] if chat else {})}, lang, base=base, base_kind=base_kind, data=data,
                    hyperparameters=hyperparameters, metrics=metrics, samples=samples, chat=chat) for lang in languages]
    front = f"""---
library_name: transformers
pipeline_tag: text-generation
language: [{", ".join(languages)}]
tags: [gpt2, llmschool]
---

"""
    return front + "\n---\n\n".join(bodies)


# An instruction run's card words its metrics and samples for answers and questions.
CHAT_CARD_WORDS = {
    "en": {"metrics": "Metrics (held-out answers)",
           "bpc": "The loss counts only the assistant's answers of conversations held out from training. Bits "
                  "per character count it per character of those answers instead of per token, so they compare "
                  "models whose tokenizers differ.",
           "samples": "Answers to held-out questions (same seed and settings before and after training)",
           "sample": "**Question:** {prompt}\n\n- before: {before!r}\n- after: {after!r}"},
    "ja": {"metrics": "評価指標（取っておいた会話の答え）",
           "bpc": "損失は、学習に使わずに取っておいた会話のうち、アシスタントの答えだけで数えています。1 文字あたりの"
                  "ビット数はそれをトークン単位ではなく答えの文字単位で数え直したもので、トークナイザーが違うモデル"
                  "同士でも比べられます。",
           "samples": "取っておいた質問への答え（学習前と学習後で同じシード・同じ設定）",
           "sample": "**質問：** {prompt}\n\n- 学習前：{before!r}\n- 学習後：{after!r}"},
}

# The card's sentences in each language: the same facts, each written natively.
CARD_WORDS = {
    "en": {
        "title": "GPT-2 model made on llmschool", "base": "Base: {}.",
        "scratch": "trained from scratch (GPT-2 architecture, preset `{}`)", "pretrained": "fine-tuned from `{}`",
        "run": "continued from a previous llmschool run", "load": "How to load it", "prompt": "Once upon a time,",
        "question": "What is a token?",
        "metrics": "Metrics (validation set)",
        "bpc": "Bits per character count the validation loss per character of text instead of per token, so "
               "they compare models whose tokenizers differ.",
        "metric_head": "| metric | value |", "data": "Training data", "data_head": "| figure | value |",
        "hyperparameters": "Hyperparameters", "samples": "Samples (same seed and settings before and after training)",
        "sample": "**Prompt:** {prompt}\n\n- before: {before!r}\n- after: {after!r}",
    },
    "ja": {
        "title": "llmschool で作った GPT-2 モデル", "base": "ベースモデル：{}。",
        "scratch": "ゼロから学習（GPT-2 のアーキテクチャ、プリセット `{}`）", "pretrained": "`{}` をファインチューニング",
        "run": "llmschool の以前のランの続きから学習", "load": "読み込み方", "prompt": "昔々、",
        "question": "トークンとは何ですか？",
        "metrics": "評価指標（検証用テキスト）",
        "bpc": "1 文字あたりのビット数は、検証損失をトークン単位ではなく文字単位で数え直したものです。"
               "トークナイザーが違うモデル同士でも比べられます。",
        "metric_head": "| 指標 | 値 |", "data": "学習データ", "data_head": "| 項目 | 値 |",
        "hyperparameters": "ハイパーパラメータ", "samples": "生成例（学習前と学習後で同じシード・同じ設定）",
        "sample": "**プロンプト：** {prompt}\n\n- 学習前：{before!r}\n- 学習後：{after!r}",
    },
}


def _card(words: dict, language: str, *, base, base_kind, data, hyperparameters, metrics, samples,
          chat: bool = False) -> str:
    base_line = words[base_kind].format(base) if base_kind in ("scratch", "pretrained", "run") else base
    sample_text = "\n\n".join(words["sample"].format(prompt=s["prompt"], before=s["base"], after=s["tuned"])
                               for s in samples)
    return f"""# {words["title"]}

{words["base"].format(base_line)}

## {words["load"]}

{_chat_code(words["question"]) if chat else _loading_code(words["prompt"])}

## {words["metrics"]}

{words["bpc"]}

{words["metric_head"]}
| --- | --- |
{_rows(metrics, {**METRIC_LABELS[language], **(CHAT_METRIC_LABELS[language] if chat else {})})}

## {words["data"]}

{words["data_head"]}
| --- | --- |
{_rows(_data_figures(data), {**DATA_LABELS[language], **(CHAT_DATA_LABELS[language] if chat else {})})}

## {words["hyperparameters"]}

{_json_block(hyperparameters)}

## {words["samples"]}

{sample_text}
"""


def _chat_code(question: str) -> str:
    return f"""```python
from transformers import AutoModelForCausalLM, AutoTokenizer

model = AutoModelForCausalLM.from_pretrained("path/to/this/folder")
tokenizer = AutoTokenizer.from_pretrained("path/to/this/folder")
messages = [{{"role": "user", "content": "{question}"}}]
inputs = tokenizer.apply_chat_template(messages, add_generation_prompt=True, return_tensors="pt", return_dict=True)
output = model.generate(**inputs, max_new_tokens=80)  # stops at <|end|> (generation_config.json)
print(tokenizer.decode(output[0, inputs["input_ids"].shape[1]:], skip_special_tokens=True))
```"""


def _loading_code(prompt: str) -> str:
    return f"""```python
from transformers import AutoModelForCausalLM, AutoTokenizer, pipeline

model = AutoModelForCausalLM.from_pretrained("path/to/this/folder")
tokenizer = AutoTokenizer.from_pretrained("path/to/this/folder")
generator = pipeline("text-generation", model=model, tokenizer=tokenizer)
print(generator("{prompt}", max_new_tokens=40)[0]["generated_text"])
```"""


def _data_figures(data: dict) -> dict:
    """The data figures as table cells: the trained vocabulary's longest tokens and the most
    repeated lines become short lists, the rest stays as it is."""
    figures = {key: value for key, value in data.items() if key not in ("tokenizer", "repeated_lines")}
    tokenizer = data.get("tokenizer") or {}
    if tokenizer.get("longest_tokens"):
        figures["longest_tokens"] = " ".join(f"`{token}`" for token in tokenizer["longest_tokens"])
    if data.get("repeated_lines"):
        figures["repeated_lines"] = "; ".join(f"{row['line']!r} ×{row['count']}" for row in data["repeated_lines"])
    return figures


def _rows(values: dict, labels: dict) -> str:
    return "\n".join(f"| {labels.get(name, name)} | {_cell(value)} |" for name, value in values.items())


def _cell(value) -> str:
    return _fmt(value).replace("|", "\\|").replace("\n", " ")


def _json_block(values: dict) -> str:
    return f"```json\n{json.dumps(values, indent=2, ensure_ascii=False, sort_keys=True)}\n```"


def _fmt(value) -> str:
    return f"{value:.4g}" if isinstance(value, float) else str(value)
