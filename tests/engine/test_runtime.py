"""Thread count, bf16 choice and duration estimates."""
import os

import pytest

from training.engine import estimate_seconds
from training.engine.runtime import choose_num_threads, free_cores, usable_cores, use_bf16


def test_threads_come_from_free_cores_unless_given():
    cores = usable_cores()
    assert cores == len(os.sched_getaffinity(0))
    assert 1 <= free_cores() <= cores
    assert 1 <= choose_num_threads(None) <= cores
    assert choose_num_threads(1) == 1
    assert choose_num_threads(1000) == cores


def test_a_busy_machine_leaves_fewer_free_cores(monkeypatch):
    import training.engine.runtime as runtime

    monkeypatch.setattr(runtime, "usable_cores", lambda: 2)
    monkeypatch.setattr(runtime.os, "getloadavg", lambda: (1.0, 1.0, 1.0))
    monkeypatch.setattr(runtime, "_busy_cores_now", lambda: 1.2)
    assert free_cores() == 1
    # Our own recent work raised the load average, but nobody else is busy right now.
    monkeypatch.setattr(runtime, "_busy_cores_now", lambda: 0.1)
    assert free_cores() == 2


def test_bf16_setting():
    assert use_bf16(True, "cpu") and use_bf16("on", "cpu")
    assert not use_bf16(False, "cpu") and not use_bf16("off", "cpu")
    from training.engine.runtime import cpu_has_bf16

    assert use_bf16("auto", "cpu") == cpu_has_bf16()


def test_estimates_grow_with_tokens_and_model_size(tiny_base_dir):
    small = estimate_seconds(10_000, base="scratch:tiny", epochs=1, block_size=128, batch_size=8)
    assert 0 < small < estimate_seconds(100_000, base="scratch:tiny", epochs=1, block_size=128, batch_size=8)
    assert small < estimate_seconds(10_000, base="scratch:small", epochs=1, block_size=128, batch_size=8)
    assert estimate_seconds(10_000, base="scratch:small", epochs=1, block_size=128, batch_size=8) < \
        estimate_seconds(10_000, base="gpt2", epochs=1, block_size=128, batch_size=8)
    one, two, three = (estimate_seconds(100_000, base="gpt2", epochs=e, block_size=128, batch_size=8)
                       for e in (1, 2, 3))
    assert one < two < 2 * one  # set-up and export do not repeat with each epoch
    assert three - two == pytest.approx(two - one, rel=0.02)
    fixed = estimate_seconds(10**9, base="scratch:tiny", epochs=1, block_size=128, batch_size=8, max_steps=10)
    assert fixed == estimate_seconds(10**7, base="scratch:tiny", epochs=1, block_size=128, batch_size=8, max_steps=10)
    local = estimate_seconds(10_000, base=tiny_base_dir, epochs=1, block_size=32, batch_size=8)
    assert 0 < local < estimate_seconds(10_000, base="gpt2", epochs=1, block_size=32, batch_size=8)
