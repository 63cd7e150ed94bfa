"""The chunked head + cross-entropy equals the model's own loss and gradients."""
import pytest
import torch
from transformers import GPT2Config, GPT2LMHeadModel

from training.engine import fastloss
from training.engine.fastloss import causal_lm_loss


@pytest.fixture
def model():
    torch.manual_seed(0)
    config = GPT2Config(n_embd=32, n_layer=2, n_head=2, vocab_size=300, n_positions=64,
                        resid_pdrop=0.0, embd_pdrop=0.0, attn_pdrop=0.0)
    model = GPT2LMHeadModel(config)
    model.loss_type = "ForCausalLM"
    return model


def gradients(model) -> dict:
    grads = {name: p.grad.clone() for name, p in model.named_parameters()}
    model.zero_grad(set_to_none=True)
    return grads


def test_loss_and_gradients_match_the_model(model, monkeypatch):
    monkeypatch.setattr(fastloss, "CHUNK_TOKENS", 7)  # several chunks, the last one partial
    batch = torch.randint(0, 300, (3, 20))
    expected = model(input_ids=batch, labels=batch).loss
    expected.backward()
    expected_grads = gradients(model)
    loss = causal_lm_loss(model, batch)
    (loss * 0.25).backward()  # as with gradient accumulation
    assert loss.item() == pytest.approx(expected.item(), rel=1e-6)
    for name, grad in gradients(model).items():
        torch.testing.assert_close(grad * 4, expected_grads[name], rtol=1e-4, atol=1e-6)
    with torch.no_grad():
        assert causal_lm_loss(model, batch).item() == pytest.approx(expected.item(), rel=1e-6)


def test_bf16_stays_close_to_float32(model):
    batch = torch.randint(0, 300, (2, 16))
    with torch.autocast("cpu", dtype=torch.bfloat16):
        low = causal_lm_loss(model, batch, low_precision=torch.bfloat16)
    assert low.dtype == torch.float32
    assert low.item() == pytest.approx(model(input_ids=batch, labels=batch).loss.item(), rel=2e-2)


def test_the_fused_gelu_computes_gpt2s_activation(model):
    batch = torch.randint(0, 300, (2, 16))
    with torch.no_grad():
        before = model(input_ids=batch).logits
        assert fastloss.use_fused_gelu(model) == 2
        after = model(input_ids=batch).logits
    assert isinstance(model.transformer.h[0].mlp.act, fastloss.FusedTanhGELU)
    torch.testing.assert_close(after, before, rtol=1e-4, atol=1e-5)
