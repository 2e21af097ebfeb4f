"""`axon.checkpoint.CheckpointManager`: resuming is exact, damaged or missing steps fall back or
fail clearly, a save killed part-way leaves the previous step restorable, and pending saves
finish before the interpreter exits."""

from __future__ import annotations

import math
import os
import shutil
import signal
import subprocess
import sys
import textwrap
import time
import warnings
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

import axon
from axon import nn, optim
from axon.checkpoint import CheckpointError, CheckpointManager
from axon.optim.lr_scheduler import StepLR

loss_fn = nn.MSELoss()


def mlp():
    return nn.Sequential(
        nn.Linear(16, 16), nn.BatchNorm1d(16), nn.ReLU(), nn.Dropout(0.3), nn.Linear(16, 16)
    )


@axon.jit
def train_step(model, opt, x, y):
    opt.zero_grad()
    loss = loss_fn(model(x), y)
    loss.backward()
    opt.step()
    return loss


def batch(step: int):
    g = np.random.default_rng(step)
    return g.standard_normal((8, 16), np.float32), g.standard_normal((8, 16), np.float32)


def setup(seed: int):
    axon.manual_seed(seed)
    model = mlp()
    opt = optim.Adam(model.parameters(), lr=1e-2)
    return model, opt, StepLR(opt, step_size=2, gamma=0.5)


def train(model, opt, sched, steps) -> None:
    for step in steps:
        train_step(model, opt, *batch(step))
        sched.step()


def assert_same_state(a: dict, b: dict) -> None:
    assert sorted(a) == sorted(b)
    for key in a:
        x, y = np.asarray(a[key]), np.asarray(b[key])
        assert x.dtype == y.dtype and x.shape == y.shape, key
        assert x.tobytes() == y.tobytes(), f"{key} differs"


def assert_same_optimizer(a, b) -> None:
    sa, sb = a.state_dict(), b.state_dict()
    assert sa["param_groups"] == sb["param_groups"]
    assert sorted(sa["state"]) == sorted(sb["state"])
    for i in sa["state"]:
        assert_same_state(sa["state"][i], sb["state"][i])


# ---------------------------------------------------------------------------------- resuming
def test_resuming_gives_exactly_the_parameters_of_training_straight_through(tmp_path):
    straight = setup(seed=0)
    model, opt, sched = straight
    train(*straight, range(3))
    with CheckpointManager(tmp_path / "ckpt") as ckpt:
        assert ckpt.save(3, model=model, optimizer=opt, scheduler=sched, extra={"epoch": 1})
    train(*straight, range(3, 7))  # dropout draws from the stream that was saved
    stream = jax.random.key_data(axon.get_rng_state())

    resumed = setup(seed=123)  # other weights, another random stream
    with CheckpointManager(tmp_path / "ckpt") as ckpt:
        extra = ckpt.restore(model=resumed[0], optimizer=resumed[1], scheduler=resumed[2])
        assert extra == {"epoch": 1} and ckpt.restored_step == 3
    assert resumed[2].last_epoch == 3 and resumed[1].param_groups[0]["lr"] == 5e-3
    train(*resumed, range(3, 7))

    assert_same_state(resumed[0].state_dict(), model.state_dict())
    assert_same_optimizer(resumed[1], opt)
    assert resumed[2].state_dict() == sched.state_dict()
    np.testing.assert_array_equal(jax.random.key_data(axon.get_rng_state()), stream)
    assert float(model[1].num_batches_tracked) == 7


def test_every_optimizer_through_a_compiled_step_keeps_its_state_for_saving(tmp_path):
    """A fresh optimizer through an already-compiled step lists its state, so it is saved."""
    for seed in (0, 1):
        model, opt, sched = setup(seed)
        train(model, opt, sched, range(1))
        assert sorted(opt.state_dict()["state"]) == list(range(6)), f"optimizer {seed}"
    with CheckpointManager(tmp_path) as ckpt:
        ckpt.save(1, optimizer=opt)
        other = setup(seed=2)[1]
        ckpt.restore(optimizer=other)
    assert_same_optimizer(other, opt)


def test_rng_stream_is_restored_unless_asked_not_to(tmp_path):
    axon.manual_seed(5)
    model = nn.Linear(16, 16)
    with CheckpointManager(tmp_path) as ckpt:
        ckpt.save(0, model=model)
        expected = np.asarray(axon.Tensor.randn([3]))
        ckpt.restore(model=model)
        np.testing.assert_array_equal(axon.Tensor.randn([3]), expected)
        axon.manual_seed(6)
        ckpt.restore(model=model, rng=False)
        assert not np.array_equal(axon.Tensor.randn([3]), expected)


