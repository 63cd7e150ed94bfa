"""Atomic checkpoints: each is written to a temporary directory, then renamed into place,
so a crash leaves either the previous checkpoint or the new one, never half of one."""
import json
import os
import shutil

WEIGHTS = "weights.safetensors"
OPTIMIZER = "optimizer.pt"
STATE = "state.json"


def trainable_state(model) -> dict:
    """Parameters being trained, by name (tied weights appear once; LoRA: adapters only)."""
    return {name: p.detach().to("cpu").contiguous() for name, p in model.named_parameters() if p.requires_grad}


def load_trainable_state(model, path: str) -> None:
    import torch
    from safetensors.torch import load_file

    tensors = load_file(path)
    parameters = dict(model.named_parameters())
    missing = [name for name in tensors if name not in parameters]
    if missing:
        raise ValueError(f"checkpoint does not match the model: {missing[:3]}")
    with torch.no_grad():
        for name, tensor in tensors.items():
            parameters[name].copy_(tensor.to(parameters[name].device))


def _write_dir(target: str, write) -> None:
    """Build a directory with `write(tmp_dir)`, flush it to disk, then move it to `target`."""
    tmp = f"{target}.tmp-{os.getpid()}"
    shutil.rmtree(tmp, ignore_errors=True)
    os.makedirs(tmp)
    try:
        write(tmp)
        for name in os.listdir(tmp):
            with open(os.path.join(tmp, name), "rb") as f:
                os.fsync(f.fileno())
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)  # a half-written checkpoint only takes space (e.g. on a full disk)
        raise
    old = f"{target}.old"
    if os.path.exists(target):
        shutil.rmtree(old, ignore_errors=True)
        os.replace(target, old)
    os.replace(tmp, target)
    shutil.rmtree(old, ignore_errors=True)


def save_checkpoint(directory: str, *, model, optimizer, scheduler, state: dict) -> str:
    """checkpoints/step-NNNNNNNN holding weights, optimizer+scheduler+RNG, and the loop state."""
    import torch
    from safetensors.torch import save_file

    def write(tmp):
        save_file(trainable_state(model), os.path.join(tmp, WEIGHTS))
        rng = {"cpu": torch.get_rng_state()}
        if torch.cuda.is_available():
            rng["cuda"] = torch.cuda.get_rng_state_all()
        torch.save({"optimizer": optimizer.state_dict(), "scheduler": scheduler.state_dict(), "rng": rng},
                   os.path.join(tmp, OPTIMIZER))
        _write_json(os.path.join(tmp, STATE), state)

    os.makedirs(directory, exist_ok=True)
    target = os.path.join(directory, f"step-{state['step']:08d}")
    _write_dir(target, write)
    for name in os.listdir(directory):  # keep only the newest complete checkpoint
        path = os.path.join(directory, name)
        if path != target and (name.startswith("step-") or ".tmp-" in name):
            shutil.rmtree(path, ignore_errors=True)
    return target


def latest_checkpoint(directory: str) -> str | None:
    if not os.path.isdir(directory):
        return None
    complete = sorted(n for n in os.listdir(directory)
                      if n.startswith("step-") and ".tmp" not in n and not n.endswith(".old"))
    return os.path.join(directory, complete[-1]) if complete else None


def load_checkpoint(path: str, *, model, optimizer, scheduler) -> dict:
    import torch

    load_trainable_state(model, os.path.join(path, WEIGHTS))
    # weights_only: our own file, but never unpickle arbitrary objects anyway.
    saved = torch.load(os.path.join(path, OPTIMIZER), map_location="cpu", weights_only=True)
    optimizer.load_state_dict(saved["optimizer"])
    scheduler.load_state_dict(saved["scheduler"])
    torch.set_rng_state(saved["rng"]["cpu"])
    if "cuda" in saved["rng"] and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(saved["rng"]["cuda"])
    return read_json(os.path.join(path, STATE))


def save_best(directory: str, *, model, state: dict) -> None:
    from safetensors.torch import save_file

    def write(tmp):
        save_file(trainable_state(model), os.path.join(tmp, WEIGHTS))
        _write_json(os.path.join(tmp, STATE), state)

    _write_dir(directory, write)


def best_weights(directory: str) -> str | None:
    """The best checkpoint's weights, also when a crash happened between the two renames."""
    for candidate in (directory, f"{directory}.old"):
        path = os.path.join(candidate, WEIGHTS)
        if os.path.isfile(path) and os.path.isfile(os.path.join(candidate, STATE)):
            return path
    return None


def read_json(path: str) -> dict:
    with open(path, encoding="utf-8") as f:
        return json.load(f)


def _write_json(path: str, value: dict) -> None:
    with open(path, "w", encoding="utf-8") as f:
        json.dump(value, f, ensure_ascii=False)


def write_json_atomic(path: str, value: dict) -> None:
    tmp = f"{path}.tmp-{os.getpid()}"
    _write_json(tmp, value)
    os.replace(tmp, path)
