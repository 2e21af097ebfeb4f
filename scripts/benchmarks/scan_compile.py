"""Compile time of a deep `TransformerEncoder`: the layers unrolled (`scan=False`) vs one
`lax.scan` over stacked weights (`scan=True`), in one process.

One step is a jitted forward + backward of `(encoder(x) ** 2).mean()`, written two ways (`--modes`):
`axon-jit`, an `axon.jit` training step (`opt.zero_grad(); loss.backward(); opt.step()` with SGD:
the tape's backward traced into the program), and `jax`, `jax.jit(jax.value_and_grad(loss))(model,
x)` (JAX's own AD of the whole function). Pre-norm layers, d_model 128, 4 heads, feed-forward 512,
dropout 0, input (8, 64, 128) float32.

"first call" is trace + compile + one step of a freshly built step function on a fresh model after
`jax.clear_caches()`, the median over `--rounds` rounds (the two variants alternate which goes
first); "trace" and "XLA" are the parts of it that jax reports through `jax.monitoring` (the
step's jaxpr trace and its backend compile). "step" is the steady-state time of the compiled step,
the median over all rounds of `--steps` steps each. The scanned step's loss is checked against the
unrolled one's.

    .venv/bin/python scripts/benchmarks/scan_compile.py                  # 2, 6, 12, 24 layers
    .venv/bin/python scripts/benchmarks/scan_compile.py --modes jax --depths 24 --rounds 5
    .venv/bin/python scripts/benchmarks/scan_compile.py --smoke          # tiny, no claims
"""

from __future__ import annotations

import argparse
import statistics
import time

import jax
import numpy as np

import axon
from axon import nn, optim


def build(args, num_layers: int, scan: bool) -> nn.TransformerEncoder:
    axon.manual_seed(0)  # the same weights for both variants
    layer = nn.TransformerEncoderLayer(
        args.d_model, args.nhead, args.ff, dropout=0.0, norm_first=True
    )
    return nn.TransformerEncoder(layer, num_layers, nn.LayerNorm(args.d_model), scan=scan)


def axon_jit_step(model, x):
    """A fresh `axon.jit` training step (nothing cached), as a no-argument callable."""
    opt = optim.SGD(model.parameters(), lr=1e-3)

    @axon.jit
    def train_step(model, opt, x):
        opt.zero_grad()
        loss = (model(x) ** 2).mean()
        loss.backward()
        opt.step()
        return loss

    return lambda: float(jax.block_until_ready(train_step(model, opt, x).data))


def jax_step(model, x):
    """A fresh `jax.jit(jax.value_and_grad(...))` of a function of the module."""

    def loss_fn(model, x):
        return (model(x).data ** 2).mean()

    value_and_grad = jax.jit(jax.value_and_grad(loss_fn))
    return lambda: float(jax.block_until_ready(value_and_grad(model, x))[0])


_EVENTS = {
    "/jax/core/compile/jaxpr_trace_duration": "trace",
    "/jax/core/compile/backend_compile_duration": "xla",
}
_recorded: dict[str, list[float]] = {"trace": [], "xla": []}
_listening: list[bool] = []  # [recording?] once the listener is registered


def _listen(event: str, duration: float, **_) -> None:
    if _listening[0] and event in _EVENTS:
        _recorded[_EVENTS[event]].append(duration)


def _record(on: bool) -> None:
    """Start (clearing what was recorded) or stop recording jax's trace and compile durations."""
    if not _listening:
        jax.monitoring.register_event_duration_secs_listener(_listen)
        _listening.append(False)
    if on:
        for events in _recorded.values():
            events.clear()
    _listening[0] = on


def measure(args, x, num_layers: int, scan: bool, make_step) -> tuple[dict, list[float], float]:
    """({first, trace, xla} s, steady-state ms per step, first loss) of one fresh build."""
    model = build(args, num_layers, scan)
    if not args.smoke:  # a smoke run (in the test suite) keeps the process's caches
        jax.clear_caches()
    step = make_step(model, x)
    _record(True)
    start = time.perf_counter()
    loss = step()
    first = {"first": time.perf_counter() - start}
    _record(False)
    # the step's own trace and compile are the longest (nested jits and small eager kernels
    # report too, and nested traces are counted inside their parent's)
    first.update({k: max(v, default=0.0) for k, v in _recorded.items()})
    times = []
    for _ in range(args.steps):
        start = time.perf_counter()
        step()
        times.append((time.perf_counter() - start) * 1e3)
    return first, times, loss


