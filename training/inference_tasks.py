"""What an inference worker does: a small registry of named tasks over the engine.

The web process never runs a model. A lab or playground request calls
`training.inference.inference_call(user, "<task>", payload)`, which puts
`run_task("<task>", payload)` on the RQ queue `inference`; an inference worker
(training.worker.InferenceWorker, non-forking) runs it and keeps recently used models loaded
(the engine's LRU, bounded by INFERENCE_MAX_LOADED_MODELS).

A task is a function of plain keyword values (a run's export directory as a string, a prompt,
numbers, lists) that returns plain values (dicts, lists, strings, numbers): never a Django
object, so a worker on another host needs only the shared model storage. An EngineError is
returned as {"error": {"code": ..., "params": ...}} for the caller to word; anything else
fails the job and the caller answers with a general message.

Adding a task takes one line in TASKS, e.g. `"chat": chat,` with `def chat(*, model_dir,
messages, ...) -> dict` defined here (or imported from a module of the training app), and a
caller `inference_call(user, "chat", {"model_dir": ..., "messages": [...]})`.

This module imports the engine (and so torch) only inside the task functions.
"""
import logging
import time

log = logging.getLogger(__name__)

# A generation stops this long before its requester stops waiting, so that the answer (cut
# short) still reaches them instead of "busy" (job.meta["deadline"], set by training/inference.py).
ANSWER_MARGIN_SECONDS = 1.0

# Temperatures below this are greedy decoding: dividing logits by 1e-45 overflows to inf/nan.
GREEDY_BELOW = 1e-4


def greedy_temperature(temperature: float) -> float:
    """0 (greedy) for temperatures too small to divide by, else the temperature."""
    return 0.0 if float(temperature) < GREEDY_BELOW else float(temperature)


# -- tokenizer explorer ----------------------------------------------------------------

def _char_index_of_bytes(text: str) -> list[int]:
    """For each UTF-8 byte of `text`, the index of the character it belongs to."""
    index = []
    for position, char in enumerate(text):
        index.extend([position] * len(char.encode("utf-8")))
    return index


def token_rows(tokenizer_dir: str, text: str) -> list[dict]:
    """The engine's tokens with the characters each one touches. A byte-level token may hold
    only part of a character (most Japanese characters are 3 bytes): it is marked partial."""
    from training.engine import tokenize_view

    owner_of_byte = _char_index_of_bytes(text)
    boundaries = {len(text[:i].encode("utf-8")) for i in range(len(text) + 1)} if text else {0}
    rows = []
    for token in tokenize_view(tokenizer_dir, text):
        start, end = token["start"], token["end"]
        if end < start or end > len(owner_of_byte):
            continue
        if end == start:  # a SentencePiece word marker ("▁") that holds no character of the text
            position = owner_of_byte[start] if start < len(owner_of_byte) else len(text)
            rows.append({"id": token["id"], "text": token["text"], "bytes": "", "byte_length": 0, "start": start,
                         "end": end, "char_start": position, "char_end": position, "partial": False})
            continue
        first, last = owner_of_byte[start], owner_of_byte[end - 1]
        rows.append({
            "id": token["id"], "text": text[first:last + 1], "bytes": token["bytes"], "byte_length": end - start,
            "start": start, "end": end, "char_start": first, "char_end": last + 1,
            "partial": start not in boundaries or end not in boundaries,
        })
    return rows


def tokenizer_figures(tokenizer_dir: str, text: str) -> dict:
    from training.engine import vocabulary_size

    rows = token_rows(tokenizer_dir, text)
    chars = len(text)
    return {
        "vocab_size": vocabulary_size(tokenizer_dir),
        "count": len(rows),
        "tokens_per_char": round(len(rows) / chars, 3) if chars else 0.0,
        "chars_per_token": round(chars / len(rows), 3) if rows else 0.0,
        "partial_tokens": sum(1 for row in rows if row["partial"]),
        "tokens": rows,
    }


def tokenize(*, text: str, model_dir: str | None = None) -> dict:
    """The text under the real GPT-2 tokenizer and, with a model directory, under its own."""
    from training.engine import gpt2_tokenizer_dir

    return {"gpt2": tokenizer_figures(gpt2_tokenizer_dir(), text),
            "run": tokenizer_figures(model_dir, text) if model_dir else None}