def test_wrapped_optax_state_round_trips(tmp_path):
    model = nn.Linear(16, 16)
    opt = optim.Optimizer.from_optax(model.parameters(), optax.chain(optax.adam(1e-2)))
    for step in range(2):
        train_step(model, opt, *batch(step))
    with CheckpointManager(tmp_path, async_save=False) as ckpt:
        ckpt.save(2, model=model, optimizer=opt)
        saved_model, saved_opt = model.state_dict(), jax.tree.leaves(opt.state_dict())
        train_step(model, opt, *batch(2))
        ckpt.restore(model=model, optimizer=opt)
    assert_same_state(model.state_dict(), saved_model)
    for a, b in zip(jax.tree.leaves(opt.state_dict()), saved_opt, strict=True):
        np.testing.assert_array_equal(a, b)


# ---------------------------------------------------------------------------------- steps, extra
def test_max_to_keep_and_save_interval(tmp_path):
    model = nn.Linear(16, 16)
    with CheckpointManager(tmp_path, max_to_keep=2, save_interval_steps=2) as ckpt:
        written = [ckpt.save(step, model=model) for step in range(6)]
        assert written == [True, False, True, False, True, False]
        assert ckpt.save(5, model=model, force=True)
        ckpt.wait_until_finished()
        assert ckpt.all_steps() == [4, 5] and ckpt.latest_step() == 5
        with pytest.raises(CheckpointError, match="step 5 is already saved .* never overwritten"):
            ckpt.save(5, model=model, force=True)
    assert sorted(os.listdir(tmp_path)) == ["4", "5"]


def test_extra_metadata_round_trips(tmp_path):
    extra = {
        "epoch": 3,
        "loss": 0.25,
        "best": math.inf,
        "name": "run-1",
        "history": [1.0, 0.5],
        "pair": (1, "a"),
        "nested": {"ok": True, "none": None},
        "by_int": {0: "zero", 1: "one"},
        "counts": np.arange(3, dtype=np.int64),
        "weights": jnp.ones((2, 2), jnp.bfloat16),
        "key": jax.random.key(3),
    }
    with CheckpointManager(tmp_path) as ckpt:
        ckpt.save(0, extra=extra)
        back = ckpt.restore()
    assert back.keys() == extra.keys()
    for key in ("epoch", "loss", "best", "name", "history", "pair", "nested", "by_int"):
        assert back[key] == extra[key] and type(back[key]) is type(extra[key]), key
    assert back["counts"].dtype == np.int64 and isinstance(back["counts"], np.ndarray)
    np.testing.assert_array_equal(back["counts"], extra["counts"])
    assert back["weights"].dtype == jnp.bfloat16
    np.testing.assert_array_equal(back["weights"], extra["weights"])
    np.testing.assert_array_equal(
        jax.random.key_data(back["key"]), jax.random.key_data(extra["key"])
    )


def test_bad_save_arguments(tmp_path):
    with CheckpointManager(tmp_path) as ckpt:
        with pytest.raises(TypeError, match="cannot store object at \\['extra'\\]\\['bad'\\]"):
            ckpt.save(0, extra={"bad": object()})
        with pytest.raises(TypeError, match="extra must be a dict with str keys"):
            ckpt.save(0, extra=[1, 2])
        with pytest.raises(TypeError, match="model must be a Module, got dict"):
            ckpt.save(0, model={"w": 1})
        with pytest.raises(ValueError, match="step must be an int >= 0, got -1"):
            ckpt.save(-1)
        assert ckpt.all_steps() == []
    with pytest.raises(RuntimeError, match="the manager is closed"):
        ckpt.save(0)
    with pytest.raises(ValueError, match="max_to_keep must be None or an int >= 1, got 0"):
        CheckpointManager(tmp_path, max_to_keep=0)


# ---------------------------------------------------------------------------------- failures
def _two_steps(directory: Path):
    """Steps 1 and 2 of a model whose weights differ between them; returns their states."""
    model = nn.Linear(16, 16)
    states = {}
    with CheckpointManager(directory) as ckpt:
        for step in (1, 2):
            model.load_state_dict({k: v + step for k, v in model.state_dict().items()})
            states[step] = model.state_dict()
            ckpt.save(step, model=model, extra={"step": step})
    return model, states


@pytest.mark.parametrize("item", ["arrays", "meta"])
def test_corrupt_newest_step_falls_back_with_a_warning(tmp_path, item):
    model, states = _two_steps(tmp_path)
    for path in (tmp_path / "2" / item).rglob("*"):
        if path.is_file():
            path.write_bytes(b"\x00garbage")

    with CheckpointManager(tmp_path) as ckpt:
        with pytest.warns(UserWarning, match="step 2 in .* could not be read.*Trying an older"):
            assert ckpt.restore(model=model) == {"step": 1}
        assert ckpt.restored_step == 1
        assert_same_state(model.state_dict(), states[1])
        with pytest.raises(CheckpointError, match="step 2 in .* could not be read"):
            ckpt.restore(2, model=model)
        assert_same_state(model.state_dict(), states[1])  # unchanged by the failed restore


def test_deleted_newest_step_restores_the_previous_one(tmp_path):
    model, states = _two_steps(tmp_path)
    with CheckpointManager(tmp_path) as ckpt:
        shutil.rmtree(tmp_path / "2")  # deleted while a manager is open
        with warnings.catch_warnings():
            warnings.simplefilter("error")
            assert ckpt.restore(model=model) == {"step": 1}
        assert_same_state(model.state_dict(), states[1])
        assert ckpt.all_steps() == [1]


