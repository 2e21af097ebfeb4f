"""Eager per-op overhead: axon vs PyTorch, with a compiled jax step for reference.

One step is `relu(x @ w + b).sum().backward()` with x (64, 128), w (128, 128), b (128,): four ops
(matmul, add, relu, sum) forward and backward; `--batch 1 --features 8` makes the arithmetic
negligible, leaving the framework's own cost per op. Each contender runs `--iters` steps per round;
the rounds are interleaved (axon, torch, jax, axon, ...) so that machine noise hits all alike, and
the median round is reported.

    .venv/bin/python scripts/benchmarks/op_overhead.py --rounds 15 --iters 200
    .venv/bin/python scripts/benchmarks/op_overhead.py --batch 1 --features 8 --torch-threads 1
    .venv/bin/python scripts/benchmarks/op_overhead.py --profile   # cProfile of the axon step
"""

from __future__ import annotations

import argparse
import statistics
import time

import jax
import jax.numpy as jnp
import numpy as np
import torch

import axon
from axon import Variable
from axon import functional as F

OPS_PER_STEP = 4  # matmul, add, relu, sum


def make_inputs(batch: int, features: int, seed: int = 0):
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((batch, features)).astype(np.float32)
    w = (rng.standard_normal((features, features)) / np.sqrt(features)).astype(np.float32)
    b = rng.standard_normal(features).astype(np.float32)
    return x, w, b


def axon_step_fn(x, w, b):
    xv = Variable(jnp.asarray(x))
    wv = Variable(jnp.asarray(w), requires_grad=True)
    bv = Variable(jnp.asarray(b), requires_grad=True)

    def step():
        wv.grad = bv.grad = None
        F.relu(xv @ wv + bv).sum().backward()
        return bv.grad

    return step


def torch_step_fn(x, w, b):
    xt = torch.tensor(x)
    wt = torch.tensor(w, requires_grad=True)
    bt = torch.tensor(b, requires_grad=True)

    def step():
        wt.grad = bt.grad = None
        torch.relu(xt @ wt + bt).sum().backward()
        return bt.grad

    return step


def jax_step_fn(x, w, b):
    x, w, b = jnp.asarray(x), jnp.asarray(w), jnp.asarray(b)
    f = jax.jit(jax.value_and_grad(lambda w, b: jax.nn.relu(x @ w + b).sum(), argnums=(0, 1)))

    def step():
        return f(w, b)[1][1]

    return step


def sync(out):
    """Wait for the device, so asynchronous dispatch is not mistaken for speed."""
    if isinstance(out, torch.Tensor):
        return
    jax.block_until_ready(out)


def time_round(step, iters: int) -> float:
    out = None
    start = time.perf_counter()
    for _ in range(iters):
        out = step()
    sync(out)
    return (time.perf_counter() - start) / iters * 1e6  # µs per step


def check_same_gradients(steps) -> None:
    grads = {name: np.asarray(step()) for name, step in steps.items()}
    ref = grads["torch eager"]
    for name, g in grads.items():
        np.testing.assert_allclose(g, ref, rtol=1e-4, atol=1e-4, err_msg=name)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=15)
    parser.add_argument("--iters", type=int, default=200, help="steps per round")
    parser.add_argument("--batch", type=int, default=64, help="rows of x")
    parser.add_argument("--features", type=int, default=128, help="columns of x; w is square")
    parser.add_argument(
        "--torch-threads", type=int, default=None, help="torch.set_num_threads (default: torch's)"
    )
    parser.add_argument("--profile", action="store_true", help="cProfile the axon step and exit")
    args = parser.parse_args()

    if args.torch_threads:
        torch.set_num_threads(args.torch_threads)
    jax.config.update("jax_default_matmul_precision", "highest")
    axon.manual_seed(0)
    x, w, b = make_inputs(args.batch, args.features)
    steps = {
        "axon eager": axon_step_fn(x, w, b),
        "torch eager": torch_step_fn(x, w, b),
        "jax.jit(value_and_grad)": jax_step_fn(x, w, b),
    }
    for step in steps.values():  # compile and warm up
        for _ in range(20):
            sync(step())
    check_same_gradients(steps)

    if args.profile:
        import cProfile
        import pstats

        step = steps["axon eager"]
        cProfile.runctx(
            "for _ in range(2000): step()", globals(), {"step": step}, "/tmp/axon_step.prof"
        )
        pstats.Stats("/tmp/axon_step.prof").sort_stats("tottime").print_stats(25)
        return

    times: dict[str, list[float]] = {name: [] for name in steps}
    for _ in range(args.rounds):
        for name, step in steps.items():
            times[name].append(time_round(step, args.iters))

    med = {name: statistics.median(t) for name, t in times.items()}
    print(
        f"jax {jax.__version__} on {jax.devices()[0].platform}, torch {torch.__version__} "
        f"({torch.get_num_threads()} threads); step = relu(x @ w + b).sum().backward(), "
        f"x {args.batch}x{args.features}, w {args.features}x{args.features}; "
        f"median of {args.rounds} rounds x {args.iters} steps"
    )
    print(f"{'':26s} {'µs/step':>10s} {'µs/op':>8s} {'min µs/step':>12s}")
    for name, m in med.items():
        print(f"{name:26s} {m:10.1f} {m / OPS_PER_STEP:8.1f} {min(times[name]):12.1f}")
    print(
        f"axon / torch eager: {med['axon eager'] / med['torch eager']:.2f}x; "
        f"axon eager / jit: {med['axon eager'] / med['jax.jit(value_and_grad)']:.1f}x"
    )


if __name__ == "__main__":
    main()
