"""The training loop: a hand-written torch loop (not transformers.Trainer) so that bf16
autocast, the thread count, progress reports and cancellation are under our control."""
import hashlib
import math
import os
import shutil
import time
import warnings
from contextlib import nullcontext
from dataclasses import asdict

from . import checkpoints as ckpt
from .bases import load_pretrained, resolve_pretrained, run_export_dir, scratch_config
from .config import CorpusLimits, Progress, TrainConfig, TrainResult
from .chat import chat_token_ids, chat_tokenizer, end_token_id, prompt_messages, render, resize_for_chat
from .corpus import Corpus, read_corpus, text_figures
from .data import eval_block_count, make_blocks, make_instruction_blocks
from .errors import EngineError, OutOfMemory, TrainingCancelled
from .export import CARD_LANGUAGES, export_model, model_card
from .instructions import read_instructions
from .fastloss import causal_lm_loss, use_fused_gelu
from .prompts import held_out_prompts
from .presets import default_learning_rate as preset_learning_rate
from .runtime import choose_num_threads, pick_device, reuse_freed_memory, use_bf16
from .sampling import SamplingSettings, sample_text
from .tokenization import chars_per_token, load_tokenizer, tokenizer_summary, train_bpe_tokenizer

SAMPLE_SEED = 1234
LORA_TARGETS = ["c_attn", "c_proj", "c_fc"]
# Settings that change what is learned: a checkpoint made with other values is not resumed.
NOT_IN_FINGERPRINT = {"output_dir", "progress_every_seconds", "num_threads", "checkpoint_every_seconds",
                      "checkpoint_every_steps", "offline", "cache_dir", "max_bytes", "card_language",
                      "corpus_limits"}


def default_learning_rate(config: TrainConfig) -> float:
    """The presets' rate for this kind of base (one table: presets.default_learning_rate)."""
    return preset_learning_rate(config.base_kind, config.base_source, config.lora)


def train(config: TrainConfig, on_progress=None, *, clock=time.monotonic) -> TrainResult:
    """Train as configured; resumes from output_dir/checkpoints when a matching one exists.

    `clock` gives the seconds behind speed, ETA, progress and checkpoint intervals; tests pass
    a clock of their own so that what they see never depends on how fast the machine is."""
    import torch

    validate(config)
    os.makedirs(config.output_dir, exist_ok=True)
    previous_threads = torch.get_num_threads()
    torch.set_num_threads(choose_num_threads(config.num_threads))
    try:
        with reuse_freed_memory():
            return _Run(config, on_progress, clock).execute()
    except torch.OutOfMemoryError:
        raise OutOfMemory("Out of memory: try a smaller batch size or block size.") from None
    except MemoryError:
        raise OutOfMemory("Out of memory: try a smaller batch size or block size.") from None
    finally:
        torch.set_num_threads(previous_threads)


def validate(config: TrainConfig) -> None:
    problems = []
    if config.task not in ("text", "instruction"):
        problems.append("task must be text or instruction")
    if config.base_kind not in ("scratch", "pretrained", "run"):
        problems.append("base_kind must be scratch, pretrained or run")
    if not 8 <= config.block_size <= 1024:
        problems.append("block_size must be between 8 and 1024")
    if config.batch_size < 1 or config.grad_accum < 1:
        problems.append("batch_size and grad_accum must be at least 1")
    if config.max_steps is None and not config.epochs > 0:
        problems.append("epochs must be positive (or set max_steps)")
    if config.max_steps is not None and config.max_steps < 1:
        problems.append("max_steps must be at least 1")
    if config.early_stopping_patience is not None and config.early_stopping_patience < 1:
        problems.append("early_stopping_patience must be at least 1")
    if config.max_train_seconds is not None and not config.max_train_seconds > 0:
        problems.append("max_train_seconds must be positive")
    if config.learning_rate is not None and not 0 < config.learning_rate < 1:
        problems.append("learning_rate must be between 0 and 1")
    if not 0 < config.val_fraction <= 0.5:
        problems.append("val_fraction must be in (0, 0.5]")
    if config.card_language not in CARD_LANGUAGES:
        problems.append("card_language must be en, ja or both")
    if config.lora and config.base_kind == "scratch":
        problems.append("LoRA adapts a trained model: choose a pretrained base or a previous run")
    if problems:
        raise EngineError("Invalid training settings: " + "; ".join(problems) + ".",
                          code="invalid_config", params={"problems": problems})


