"""Text generation shared by the training samples and the site's playground."""
from dataclasses import dataclass

# One limit for the playground form (conf.playground_max_new_tokens is capped by it) and the
# training samples: ~1-2 s for the scratch presets on 2 cores.
MAX_NEW_TOKENS = 200
MAX_PROMPT_CHARS = 2000


@dataclass(frozen=True)
class SamplingSettings:
    max_new_tokens: int = 50
    temperature: float = 0.8
    top_k: int | None = 50
    top_p: float | None = 0.95
    repetition_penalty: float = 1.1

    def bounded(self) -> "SamplingSettings":
        return SamplingSettings(
            max_new_tokens=max(1, min(int(self.max_new_tokens), MAX_NEW_TOKENS)),
            temperature=max(0.0, min(float(self.temperature), 5.0)),
            top_k=max(1, int(self.top_k)) if self.top_k else None,
            top_p=min(max(float(self.top_p), 0.01), 1.0) if self.top_p else None,
            repetition_penalty=max(1.0, min(float(self.repetition_penalty), 3.0)),
        )


def prompt_ids(model, tokenizer, prompt: str, *, room: int):
    """Token ids of the prompt as a (1, n) tensor, keeping the last tokens when it is too long.

    An empty prompt starts from the end-of-text token, as GPT-2 does for unconditional text.
    """
    import torch

    ids = tokenizer(prompt[-MAX_PROMPT_CHARS:], add_special_tokens=False)["input_ids"] if prompt else []
    limit = max(1, model.config.n_positions - room)
    ids = ids[-limit:] or [tokenizer.eos_token_id]
    return torch.tensor([ids], dtype=torch.long, device=model.device)


def sample_text(model, tokenizer, prompt: str, settings: SamplingSettings, *, seed: int,
                stop_ids: list[int] | None = None, deadline: float | None = None) -> str:
    """The continuation only (the prompt is not repeated); same seed and settings, same text.
    Generation ends at the end-of-text token, or at any of `stop_ids` (a chat's <|end|>), or
    at `deadline` (a time.time() value: whoever asked stops waiting then), whichever comes first."""
    import time

    import torch
    from transformers import GenerationConfig

    from .tokenization import byte_fallback_ids

    settings = settings.bounded()
    # Prompt and continuation must fit the model's context (a tiny model may have 64 positions).
    new_tokens = min(settings.max_new_tokens, model.config.n_positions - 1)
    input_ids = prompt_ids(model, tokenizer, prompt, room=new_tokens)
    sampling = settings.temperature > 0
    generation = GenerationConfig(
        max_new_tokens=new_tokens,
        do_sample=sampling,
        temperature=settings.temperature if sampling else None,
        top_k=settings.top_k if sampling else None,
        top_p=settings.top_p if sampling else None,
        repetition_penalty=settings.repetition_penalty,
        pad_token_id=tokenizer.eos_token_id,
        eos_token_id=[tokenizer.eos_token_id, *stop_ids] if stop_ids else tokenizer.eos_token_id,
        # A vocabulary with byte fallback never samples a lone byte: every other token is made
        # of characters of the training text, so no broken or foreign character is written.
        suppress_tokens=byte_fallback_ids(tokenizer) or None,
        # transformers' MaxTimeCriteria: checked after each token, so one token always comes.
        max_time=max(0.0, deadline - time.time()) if deadline is not None else None,
    )
    was_training = model.training
    model.eval()
    devices = [model.device] if model.device.type == "cuda" else []
    # fork_rng: sampling must not move the training RNG, or resumed runs would diverge.
    with torch.random.fork_rng(devices=devices), torch.no_grad():
        torch.manual_seed(seed)
        output = model.generate(input_ids, attention_mask=torch.ones_like(input_ids),
                                generation_config=generation)
    if was_training:
        model.train()
    return readable(tokenizer.decode(output[0, input_ids.shape[1]:], skip_special_tokens=True))


def readable(text: str) -> str:
    """Drop what a student would read as breakage: a small byte-level model often emits half of
    a multi-byte character (decoded as U+FFFD) or a stray control byte such as DEL."""
    return "".join(ch for ch in text if ch != "\ufffd" and (ch.isprintable() or ch.isspace()))
