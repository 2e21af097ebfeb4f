"""LSTM forward+backward: axon (axon.jit, eager, and plain jax.jit of the functional form) vs
PyTorch, in one process.

One step is the output sequence of `LSTM(256, 512, num_layers=2)` (batch-first) on a (32, 100, 256)
input, `loss = output.mean()`, and the gradients of every weight and of the input. Every contender
starts from the same weights (PyTorch's, copied into axon) and is checked against PyTorch's loss
and gradients before timing. Timing runs in interleaved rounds (each round times `--iters` steps
of every contender, in rotating order, so machine noise hits all alike); the table reports the
median round and the fastest one.

    .venv/bin/python scripts/benchmarks/rnn_speed.py                     # the issue's case
    .venv/bin/python scripts/benchmarks/rnn_speed.py --rounds 9 --torch-threads 1
    .venv/bin/python scripts/benchmarks/rnn_speed.py --batch 4 --steps 10 --input 8 --hidden 16
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
from axon import functional as F
from axon import nn


def make_torch(args) -> torch.nn.LSTM:
    torch.manual_seed(0)
    return torch.nn.LSTM(args.input, args.hidden, args.layers, batch_first=True)


def torch_step_fn(model: torch.nn.LSTM, x: np.ndarray):
    xt = torch.tensor(x, requires_grad=True)

    def step():
        model.zero_grad()
        xt.grad = None
        loss = model(xt)[0].mean()
        loss.backward()
        return loss.item(), [xt.grad] + [p.grad for p in model.parameters()]

    return step


def axon_model(ref: torch.nn.LSTM, args) -> nn.LSTM:
    model = nn.LSTM(args.input, args.hidden, args.layers)
    model.load_state_dict(ref.state_dict())
    return model


def axon_jit_step_fn(model: nn.LSTM, x: np.ndarray):
    @axon.jit
    def train_step(model, x):
        model.zero_grad()
        x = axon.Variable(x, requires_grad=True)
        loss = model(x).mean()
        loss.backward()
        return loss, x.grad

    x = jnp.asarray(x)

    def step():
        loss, x_grad = train_step(model, x)
        grads = [x_grad] + [p.grad for p in model.parameters()]
        return jax.block_until_ready((loss.data, grads))

    return step


def axon_eager_step_fn(model: nn.LSTM, x: np.ndarray):
    xv = axon.Variable(jnp.asarray(x), requires_grad=True)

    def step():
        model.zero_grad()
        xv.grad = None
        loss = model(xv).mean()
        loss.backward()
        grads = [xv.grad] + [p.grad for p in model.parameters()]
        return jax.block_until_ready((loss.data, grads))  # wait for the backward too

    return step


def jax_step_fn(model: nn.LSTM, x: np.ndarray, layers: int):
    weights = [p.data for p in model.parameters()]

    def loss_fn(weights, x):
        return F.lstm(x, None, weights, num_layers=layers, return_state=False).mean()

    value_and_grad = jax.jit(jax.value_and_grad(loss_fn, argnums=(0, 1)))
    x = jnp.asarray(x)

    def step():
        loss, (w_grads, x_grad) = value_and_grad(weights, x)
        return jax.block_until_ready((loss, [x_grad, *w_grads]))

    return step


def check_agreement(steps: dict, reference: str, rtol: float = 1e-3, atol: float = 1e-5) -> None:
    """Every contender's loss and gradients equal PyTorch's (float32, different summation order)."""
    ref_loss, ref_grads = steps[reference]()
    ref_grads = [np.asarray(g) for g in ref_grads]
    for name, step in steps.items():
        loss, grads = step()
        np.testing.assert_allclose(float(loss), float(ref_loss), rtol=rtol, err_msg=name)
        for i, (g, r) in enumerate(zip(grads, ref_grads, strict=True)):
            scale = np.abs(r).max()
            np.testing.assert_allclose(
                np.asarray(g), r, rtol=rtol, atol=atol * scale, err_msg=f"{name}: gradient {i}"
            )


def time_round(step, iters: int) -> float:
    start = time.perf_counter()
    for _ in range(iters):
        step()  # every step waits for its loss and gradients (block_until_ready / .item())
    return (time.perf_counter() - start) / iters * 1e3  # ms per step


def main(argv=None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--batch", type=int, default=32)
    parser.add_argument("--steps", type=int, default=100, help="sequence length")
    parser.add_argument("--input", type=int, default=256, help="input features")
    parser.add_argument("--hidden", type=int, default=512)
    parser.add_argument("--layers", type=int, default=2)
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--iters", type=int, default=2, help="steps per contender per round")
    parser.add_argument(
        "--torch-threads", type=int, default=None, help="torch.set_num_threads (default: torch's)"
    )
    args = parser.parse_args(argv)

    if args.torch_threads:
        torch.set_num_threads(args.torch_threads)
    jax.config.update("jax_default_matmul_precision", "highest")  # float32 matmuls, like torch
    ref = make_torch(args)
    x = np.random.default_rng(0).standard_normal((args.batch, args.steps, args.input))
    x = x.astype(np.float32)
    steps = {
        "PyTorch eager": torch_step_fn(ref, x),
        "axon.jit step": axon_jit_step_fn(axon_model(ref, args), x),
        "jax.jit(value_and_grad(F.lstm))": jax_step_fn(axon_model(ref, args), x, args.layers),
        "axon eager": axon_eager_step_fn(axon_model(ref, args), x),
    }
    first_call = {}
    for name, step in steps.items():  # compile, warm up
        start = time.perf_counter()
        step()
        first_call[name] = (time.perf_counter() - start) * 1e3
        step()
    check_agreement(steps, "PyTorch eager")

    times: dict[str, list[float]] = {name: [] for name in steps}
    names = list(steps)
    for r in range(args.rounds):
        for name in names[r % len(names) :] + names[: r % len(names)]:
            times[name].append(time_round(steps[name], args.iters))

    med = {name: statistics.median(t) for name, t in times.items()}
    base = med["PyTorch eager"]
    print(
        f"LSTM({args.input}, {args.hidden}, num_layers={args.layers}, batch_first=True), input "
        f"({args.batch}, {args.steps}, {args.input}) float32, forward + backward of "
        f"output.mean(); jax {jax.__version__} on {jax.devices()[0].platform}, torch "
        f"{torch.__version__} ({torch.get_num_threads()} threads); median of {args.rounds} "
        f"interleaved rounds x {args.iters} steps"
    )
    print()
    print("| contender | ms/step (median) | × PyTorch | fastest round ms | first call ms |")
    print("|---|---:|---:|---:|---:|")
    for name in names:
        print(
            f"| {name} | {med[name]:.1f} | {med[name] / base:.2f} | {min(times[name]):.1f} | "
            f"{first_call[name]:.0f} |"
        )
    return {"median_ms": med, "rounds_ms": times, "first_call_ms": first_call}


if __name__ == "__main__":
    main()