def test_no_readable_step_is_an_error(tmp_path):
    model, _ = _two_steps(tmp_path)
    for path in tmp_path.rglob("metadata"):
        path.write_text("{not json")
    with CheckpointManager(tmp_path) as ckpt:
        with pytest.warns(UserWarning), pytest.raises(CheckpointError, match="no step .* could be"):
            ckpt.restore(model=model)


def test_restore_errors_are_clear_and_change_nothing(tmp_path):
    with CheckpointManager(tmp_path / "empty") as ckpt:
        with pytest.raises(FileNotFoundError, match="no checkpoint in '.*empty'"):
            ckpt.restore()
    model, states = _two_steps(tmp_path / "two")
    opt = optim.SGD(model.parameters(), lr=0.1)
    with CheckpointManager(tmp_path / "two") as ckpt:
        with pytest.raises(CheckpointError, match="no step 7 in .*; saved steps: \\[1, 2\\]"):
            ckpt.restore(7, model=model)
        with pytest.raises(CheckpointError, match="step 2 holds no optimizer state .*: model"):
            ckpt.restore(model=model, optimizer=opt)
        assert_same_state(model.state_dict(), states[2])  # (the last save)

        wrong = nn.Sequential(nn.Linear(16, 16))
        before = wrong.state_dict()
        with pytest.raises(CheckpointError, match="does not fit .* nothing was changed") as info:
            ckpt.restore(model=wrong)
        assert "missing keys: 0.weight, 0.bias" in str(info.value)
        assert_same_state(wrong.state_dict(), before)

    # the model loads, then the optimizer does not fit: the model is rolled back
    with CheckpointManager(tmp_path / "opt") as ckpt:
        ckpt.save(0, model=model, optimizer=opt)
        other_model = nn.Linear(16, 16)
        other_before = other_model.state_dict()
        other_opt = optim.SGD([other_model.weight], lr=0.1)
        with pytest.raises(CheckpointError, match="does not fit") as info:
            ckpt.restore(model=other_model, optimizer=other_opt)
        assert "has 2 parameters, but the optimizer's has 1" in str(info.value)
        assert_same_state(other_model.state_dict(), other_before)


# ---------------------------------------------------------------------------------- processes
CHILD_PRELUDE = """
import sys, time, jax.numpy as jnp, axon
from axon.checkpoint import CheckpointManager
ckpt = CheckpointManager(sys.argv[1])
"""


def _child(code: str, directory: Path) -> subprocess.Popen:
    script = CHILD_PRELUDE + textwrap.dedent(code)
    return subprocess.Popen(
        [sys.executable, "-c", script, str(directory)], stdout=subprocess.PIPE, text=True
    )


def test_a_save_killed_part_way_leaves_the_previous_step_restorable(tmp_path):
    proc = _child(
        """
        ckpt.save(1, extra={"w": jnp.full((4,), 1.0)})
        ckpt.wait_until_finished()
        big = jnp.full((48 * 1024 * 1024,), 2.0)  # 192 MB: written in the background
        ckpt.save(2, extra={"w": big})
        print("saving", flush=True)
        time.sleep(60)
        """,
        tmp_path,
    )
    try:
        assert proc.stdout.readline().strip() == "saving"
        deadline = time.monotonic() + 60  # a loaded machine may be slow to start the write
        while not any(p.name.startswith("2") for p in tmp_path.iterdir()):
            assert time.monotonic() < deadline, "step 2 was never started"
            time.sleep(0.01)
        os.kill(proc.pid, signal.SIGKILL)
    finally:
        if proc.poll() is None and proc.returncode is None:
            proc.kill()  # the test failed before its own kill: do not wait out the sleep
        proc.wait(timeout=30)
    assert proc.returncode == -signal.SIGKILL
    leftovers = [p.name for p in tmp_path.iterdir() if p.name.startswith("2")]
    assert leftovers and leftovers != ["2"], "the kill should land while step 2 is written"

    with CheckpointManager(tmp_path) as ckpt:
        assert ckpt.all_steps() == [1]
        np.testing.assert_array_equal(ckpt.restore()["w"], np.full((4,), 1.0, np.float32))
    assert sorted(p.name for p in tmp_path.iterdir() if p.is_dir()) == ["1"]  # cleaned up


def test_pending_background_save_finishes_before_exit(tmp_path):
    proc = _child(
        """
        ckpt.save(4, extra={"w": jnp.full((1024 * 1024,), 3.0)})
        print(ckpt.latest_step(), flush=True)  # then exit without waiting
        """,
        tmp_path,
    )
    out, _ = proc.communicate(timeout=120)
    assert proc.returncode == 0 and out.strip() == "4"
    with CheckpointManager(tmp_path) as ckpt:
        assert ckpt.all_steps() == [4]
        assert float(ckpt.restore()["w"][-1]) == 3.0
