"""LoRA through peft: adapters are trained, then merged into plain GPT-2 weights."""
import json
import os

from safetensors.torch import load_file

from training.engine import train


def test_lora_merges_into_the_exported_weights(make_config, tiny_base_dir):
    events = []
    result = train(make_config(base_kind="pretrained", base_source=tiny_base_dir, lora=True, lora_r=4,
                               max_steps=10, learning_rate=1e-2), events.append)
    assert any("LoRA r=4" in e.message for e in events)
    assert result.final_val_loss < result.base_val_loss
    names = set(os.listdir(result.model_dir))
    assert not {"adapter_config.json", "adapter_model.safetensors"} & names
    tuned, base = load_file(os.path.join(result.model_dir, "model.safetensors")), \
        load_file(os.path.join(tiny_base_dir, "model.safetensors"))
    assert set(tuned) == set(base)  # plain GPT-2 tensor names, no lora_A/lora_B
    assert not (tuned["transformer.h.0.attn.c_attn.weight"] == base["transformer.h.0.attn.c_attn.weight"]).all()
    # Only the adapted layers changed: embeddings and layer norms are as in the base.
    assert (tuned["transformer.wte.weight"] == base["transformer.wte.weight"]).all()
    assert (tuned["transformer.h.0.ln_1.weight"] == base["transformer.h.0.ln_1.weight"]).all()
    config = json.load(open(os.path.join(result.model_dir, "config.json")))
    assert config["model_type"] == "gpt2" and "peft" not in json.dumps(config)

    from transformers import AutoModelForCausalLM

    AutoModelForCausalLM.from_pretrained(result.model_dir, local_files_only=True)