def main(argv=None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--depths", default="2,6,12,24", help="comma-separated num_layers")
    parser.add_argument("--modes", default="axon-jit,jax", help="axon-jit and/or jax")
    parser.add_argument("--rounds", type=int, default=3, help="fresh builds per variant")
    parser.add_argument("--steps", type=int, default=3, help="steady-state steps per round")
    parser.add_argument("--d-model", type=int, default=128)
    parser.add_argument("--nhead", type=int, default=4)
    parser.add_argument("--ff", type=int, default=512, help="dim_feedforward")
    parser.add_argument("--batch", type=int, default=8)
    parser.add_argument("--seq", type=int, default=64)
    parser.add_argument("--smoke", action="store_true", help="tiny sizes, one round")
    args = parser.parse_args(argv)
    if args.smoke:
        args.depths, args.rounds, args.steps = "2", 1, 1
        args.d_model, args.nhead, args.ff, args.batch, args.seq = 16, 2, 32, 2, 5

    with jax.default_matmul_precision("highest"):  # scoped: main() also runs inside pytest
        return _run(args, parser)


def _run(args, parser) -> dict:
    depths = [int(d) for d in args.depths.split(",")]
    modes = args.modes.split(",")
    makers = {"axon-jit": axon_jit_step, "jax": jax_step}
    unknown = set(modes) - set(makers)
    if unknown:
        parser.error(f"unknown modes {sorted(unknown)}; choose from {sorted(makers)}")
    rng = np.random.default_rng(0)
    x = rng.standard_normal((args.batch, args.seq, args.d_model)).astype(np.float32)

    results: dict = {}
    for mode in modes:
        for depth in depths:
            first = {False: [], True: []}
            steps = {False: [], True: []}
            losses = {}
            for r in range(args.rounds):
                for scan in (False, True) if r % 2 == 0 else (True, False):
                    f, t, loss = measure(args, x, depth, scan, makers[mode])
                    first[scan].append(f)
                    steps[scan].extend(t)
                    losses[scan] = loss
            np.testing.assert_allclose(losses[True], losses[False], rtol=1e-4, err_msg=mode)
            results[mode, depth] = {
                scan: {
                    **{k: statistics.median(f[k] for f in first[scan]) for k in first[scan][0]},
                    "step_ms": statistics.median(steps[scan]),
                    "first_rounds_s": [f["first"] for f in first[scan]],
                }
                for scan in (False, True)
            }
            print(f"  {mode}, {depth} layers: done", flush=True)

    print(
        f"\nTransformerEncoder(pre-norm, d_model={args.d_model}, nhead={args.nhead}, "
        f"dim_feedforward={args.ff}) x N, input ({args.batch}, {args.seq}, {args.d_model}) "
        f"float32, forward + backward; jax {jax.__version__} on {jax.devices()[0].platform}; "
        f"medians of {args.rounds} fresh rounds (first call) and of {args.rounds}x{args.steps} "
        f"steps (step). first call = trace + XLA compile + the rest (lowering, one step).\n"
    )
    print("| step | N | first call, loop s (trace + XLA) | first call, scan s (trace + XLA) "
          "| loop / scan | step, loop ms | step, scan ms |")  # fmt: skip
    print("|---|---:|---:|---:|---:|---:|---:|")
    names = {"axon-jit": "axon.jit SGD step", "jax": "jax.jit(value_and_grad)"}
    for (mode, depth), r in results.items():
        loop, scan = r[False], r[True]
        print(
            f"| {names[mode]} | {depth} | {loop['first']:.2f} ({loop['trace']:.2f} + "
            f"{loop['xla']:.2f}) | {scan['first']:.2f} ({scan['trace']:.2f} + {scan['xla']:.2f}) "
            f"| {loop['first'] / scan['first']:.2f}x | {loop['step_ms']:.1f} | "
            f"{scan['step_ms']:.1f} |"
        )
    return results


if __name__ == "__main__":
    main()