# -- next-token explorer and attention -----------------------------------------------------

def next_token(*, model_dir: str, prompt: str, picked: list[int], temperature: float, top_k: int | None,
               top_p: float | None, k: int, seed: int) -> dict:
    from training.engine import next_token_distribution

    return next_token_distribution(model_dir, prompt, picked=picked, temperature=greedy_temperature(temperature),
                                   top_k=top_k, top_p=top_p, k=k, seed=seed)


def attention(*, model_dir: str, text: str, max_tokens: int) -> dict:
    """The engine's attention weights, with labels as in the tokenizer explorer: the characters
    each token touches (a half character shows the whole character, marked partial)."""
    from training.engine import attention_weights

    result = attention_weights(model_dir, text, max_tokens=max_tokens)
    ids = result["token_ids"] if result["total_tokens"] else []  # an empty text shows the end-of-text token
    rows = token_rows(model_dir, text)[:len(ids)]
    if ids and [row["id"] for row in rows] == ids:
        labels = [{"text": row["text"], "bytes": row["bytes"], "partial": row["partial"]} for row in rows]
    else:  # not the same split (should not happen), or the end-of-text token: label by token alone
        labels = result["pieces"] or [{"text": t, "bytes": "", "partial": False} for t in result["tokens"]]
    return {"tokens": labels, "layers": result["layers"], "total_tokens": result["total_tokens"],
            "shown_tokens": len(result["tokens"])}


# -- playground ------------------------------------------------------------------------------

def generate(*, model_dir: str, prompt: str, max_new_tokens: int, temperature: float, top_k: int | None,
             top_p: float | None, seed: int, deadline: float | None = None) -> dict:
    from training.engine import generate as engine_generate

    text = engine_generate(model_dir, prompt, max_new_tokens=max_new_tokens,
                           temperature=greedy_temperature(temperature), top_k=top_k, top_p=top_p, seed=seed,
                           deadline=deadline)
    return {"text": text, "cut_short": _past(deadline)}


def chat(*, model_dir: str, messages: list[dict], max_new_tokens: int, temperature: float, top_k: int | None,
         top_p: float | None, seed: int, deadline: float | None = None) -> dict:
    """An instruction run's answer to a conversation (the engine applies the chat template)."""
    from training.engine import chat_reply

    answer = chat_reply(model_dir, messages, max_new_tokens=max_new_tokens,
                        temperature=greedy_temperature(temperature), top_k=top_k, top_p=top_p, seed=seed,
                        deadline=deadline)
    return {**answer, "cut_short": _past(deadline)}


def _past(deadline: float | None) -> bool:
    """Did generation run into its deadline (and so stop early)?"""
    return deadline is not None and time.time() >= deadline


# Tasks that generate token by token: they take the requester's deadline and stop there.
TIMED_TASKS = {"generate", "chat"}


# The registry: task name -> function of plain keyword values. One line per task.
TASKS = {
    "tokenize": tokenize,
    "next_token": next_token,
    "attention": attention,
    "generate": generate,
    "chat": chat,
}


def run_task(name: str, payload: dict) -> dict:
    """The RQ job of the `inference` queue: TASKS[name](**payload), engine errors as values."""
    from rq import get_current_job

    from training.engine import EngineError
    from training.inference import release_after_job

    task = TASKS.get(name)
    job = get_current_job()
    try:
        if task is None:
            return {"error": {"code": "unknown_task", "params": {"task": name}}}
        waited_until = (job.meta or {}).get("deadline") if job is not None else None
        if waited_until is not None and time.time() >= waited_until:
            return {"error": {"code": "expired", "params": {}}}  # nobody waits for this answer any more
        if name in TIMED_TASKS and waited_until is not None:
            payload = {**payload, "deadline": waited_until - ANSWER_MARGIN_SECONDS}
        return {"result": task(**payload)}
    except EngineError as error:
        log.info("inference task %s refused: %s", name, error)
        return {"error": {"code": getattr(error, "code", "") or "engine_error",
                          "params": _plain(getattr(error, "params", None) or {})}}
    finally:
        release_after_job(job)


def _plain(params: dict) -> dict:
    return {str(key): value if isinstance(value, (str, int, float, bool, type(None))) else str(value)
            for key, value in params.items()}
