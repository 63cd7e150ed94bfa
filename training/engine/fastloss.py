"""GPT-2's language-model loss without the full logits tensor in float32.

The standard path builds (tokens x 50257) logits, copies them to float32 for the loss, and
walks them again for the backward pass: on a CPU with GPT-2's vocabulary that memory traffic
costs as much as a third of the matmuls. Here the head and cross-entropy run in chunks of
tokens, and the gradients are computed right away in the forward pass (the loss is the last
operation, so nothing else is needed), the way fused "linear cross-entropy" kernels do.
The result equals `model(input_ids, labels=input_ids).loss` and its gradients.
"""
import torch

CHUNK_TOKENS = 256
IGNORE_INDEX = -100
TANH_GELUS = ("gelu_new", "gelu_fast", "gelu_pytorch_tanh")


class FusedTanhGELU(torch.nn.Module):
    """GPT-2's activation (tanh approximation of GELU) as one kernel instead of eight operations."""

    def forward(self, x):
        return torch.nn.functional.gelu(x, approximate="tanh")


def use_fused_gelu(model) -> int:
    """Swap GPT-2's Python-level GELU for the fused kernel (same function; weights and config untouched)."""
    base = model.get_base_model() if hasattr(model, "get_base_model") else model
    if getattr(base.config, "activation_function", None) not in TANH_GELUS:
        return 0
    swapped = 0
    for block in base.transformer.h:
        block.mlp.act = FusedTanhGELU()
        swapped += 1
    return swapped


def causal_lm_loss(model, input_ids: torch.Tensor, *, labels: torch.Tensor | None = None,
                   low_precision: torch.dtype | None = None) -> torch.Tensor:
    """Mean next-token cross-entropy of a GPT-2 (plain or wrapped by peft) on `input_ids`.

    `labels` (same shape, -100 where nothing is to be learned, as in transformers): the mean
    over the predicted labels only; the head and the loss are computed for those positions
    alone, so a masked position contributes nothing, not even to the normalisation."""
    base = model.get_base_model() if hasattr(model, "get_base_model") else model
    # use_cache=False: otherwise GPT-2 builds a key/value cache during training, for nothing.
    hidden = base.transformer(input_ids=input_ids, use_cache=False).last_hidden_state[:, :-1]
    hidden = hidden.reshape(-1, hidden.shape[-1])
    targets = (input_ids if labels is None else labels)[:, 1:].reshape(-1)
    if labels is not None:
        keep = targets != IGNORE_INDEX
        hidden, targets = hidden[keep], targets[keep]
        if targets.numel() == 0:
            return hidden.sum() * 0.0
    head = base.lm_head
    if not isinstance(head, torch.nn.Linear):
        # peft's trainable-token wrapper (LoRA on an instruction run trains the chat tokens'
        # rows): its forward adds the trained rows, which the bare weight would miss.
        logits = head(hidden.unsqueeze(0)).squeeze(0)
        return torch.nn.functional.cross_entropy(logits.float(), targets)
    weight = head.weight
    dtype = low_precision or weight.dtype
    if torch.is_grad_enabled() and (hidden.requires_grad or weight.requires_grad):
        return _LinearCrossEntropy.apply(hidden, weight, targets, dtype)
    with torch.no_grad():
        return _forward(hidden, weight, targets, dtype, keep_gradient=False)[0]


def _forward(hidden, weight, targets, dtype, *, keep_gradient: bool):
    """Loss, and (when asked) d loss / d logits for all tokens in `dtype`, chunk by chunk."""
    count = hidden.shape[0]
    h, w = hidden.to(dtype), weight.to(dtype)
    total = torch.zeros((), dtype=torch.float32, device=hidden.device)
    grad_logits = torch.empty(count, w.shape[0], dtype=dtype, device=hidden.device) if keep_gradient else None
    with torch.autocast(hidden.device.type, enabled=False):
        for start in range(0, count, CHUNK_TOKENS):
            end = min(start + CHUNK_TOKENS, count)
            logits = (h[start:end] @ w.T).float()
            chunk_targets = targets[start:end]
            log_norm = torch.logsumexp(logits, dim=-1)
            total += (log_norm - logits.gather(1, chunk_targets[:, None]).squeeze(1)).sum()
            if keep_gradient:
                probabilities = logits.sub_(log_norm[:, None]).exp_()  # softmax, in place
                probabilities[torch.arange(end - start, device=logits.device), chunk_targets] -= 1.0
                grad_logits[start:end] = probabilities.mul_(1.0 / count)
    return total / count, grad_logits, h, w


class _LinearCrossEntropy(torch.autograd.Function):
    @staticmethod
    def forward(ctx, hidden, weight, targets, dtype):
        loss, grad_logits, h, w = _forward(hidden, weight, targets, dtype, keep_gradient=True)
        with torch.autocast(hidden.device.type, enabled=False):
            grad_hidden = (grad_logits @ w).to(hidden.dtype) if ctx.needs_input_grad[0] else None
            grad_weight = (grad_logits.T @ h).to(weight.dtype) if ctx.needs_input_grad[1] else None
        ctx.grads = (grad_hidden, grad_weight)
        return loss

    @staticmethod
    def backward(ctx, grad_loss):
        grad_hidden, grad_weight = ctx.grads
        del ctx.grads
        scale = float(grad_loss)
        if scale != 1.0:
            grad_hidden = grad_hidden * scale if grad_hidden is not None else None
            grad_weight = grad_weight * scale if grad_weight is not None else None
        return grad_hidden, grad_weight, None, None