def fingerprint(config: TrainConfig) -> str:
    values = {k: v for k, v in asdict(config).items() if k not in NOT_IN_FINGERPRINT}
    digest = hashlib.sha256(repr(sorted(values.items())).encode())
    with open(config.data_path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()[:16]


class _Run:
    def __init__(self, config: TrainConfig, on_progress, clock=time.monotonic):
        self.config = config
        self.clock = clock
        self.on_progress = on_progress or (lambda progress: None)
        self.out = config.output_dir
        self.fingerprint = fingerprint(config)
        self.log_file = open(os.path.join(self.out, "train.log"), "a", encoding="utf-8")
        self.device = pick_device()
        self.bf16 = use_bf16(config.bf16, self.device)
        self.learning_rate = config.learning_rate or default_learning_rate(config)
        self.cancel_requested = False
        self.position = {}  # step and total_steps, for log events
        self.chat = config.task == "instruction"
        self.chat_ids = []  # the chat tokens' ids (instruction runs)

    # ---- set-up -------------------------------------------------------------------------
    def execute(self) -> TrainResult:
        import torch

        try:
            started = self.clock()
            torch.manual_seed(self.config.seed)
            if self.chat:
                conversations, _report = read_instructions(self.config.data_path, max_bytes=self.config.max_bytes)
                contents = [m["content"] for messages in conversations for m in messages]
                corpus = Corpus(documents=contents, pieces=contents, separate_documents=True,
                                bytes=os.path.getsize(self.config.data_path))
            else:
                corpus = read_corpus(self.config.data_path, max_bytes=self.config.max_bytes,
                                     limits=CorpusLimits(**(self.config.corpus_limits or {})))
            model, tokenizer, base_name = self.load_base(corpus)
            if self.chat:
                self.blocks = make_instruction_blocks(conversations, tokenizer, block_size=self.config.block_size,
                                                      val_fraction=self.config.val_fraction, seed=self.config.seed)
            else:
                self.blocks = make_blocks(corpus, tokenizer, block_size=self.config.block_size,
                                          val_fraction=self.config.val_fraction, seed=self.config.seed)
            count = eval_block_count(self.config.block_size, self.config.eval_max_blocks)
            self.eval_blocks = self.blocks.val[:count]
            self.eval_labels = self.blocks.val_labels[:count] if self.blocks.val_labels is not None else None
            # Characters of exactly the predicted tokens of the evaluated blocks (the first
            # token of a block is never predicted; an instruction run predicts only the
            # answers' tokens): the denominator of bits per character.
            predicted = (self.eval_labels if self.chat else self.eval_blocks)[:, 1:]
            predicted = predicted[predicted != -100]
            self.val_predicted = int(predicted.size)
            self.val_chars = int(chars_per_token(tokenizer)[predicted].sum())
            self.data = self.data_figures(corpus, tokenizer)
            self.prompts = self.sample_prompts(tokenizer)
            self.log("data", f"Data: {self.data['tokens']} tokens, {self.data['train_blocks']} training and "
                             f"{self.data['val_blocks']} validation blocks of {self.config.block_size}.",
                     tokens=self.data["tokens"], train_blocks=self.data["train_blocks"],
                     val_blocks=self.data["val_blocks"], block_size=self.config.block_size)
            model.loss_type = "ForCausalLM"  # GPT-2's loss; saying so avoids a warning on every run
            use_fused_gelu(model)
            model.to(self.device)
            baseline = self.evaluate_base(model, tokenizer)
            model = self.wrap_lora(model)
            result = self.fit(model, tokenizer, baseline, base_name, started)
            return result
        finally:
            self.log_file.close()

    def load_base(self, corpus):
        config = self.config
        if config.base_kind == "scratch":
            tokenizer_dir = os.path.join(self.out, "tokenizer")
            marker = os.path.join(self.out, "tokenizer.fingerprint")
            # A resumed attempt must reuse the same vocabulary; other settings or data get a new one.
            if not (os.path.isfile(os.path.join(tokenizer_dir, "tokenizer.json")) and os.path.isfile(marker)
                    and open(marker, encoding="ascii").read() == self.fingerprint):
                n_positions = scratch_config(config.base_source, vocab_size=1, block_size=config.block_size,
                                             eos_token_id=0).n_positions
                train_bpe_tokenizer(corpus.documents, tokenizer_dir, vocab_size=config.vocab_size,
                                    model_max_length=n_positions)
                with open(marker, "w", encoding="ascii") as f:
                    f.write(self.fingerprint)
            tokenizer = load_tokenizer(tokenizer_dir)
            if self.chat:  # the chat tokens are part of the vocabulary the model is built with
                tokenizer = chat_tokenizer(tokenizer)
                self.chat_ids = chat_token_ids(tokenizer)
            from transformers import GPT2LMHeadModel

            model_config = scratch_config(config.base_source, vocab_size=len(tokenizer),
                                          block_size=config.block_size, eos_token_id=tokenizer.eos_token_id)
            model = GPT2LMHeadModel(model_config)
            self.log("base_scratch", f"From scratch: GPT-2 preset {config.base_source}, vocabulary of "
                                     f"{len(tokenizer)} trained on your text, {model.num_parameters():,} parameters.",
                     model_preset=config.base_source, vocab_size=len(tokenizer), parameters=model.num_parameters())
            return model, tokenizer, config.base_source
        if config.base_kind == "run":
            directory = run_export_dir(config.base_source)
        else:
            directory = resolve_pretrained(config.base_source, cache_dir=config.cache_dir, offline=config.offline)
        model, tokenizer = load_pretrained(directory, config.base_source)
        if self.chat:
            tokenizer = chat_tokenizer(tokenizer)
            self.chat_ids = chat_token_ids(tokenizer)
            added = resize_for_chat(model, tokenizer)
            if added:
                self.log("chat_tokens", f"Added {added} chat tokens to the vocabulary of {config.base_source}.",
                         count=added)
        if config.block_size > model.config.n_positions:
            raise EngineError(f"block_size {config.block_size} exceeds the model's context of "
                              f"{model.config.n_positions} tokens.", code="invalid_config",
                              params={"block_size": config.block_size, "n_positions": model.config.n_positions})
        self.log("base_pretrained", f"Base model {config.base_source}: {model.num_parameters():,} parameters.",
                 base=config.base_source, parameters=model.num_parameters())
        return model, tokenizer, config.base_source

    def data_figures(self, corpus, tokenizer) -> dict:
        figures = text_figures(corpus.documents)
        figures.update(self.blocks.examples or {})
        figures.update(bytes=corpus.bytes, tokens=self.blocks.tokens,
                       tokens_per_char=round(self.blocks.tokens / max(1, figures["chars"]), 4),
                       train_blocks=len(self.blocks.train), val_blocks=len(self.blocks.val),
                       block_size=self.config.block_size, vocab_size=len(tokenizer),
                       val_tokens=int(self.eval_blocks.size), val_chars=self.val_chars)
        if self.config.base_kind == "scratch":
            figures["tokenizer"] = tokenizer_summary(tokenizer, tokens=self.blocks.tokens, chars=figures["chars"])
        return figures

    def sample_prompts(self, tokenizer) -> list[str]:
        """The beginnings of a few held-out lines, then the student's own prompts. An
        instruction run: a few held-out questions (rendered with the chat template, the
        expected answers kept in self.references), then the student's prompts as questions."""
        if self.chat:
            import random

            held = list(self.blocks.val_conversations or [])
            chosen = sorted(random.Random(self.config.seed).sample(range(len(held)),
                                                                   min(self.config.text_prompts, len(held))))
            questions = [prompt_messages(held[i]) for i in chosen]
            questions += [([{"role": "user", "content": p}], None) for p in self.config.sample_prompts if p]
            self.questions = [{"messages": messages, "reference": reference} for messages, reference in questions]
            return [render(messages, add_generation_prompt=True) for messages, _ in questions]
        texts = [tokenizer.decode(block, skip_special_tokens=True) for block in self.eval_blocks]
        prompts = held_out_prompts(texts, count=self.config.text_prompts, seed=self.config.seed)
        own = [p for p in self.config.sample_prompts if p and p not in prompts]
        return (prompts + own) or [""]

    def bpc(self, loss: float) -> float:
        """Bits per character: the validation loss summed over its tokens, in bits, per character."""
        return round(loss * self.val_predicted / math.log(2) / max(1, self.val_chars), 4)

    def wrap_lora(self, model):
        if not self.config.lora:
            return model
        from peft import LoraConfig, get_peft_model

        # An instruction run also trains the chat tokens' embedding rows (new in a pretrained
        # base: the adapters alone cannot give them a meaning); merged into the export.
        extra = {"trainable_token_indices": {"wte": self.chat_ids}} if self.chat and self.chat_ids else {}
        lora = LoraConfig(r=self.config.lora_r, lora_alpha=self.config.lora_alpha, lora_dropout=0.05,
                          target_modules=LORA_TARGETS, fan_in_fan_out=True, task_type="CAUSAL_LM", **extra)
        with warnings.catch_warnings():  # peft still asks for a deprecated transformers attribute
            warnings.filterwarnings("ignore", message=".*is_gradient_checkpointing.*", category=FutureWarning)
            model = get_peft_model(model, lora)
        trainable = sum(p.numel() for p in model.parameters() if p.requires_grad)
        self.log("lora", f"LoRA r={self.config.lora_r}: training {trainable:,} adapter parameters.",
                 r=self.config.lora_r, parameters=trainable)
        return model

    def evaluate_base(self, model, tokenizer) -> dict:
        """Loss and samples of the untouched base; kept on disk so a resumed attempt reuses them."""
        path = os.path.join(self.out, "base_eval.json")
        if os.path.isfile(path):
            saved = ckpt.read_json(path)
            if saved.get("fingerprint") == self.fingerprint:
                return saved
        loss = self.val_loss(model)
        samples = self.samples(model, tokenizer)
        baseline = {"fingerprint": self.fingerprint, "val_loss": loss, "val_bpc": self.bpc(loss),
                    "prompts": self.prompts, "samples": samples}
        ckpt.write_json_atomic(path, baseline)
        self.log("base_eval", f"Base model: validation loss {loss:.4f}, perplexity {perplexity(loss):.1f}, "
                              f"{baseline['val_bpc']:.3f} bits per character.",
                 val_loss=loss, perplexity=perplexity(loss), val_bpc=baseline["val_bpc"])
        return baseline

    # ---- pieces of the loop --------------------------------------------------------------
    def autocast(self):
        import torch

        if not self.bf16:
            return nullcontext()
        return torch.autocast(self.device, dtype=torch.bfloat16)

    def loss(self, model, batch, labels=None):
        """model(input_ids=batch, labels=labels or batch).loss, computed without float32 full logits."""
        import torch

        return causal_lm_loss(model, batch, labels=labels, low_precision=torch.bfloat16 if self.bf16 else None)

    def val_loss(self, model) -> float:
        """The mean loss over the predicted tokens of the evaluated blocks (an instruction run:
        over the answers' tokens only)."""
        import torch

        blocks, size = self.eval_blocks, self.config.batch_size
        was_training = model.training
        model.eval()
        total, count = 0.0, 0
        with torch.no_grad(), self.autocast():
            for start in range(0, len(blocks), size):
                batch = torch.from_numpy(blocks[start:start + size]).to(self.device)
                if self.eval_labels is None:
                    labels, predicted = None, batch[:, 1:].numel()
                else:
                    labels = torch.from_numpy(self.eval_labels[start:start + size]).to(self.device)
                    predicted = int((labels[:, 1:] != -100).sum())
                if predicted:
                    total += self.loss(model, batch, labels).item() * predicted
                    count += predicted
        if was_training:
            model.train()
        return total / count

    def samples(self, model, tokenizer) -> list[str]:
        settings = SamplingSettings(max_new_tokens=self.config.sample_max_new_tokens)
        stop = [end_token_id(tokenizer)] if self.chat else None
        return [sample_text(model, tokenizer, prompt, settings, seed=SAMPLE_SEED, stop_ids=stop)
                for prompt in self.prompts]

    def make_optimizer(self, model, total_steps: int):
        import torch
        from transformers import get_cosine_schedule_with_warmup

        decay, no_decay = [], []
        for name, p in model.named_parameters():
            if p.requires_grad:
                # Biases and LayerNorm gains are not weight-decayed (as in GPT-2 training).
                (decay if p.dim() >= 2 else no_decay).append(p)
        groups = [{"params": decay, "weight_decay": self.config.weight_decay},
                  {"params": no_decay, "weight_decay": 0.0}]
        try:
            optimizer = torch.optim.AdamW(groups, lr=self.learning_rate, betas=(0.9, 0.95), fused=True)
        except (RuntimeError, TypeError):
            optimizer = torch.optim.AdamW(groups, lr=self.learning_rate, betas=(0.9, 0.95))
        warmup = int(round(self.config.warmup_ratio * total_steps))
        scheduler = get_cosine_schedule_with_warmup(optimizer, warmup, total_steps)
        return optimizer, scheduler

    def batch_order(self):
        """Micro-batch index -> block indices; a fixed function of (seed, epoch), so resuming
        at step N sees exactly the batches the uninterrupted run would have seen."""
        import torch

        count, size = len(self.blocks.train), self.config.batch_size
        per_epoch = math.ceil(count / size)
        cache = {}

        def indices(micro: int):
            epoch, position = divmod(micro, per_epoch)
            if epoch not in cache:
                generator = torch.Generator().manual_seed(self.config.seed * 7919 + epoch)
                cache.clear()
                cache[epoch] = torch.randperm(count, generator=generator).numpy()
            return cache[epoch][position * size:(position + 1) * size]

        return indices, per_epoch

    # ---- the loop ------------------------------------------------------------------------
    def fit(self, model, tokenizer, baseline, base_name, started) -> TrainResult:
        import torch

        config = self.config
        indices, per_epoch = self.batch_order()
        # An epoch is ceil(training blocks / (batch x accumulation)) optimizer steps, as the presets
        # and lesson 5 count it.
        steps_per_epoch = math.ceil(len(self.blocks.train) / (config.batch_size * config.grad_accum))
        total_steps = config.max_steps or max(1, math.ceil(config.epochs * steps_per_epoch))
        eval_every = config.eval_every_steps or max(1, total_steps // 10)
        optimizer, scheduler = self.make_optimizer(model, total_steps)
        state = {"step": 0, "tokens_seen": 0, "seconds": 0.0, "history": [], "best_val_loss": None,
                 "best_step": 0, "overfitting": False, "best_train_loss": None, "fingerprint": self.fingerprint,
                 "evals_since_best": 0, "stop_reason": "max_steps" if config.max_steps else "epochs"}
        state = self.resume(model, optimizer, scheduler, state)
        state.setdefault("stop_reason", "max_steps" if config.max_steps else "epochs")  # older checkpoints
        self.position = {"step": state["step"], "total_steps": total_steps}
        tokens_per_step = config.batch_size * config.grad_accum * config.block_size
        threads = torch.get_num_threads()
        self.report(Progress("start", step=state["step"], total_steps=total_steps,
                             learning_rate=scheduler.get_last_lr()[0],
                             code="start_bf16" if self.bf16 else "start",
                             params={"total_steps": total_steps, "device": self.device, "threads": threads},
                             message=f"Training for {total_steps} steps on {self.device}"
                                     f"{' with bf16 autocast' if self.bf16 else ''}, {threads} thread{'' if threads == 1 else 's'}."))
        if config.early_stopping_patience:
            self.log("patience", f"Early stopping after {config.early_stopping_patience} evaluations "
                                 "without improvement.", patience=config.early_stopping_patience)
        self.stop_if_cancelled(state["step"])
        model.train()
        # The clock is read once before the loop and once per step, so a test's clock that moves
        # a fixed amount per reading makes every step last exactly as long.
        loop_started = last_checkpoint = self.clock()
        window = _Window(loop_started)
        seconds_before, step_before = state["seconds"], state["step"]
        while state["step"] < total_steps:
            window.add(self.one_step(model, optimizer, scheduler, indices, state["step"]), tokens_per_step)
            state["step"] += 1
            state["tokens_seen"] += tokens_per_step
            step, now, lr = state["step"], self.clock(), scheduler.get_last_lr()[0]
            state["seconds"] = seconds_before + now - loop_started
            self.position = {"step": step, "total_steps": total_steps}
            # The ETA uses the average pace of this attempt, not the last window (a single step
            # can be quick or slow for reasons that say nothing about the rest of the run).
            seconds_per_step = (now - loop_started) / (step - step_before)
            eta = (total_steps - step) * seconds_per_step
            if config.max_train_seconds:  # a busy machine: the time guard ends the loop before its steps do
                eta = min(eta, max(0.0, config.max_train_seconds - state["seconds"]))
            progress = dict(step=step, total_steps=total_steps, epoch=round(step * config.grad_accum / per_epoch, 3),
                            learning_rate=lr, tokens_per_second=round(window.speed(now), 1),
                            eta_seconds=round(eta, 1))
            time_up = bool(config.max_train_seconds) and state["seconds"] >= config.max_train_seconds
            if step % eval_every == 0 or step == total_steps or time_up:
                val = self.val_loss(model)
                self.record_eval(model, state, step, window.loss(), val, lr)
                self.report(Progress("eval", train_loss=window.loss(), val_loss=val, val_bpc=self.bpc(val),
                                     overfitting=state["overfitting"], **progress, code="eval",
                                     params={"step": step, "total_steps": total_steps, "train_loss": window.loss(),
                                             "val_loss": val, "val_bpc": self.bpc(val)},
                                     message=f"Step {step}/{total_steps}: training loss {window.loss():.4f}, "
                                             f"validation loss {val:.4f} ({self.bpc(val):.3f} bits per character)."))
                window = _Window(now)
                if self.patience_exhausted(state) or self.time_exhausted(state, time_up):
                    break
            elif now - window.started >= config.progress_every_seconds:
                state["history"].append({"step": step, "train_loss": window.loss(), "val_loss": None, "lr": lr})
                self.report(Progress("step", train_loss=window.loss(), overfitting=state["overfitting"], **progress))
                window = _Window(now)
            due = (config.checkpoint_every_steps and step % config.checkpoint_every_steps == 0) or \
                now - last_checkpoint >= config.checkpoint_every_seconds
            if (due or self.cancel_requested) and step < total_steps:
                ckpt.save_checkpoint(os.path.join(self.out, "checkpoints"), model=model, optimizer=optimizer,
                                     scheduler=scheduler, state=state)
                last_checkpoint = now
                self.report(Progress("checkpoint", overfitting=state["overfitting"], **progress,
                                     code="checkpoint", params={"step": step},
                                     message=f"Checkpoint saved at step {step}."))
            self.stop_if_cancelled(step)
        if state["stop_reason"] not in ("early_stopping", "time_limit"):
            if config.max_steps:
                self.log("stopped_max_steps", f"Stopped at step {state['step']}: the maximum number of steps "
                                              "reached.", step=state["step"])
            else:
                self.log("stopped_epochs", f"Stopped at step {state['step']} after {config.epochs:g} epochs.",
                         step=state["step"], epochs=config.epochs)
        return self.finish(model, tokenizer, baseline, base_name, state, started)

    def stop_if_cancelled(self, step: int) -> None:
        if self.cancel_requested:
            self.write_log(f"Cancelled at step {step}.")
            raise TrainingCancelled(f"Training was cancelled at step {step}.", params={"step": step})

    def one_step(self, model, optimizer, scheduler, indices, step: int) -> float:
        import torch

        accum = self.config.grad_accum
        total = 0.0
        for k in range(accum):
            rows = indices(step * accum + k)
            batch = torch.from_numpy(self.blocks.train[rows]).to(self.device)
            labels = None if self.blocks.train_labels is None else \
                torch.from_numpy(self.blocks.train_labels[rows]).to(self.device)
            with self.autocast():
                loss = self.loss(model, batch, labels)
            (loss / accum).backward()
            total += loss.detach().float().item()
        if not math.isfinite(total):
            raise EngineError("The loss became NaN or infinite: try a lower learning rate.",
                              code="diverged", params={"step": step})
        torch.nn.utils.clip_grad_norm_([p for p in model.parameters() if p.requires_grad],
                                       self.config.max_grad_norm)
        optimizer.step()
        scheduler.step()
        optimizer.zero_grad(set_to_none=True)
        return total / accum

    def time_exhausted(self, state, time_up: bool) -> bool:
        """The time guard: a run planned from a speed the machine no longer reaches (a busy
        worker, more threads than free cores) still ends near its budget, on the best weights."""
        if not time_up:
            return False
        state["stop_reason"] = "time_limit"
        self.log("stopped_time_limit", f"Stopped at step {state['step']}: the training time limit of "
                                       f"{self.config.max_train_seconds:g} s was reached (the machine was slower "
                                       f"than measured); the best model so far (step {state['best_step']}) is kept.",
                 step=state["step"], seconds=self.config.max_train_seconds, best_step=state["best_step"])
        return True

    def patience_exhausted(self, state) -> bool:
        """Early stopping: validation loss has not improved for `early_stopping_patience` evaluations."""
        patience = self.config.early_stopping_patience
        if not patience or state.get("evals_since_best", 0) < patience:
            return False
        state["stop_reason"] = "early_stopping"
        self.log("early_stop", f"Early stop at step {state['step']}: validation loss has not improved for "
                               f"{patience} evaluations (best {state['best_val_loss']:.4f} at step "
                               f"{state['best_step']}); the model from that step is kept.",
                 step=state["step"], patience=patience, best_val_loss=state["best_val_loss"],
                 best_step=state["best_step"])
        return True

    def record_eval(self, model, state, step, train_loss, val, lr) -> None:
        state["history"].append({"step": step, "train_loss": train_loss, "val_loss": val, "val_bpc": self.bpc(val),
                                 "lr": lr})
        best = state["best_val_loss"]
        state["evals_since_best"] = state.get("evals_since_best", 0) + 1
        if best is None or val < best:
            state.update(best_val_loss=val, best_step=step, best_train_loss=train_loss, evals_since_best=0)
            ckpt.save_best(os.path.join(self.out, "best"), model=model,
                           state={"step": step, "val_loss": val})
        elif (val > best + max(0.01, 0.02 * best) and state["best_train_loss"] is not None
              and train_loss < state["best_train_loss"] and not state["overfitting"]):
            state["overfitting"] = True
            self.log("overfitting", f"Warning at step {step}: validation loss is rising ({best:.4f} -> {val:.4f}) "
                                    "while training loss falls: the model starts to memorise the text (overfitting).",
                     step=step, best_val_loss=best, val_loss=val)

    def resume(self, model, optimizer, scheduler, state) -> dict:
        path = ckpt.latest_checkpoint(os.path.join(self.out, "checkpoints"))
        if not path:
            return state
        saved = ckpt.read_json(os.path.join(path, ckpt.STATE))
        if saved.get("fingerprint") != self.fingerprint:
            self.log("checkpoint_ignored", "A checkpoint from different settings or data was found and ignored.")
            return state
        saved = ckpt.load_checkpoint(path, model=model, optimizer=optimizer, scheduler=scheduler)
        self.log("resumed", f"Resumed from the checkpoint at step {saved['step']}.", step=saved["step"])
        return saved

    # ---- the end -------------------------------------------------------------------------
    def finish(self, model, tokenizer, baseline, base_name, state, started) -> TrainResult:
        # The steps are over; samples and the export still take a while: say so, so that a
        # progress page does not show a stale "time left" meanwhile.
        self.report(Progress("finishing", step=state["step"], total_steps=state["step"], eta_seconds=0.0,
                             overfitting=state["overfitting"], code="finishing", params={},
                             message="Training steps done; writing samples and saving the model."))
        best = ckpt.best_weights(os.path.join(self.out, "best"))
        if best:  # export the weights with the lowest validation loss
            ckpt.load_trainable_state(model, best)
        if self.config.lora:
            model = model.merge_and_unload()
        final_loss = state["best_val_loss"]
        samples = self.samples(model, tokenizer)
        sample_rows = [{"prompt": p, "base": b, "tuned": t}
                       for p, b, t in zip(self.prompts, baseline["samples"], samples)]
        if self.chat:  # the question as a student reads it, and the held-out answer to compare with
            for row, question in zip(sample_rows, self.questions):
                row.update(prompt=question["messages"][-1]["content"], messages=question["messages"],
                           reference=question["reference"])
        hyperparameters = self.hyperparameters()
        base_bpc = baseline.get("val_bpc", self.bpc(baseline["val_loss"]))
        metrics = {"base_val_loss": baseline["val_loss"], "base_perplexity": perplexity(baseline["val_loss"]),
                   "base_val_bpc": base_bpc, "val_loss": final_loss, "perplexity": perplexity(final_loss),
                   "val_bpc": self.bpc(final_loss),
                   "exported_step": state["best_step"], "steps": state["step"]}
        card = model_card(base=base_name, base_kind=self.config.base_kind, data=self.data,
                          hyperparameters=hyperparameters, metrics=metrics, samples=sample_rows,
                          language=self.config.card_language, chat=self.chat)
        export_dir = export_model(model, tokenizer, os.path.join(self.out, "export"), card=card)
        # The export is complete: optimizer state (3x the weights) is no longer needed on disk.
        shutil.rmtree(os.path.join(self.out, "checkpoints"), ignore_errors=True)
        result = TrainResult(
            model_dir=export_dir, steps=state["step"], tokens_seen=state["tokens_seen"],
            seconds=round(self.clock() - started, 2),
            base_val_loss=baseline["val_loss"], base_perplexity=perplexity(baseline["val_loss"]),
            final_val_loss=final_loss, final_perplexity=perplexity(final_loss),
            best_val_loss=state["best_val_loss"], best_step=state["best_step"],
            overfitting=state["overfitting"], history=state["history"], samples=sample_rows,
            data=self.data, hyperparameters=hyperparameters, base_val_bpc=base_bpc, val_bpc=self.bpc(final_loss),
            stop_reason=state.get("stop_reason", "max_steps"), train_seconds=round(state["seconds"], 2),
        )
        self.report(Progress("done", step=state["step"], total_steps=state["step"], val_loss=final_loss,
                             overfitting=state["overfitting"], eta_seconds=0.0,
                             val_bpc=self.bpc(final_loss), code="done",
                             params={"base_val_loss": baseline["val_loss"], "val_loss": final_loss,
                                     "base_val_bpc": base_bpc, "val_bpc": self.bpc(final_loss)},
                             message=f"Done: validation loss {baseline['val_loss']:.4f} -> {final_loss:.4f}, "
                                     f"{base_bpc:.3f} -> {self.bpc(final_loss):.3f} bits per character."))
        return result

    def hyperparameters(self) -> dict:
        values = asdict(self.config)
        for key in ("data_path", "output_dir", "cache_dir", "offline", "max_bytes", "sample_prompts",
                    "progress_every_seconds", "checkpoint_every_seconds", "checkpoint_every_steps",
                    "card_language"):
            values.pop(key, None)
        import torch

        values.update(learning_rate=self.learning_rate, bf16=self.bf16, device=self.device,
                      threads=torch.get_num_threads())
        return values

    # ---- reporting -----------------------------------------------------------------------
    def report(self, progress: Progress) -> bool:
        """Hand progress to the caller; a True answer asks to stop (honoured after the current step)."""
        if progress.message:
            self.write_log(progress.message)
        if self.on_progress(progress):
            self.cancel_requested = True
        return self.cancel_requested

    def log(self, code: str, message: str, **params) -> None:
        """A line for train.log, also passed on as a "log" event: `code` and `params` (plain
        numbers, formatted by whoever shows them) say it in any language, `message` in English."""
        self.report(Progress("log", step=self.position.get("step", 0),
                             total_steps=self.position.get("total_steps", 0), message=message,
                             code=code, params=params))

    def write_log(self, message: str) -> None:
        self.log_file.write(f"{time.strftime('%Y-%m-%d %H:%M:%S')} {message}\n")
        self.log_file.flush()


def perplexity(loss: float) -> float:
    return round(math.exp(min(loss, 30.0)), 4)


class _Window:
    """Training loss and speed since the last report."""

    def __init__(self, started: float):
        self.started = started
        self.total = 0.0
        self.steps = 0
        self.tokens = 0

    def add(self, loss: float, tokens: int) -> None:
        self.total += loss
        self.steps += 1
        self.tokens += tokens

    def loss(self) -> float:
        return self.total / max(1, self.steps)

    def speed(self, now: float) -> float:
        return self.tokens / max(now - self.started, 1e-6)
