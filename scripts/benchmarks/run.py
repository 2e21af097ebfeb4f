"""Training-step benchmark: axon eager and `axon.jit` against pure JAX, Flax NNX, Equinox, PyTorch.

The same step (forward, cross-entropy, backward, Adam lr 1e-3) is written in each framework:

    jax         `jax.jit` over a pytree of arrays with optax, state donated (the reference)
    axon-eager  opt.zero_grad(); loss = loss_fn(model(x), y); loss.backward(); opt.step()
    axon-jit    the same four lines under `axon.jit`
    flax        `nnx.jit`, `nnx.value_and_grad`, `nnx.Optimizer`
    equinox     `eqx.filter_jit`, `eqx.filter_value_and_grad` and optax
    torch       PyTorch eager with torch.optim.Adam

All contenders start from the same weights (axon's, copied into the others) and train on the same
fixed batch. Before timing, the losses of each contender's first 3 steps must match pure JAX's
within 1e-4. Every step waits for its result (`block_until_ready` / `.item()`), so asynchronous
dispatch is not mistaken for speed. Timing runs in interleaved rounds: each round times one block
of steps per contender, the contenders' order rotating from round to round, and the median round
is reported. The first-call time of a freshly built jitted step (trace + compile + one step) is
measured the same way.

    .venv/bin/python scripts/benchmarks/run.py                        # tiny and mlp, 7 rounds
    .venv/bin/python scripts/benchmarks/run.py --cases tiny --rounds 3 --json /tmp/bench.json
    .venv/bin/python scripts/benchmarks/run.py --smoke                # 2 steps each, no timing (CI)

Peers come from the `bench` extra: pip install -e ".[bench]". A contender whose framework is not
installed is reported as skipped.
"""

from __future__ import annotations

import argparse
import datetime
import gc
import importlib.metadata
import json
import os
import platform
import statistics
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import jax
import numpy as np
import optax

sys.path.insert(0, str(Path(__file__).resolve().parent))
from cases import CASES, Case  # noqa: E402

LR = 1e-3
CHECK_STEPS = 3
LOSS_TOL = 1e-4
WARMUP_STEPS = 10
REFERENCE = "jax"


@dataclass
class Trainer:
    """One contender set up on one case.

    `step()` runs one training step, waits for it to finish and returns the loss. `fresh()`
    replaces the jitted step by a newly built one (nothing cached), so that the next two calls
    show the first-call (compile) cost; `compiles()` counts compilations where the framework can.
    """

    step: Callable[[], object]
    fresh: Callable[[], None] | None = None
    compiles: Callable[[], int] | None = None


@dataclass
class Contender:
    key: str
    label: str
    needs: str | None  # importable module the contender needs
    setup: Callable[[Case, dict, np.ndarray, np.ndarray], Trainer]


def cross_entropy(logits, y):
    return optax.softmax_cross_entropy_with_integer_labels(logits, y).mean()


# ------------------------------------------------------------------------------ contenders
def setup_jax(case, sd, x, y):
    params, apply = case.family.jax(sd, **case.kwargs)
    tx = optax.adam(LR)
    x, y = jax.numpy.asarray(x), jax.numpy.asarray(y)

    def make():
        def train_step(params, opt_state, x, y):
            loss, grads = jax.value_and_grad(lambda p: cross_entropy(apply(p, x), y))(params)
            updates, opt_state = tx.update(grads, opt_state, params)
            return optax.apply_updates(params, updates), opt_state, loss

        return jax.jit(train_step, donate_argnums=(0, 1))

    state = [params, tx.init(params)]
    fn = [make()]

    def step():
        state[0], state[1], loss = fn[0](state[0], state[1], x, y)
        return loss.block_until_ready()  # one XLA program: its outputs are ready together

    def fresh():
        fn[0] = make()

    return Trainer(step, fresh)


def _axon_model(case, sd):
    import axon

    model = case.family.axon(**case.kwargs)
    model.load_state_dict(sd)
    return model, axon.optim.Adam(model.parameters(), lr=LR), axon.nn.CrossEntropyLoss()


def setup_axon_eager(case, sd, x, y):
    model, opt, loss_fn = _axon_model(case, sd)
    x, y = jax.numpy.asarray(x), jax.numpy.asarray(y)
    last = model.parameters()[-1]

    def step():
        opt.zero_grad()
        loss = loss_fn(model(x), y)
        loss.backward()
        opt.step()
        # Eager ops are separate programs: wait for the loss and for the optimizer's update.
        jax.block_until_ready((loss.data, last.data))
        return loss

    return Trainer(step)


def setup_axon_jit(case, sd, x, y):
    import axon

    model, opt, loss_fn = _axon_model(case, sd)
    x, y = jax.numpy.asarray(x), jax.numpy.asarray(y)

    def make():
        def train_step(model, opt, x, y):
            opt.zero_grad()
            loss = loss_fn(model(x), y)
            loss.backward()
            opt.step()
            return loss

        return axon.jit(train_step)

    fn = [make()]

    def step():
        loss = fn[0](model, opt, x, y)
        loss.data.block_until_ready()
        return loss

    def fresh():
        opt.zero_grad()  # no .grad arrays yet, as on a new model: the first call is a new model's
        fn[0] = make()

    return Trainer(step, fresh, lambda: fn[0].num_compiles)


def setup_flax(case, sd, x, y):
    from flax import nnx

    model = case.family.flax(sd, **case.kwargs)
    opt = nnx.Optimizer(model, optax.adam(LR), wrt=nnx.Param)
    x, y = jax.numpy.asarray(x), jax.numpy.asarray(y)

    def make():
        def train_step(model, optimizer, x, y):
            loss, grads = nnx.value_and_grad(lambda m: cross_entropy(m(x), y))(model)
            optimizer.update(model, grads)
            return loss

        return nnx.jit(train_step)

    fn = [make()]

    def step():
        return fn[0](model, opt, x, y).block_until_ready()

    def fresh():
        fn[0] = make()

    return Trainer(step, fresh)


def setup_equinox(case, sd, x, y):
    import equinox as eqx

    tx = optax.adam(LR)
    model = case.family.equinox(sd, **case.kwargs)
    state = [model, tx.init(eqx.filter(model, eqx.is_array))]
    x, y = jax.numpy.asarray(x), jax.numpy.asarray(y)

    def make():
        def train_step(model, opt_state, x, y):
            loss_fn = lambda m: cross_entropy(jax.vmap(m)(x), y)
            loss, grads = eqx.filter_value_and_grad(loss_fn)(model)
            updates, opt_state = tx.update(grads, opt_state, eqx.filter(model, eqx.is_array))
            return eqx.apply_updates(model, updates), opt_state, loss

        return eqx.filter_jit(train_step)

    fn = [make()]

    def step():
        state[0], state[1], loss = fn[0](state[0], state[1], x, y)
        return loss.block_until_ready()

    def fresh():
        fn[0] = make()

    return Trainer(step, fresh)


def setup_torch(case, sd, x, y):
    import torch

    model = case.family.torch(sd, **case.kwargs)
    opt = torch.optim.Adam(model.parameters(), lr=LR)
    x, y = torch.from_numpy(x.copy()), torch.from_numpy(y.astype(np.int64))

    def step():
        opt.zero_grad()
        loss = torch.nn.functional.cross_entropy(model(x), y)
        loss.backward()
        opt.step()
        loss.item()  # PyTorch on CPU is synchronous; read the loss as a training loop does
        return loss

    return Trainer(step)


CONTENDERS = [
    Contender("jax", "pure JAX (jax.jit + optax)", None, setup_jax),
    Contender("axon-eager", "axon eager", None, setup_axon_eager),
    Contender("axon-jit", "axon.jit", None, setup_axon_jit),
    Contender("flax", "Flax NNX (nnx.jit)", "flax", setup_flax),
    Contender("equinox", "Equinox (eqx.filter_jit)", "equinox", setup_equinox),
    Contender("torch", "PyTorch eager", "torch", setup_torch),
]


# ---------------------------------------------------------------------------------- helpers
def importable(module: str | None) -> bool:
    if module is None:
        return True
    try:
        __import__(module)
    except ImportError:
        return False
    return True


def as_float(loss) -> float:
    if hasattr(loss, "item"):
        return float(loss.item())
    return float(np.asarray(loss))


def version(dist: str) -> str | None:
    try:
        return importlib.metadata.version(dist)
    except importlib.metadata.PackageNotFoundError:
        return None


def machine_info() -> dict:
    model = None
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    info = {
        "date": datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds"),
        "python": sys.version.split()[0],
        "platform": platform.platform(),
        "cpu_model": model or platform.processor() or platform.machine(),
        "cpu_count": os.cpu_count(),
        "cpus_usable": len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else None,
        "jax_backend": jax.default_backend(),
        "jax_devices": [str(d) for d in jax.devices()],
    }
    for dist in ["jax", "jaxlib", "optax", "numpy", "axon", "flax", "equinox", "torch"]:
        info[dist] = version(dist)
    if importable("torch"):
        import torch

        info["torch_threads"] = torch.get_num_threads()
    return info


def time_block(step: Callable[[], object], steps: int) -> list[float]:
    """Seconds per step, one entry per step."""
    clock = time.perf_counter
    out = [0.0] * steps
    for i in range(steps):
        start = clock()
        step()
        out[i] = clock() - start
    return out


def check_losses(losses: dict[str, list[float]]) -> dict[str, bool]:
    ref = losses[REFERENCE]
    ok = {}
    for key, values in losses.items():
        diff = max(abs(a - b) for a, b in zip(values, ref, strict=True))
        ok[key] = bool(diff <= LOSS_TOL * max(1.0, abs(ref[0])))
        if not ok[key]:
            print(f"  WARNING: {key} losses {values} differ from pure JAX's {ref} (max {diff:.2e})")
    return ok


# ------------------------------------------------------------------------------------- run
def run_case(case: Case, contenders: list[Contender], args) -> dict:
    import axon

    out: dict = {"title": case.title, "status": "ok", "contenders": {}}
    axon.manual_seed(0)
    source = case.family.axon(**case.kwargs)
    sd = {k: np.array(v) for k, v in source.state_dict().items()}
    rng = np.random.default_rng(0)
    x = rng.standard_normal((case.batch, *case.input_shape)).astype(np.float32)
    y = rng.integers(0, case.classes, case.batch).astype(np.int32)

    trainers: dict[str, Trainer] = {}
    losses: dict[str, list[float]] = {}
    n_check = 2 if args.smoke else CHECK_STEPS
    for c in contenders:
        trainers[c.key] = c.setup(case, sd, x, y)
        losses[c.key] = [as_float(trainers[c.key].step()) for _ in range(n_check)]
    ok = check_losses(losses)
    for c in contenders:
        out["contenders"][c.key] = {"label": c.label, "losses": losses[c.key], "loss_ok": ok[c.key]}
    if args.smoke:
        for c in contenders:
            print(
                f"  {c.label:28s} losses {', '.join(f'{v:.6f}' for v in losses[c.key])}"
                f"{'' if ok[c.key] else '  MISMATCH'}"
            )
        return out

    # First-call cost of a freshly built jitted step, interleaved like the timing rounds.
    jitted = [c for c in contenders if trainers[c.key].fresh is not None]
    first = {c.key: [] for c in jitted}
    second = {c.key: [] for c in jitted}
    compiles_first_two = {}
    for r in range(args.compile_rounds):
        for c in jitted[r % len(jitted) :] + jitted[: r % len(jitted)]:
            t = trainers[c.key]
            t.fresh()
            gc.collect()
            start = time.perf_counter()
            t.step()
            mid = time.perf_counter()
            t.step()
            end = time.perf_counter()
            first[c.key].append((mid - start) * 1e3)
            second[c.key].append((end - mid) * 1e3)
            if t.compiles is not None:
                compiles_first_two[c.key] = t.compiles()

    # Warm up and size the blocks: each contender gets about --block-seconds per round.
    steps = {}
    for c in contenders:
        t = trainers[c.key]
        for _ in range(WARMUP_STEPS):
            t.step()
        per_step = statistics.median(time_block(t.step, 5))
        steps[c.key] = args.steps or max(5, min(5000, round(args.block_seconds / per_step)))
    compiles_before = {
        c.key: trainers[c.key].compiles() for c in contenders if trainers[c.key].compiles
    }

    rounds: dict[str, list[float]] = {c.key: [] for c in contenders}
    per_step: dict[str, list[float]] = {c.key: [] for c in contenders}
    for r in range(args.rounds):
        order = contenders[r % len(contenders) :] + contenders[: r % len(contenders)]
        for c in order:
            times = time_block(trainers[c.key].step, steps[c.key])
            rounds[c.key].append(sum(times) / len(times) * 1e6)
            per_step[c.key].extend(times)

    ref_median = statistics.median(rounds[REFERENCE])
    ref_first = statistics.median(first[REFERENCE]) if REFERENCE in first else None
    for c in contenders:
        res = out["contenders"][c.key]
        samples = np.asarray(per_step[c.key]) * 1e6
        res.update(
            steps_per_block=steps[c.key],
            rounds_us=rounds[c.key],
            median_us=statistics.median(rounds[c.key]),
            min_us=min(rounds[c.key]),
            p50_step_us=float(np.percentile(samples, 50)),
            p99_step_us=float(np.percentile(samples, 99)),
            ratio=statistics.median(rounds[c.key]) / ref_median,
            paired_ratio=statistics.median(
                a / b for a, b in zip(rounds[c.key], rounds[REFERENCE], strict=True)
            ),
        )
        if c.key in first:
            res["first_call_ms"] = first[c.key]
            res["second_call_ms"] = second[c.key]
            res["median_first_call_ms"] = statistics.median(first[c.key])
            res["median_second_call_ms"] = statistics.median(second[c.key])
            if ref_first:
                res["first_call_ratio"] = res["median_first_call_ms"] / ref_first
                res["first_two_calls_ratio"] = (
                    res["median_first_call_ms"] + res["median_second_call_ms"]
                ) / (ref_first + statistics.median(second[REFERENCE]))
        if c.key in compiles_first_two:
            res["compiles_in_first_two_calls"] = compiles_first_two[c.key]
        if c.key in compiles_before:
            res["recompiled_while_timing"] = trainers[c.key].compiles() - compiles_before[c.key]
    print_case(out, contenders)
    return out


def print_case(out: dict, contenders: list[Contender]) -> None:
    rows = out["contenders"]
    print(
        f"{'contender':28s} {'µs/step':>9s} {'× JAX':>6s} {'paired':>6s} {'min':>8s} "
        f"{'p99/p50':>7s} {'steps':>6s} {'1st call ms':>11s} {'× JAX':>6s} {'2nd call ms':>11s}"
    )
    for c in contenders:
        r = rows[c.key]
        line = (
            f"{c.label:28s} {r['median_us']:9.1f} {r['ratio']:6.2f} {r['paired_ratio']:6.2f} "
            f"{r['min_us']:8.1f} {r['p99_step_us'] / r['p50_step_us']:7.2f} "
            f"{r['steps_per_block']:6d}"
        )
        if "median_first_call_ms" in r:
            line += (
                f" {r['median_first_call_ms']:11.1f} {r.get('first_call_ratio', 0):6.2f}"
                f" {r['median_second_call_ms']:11.2f}"
            )
        if not r["loss_ok"]:
            line += "  (LOSS MISMATCH)"
        if r.get("recompiled_while_timing"):
            line += f"  (recompiled {r['recompiled_while_timing']}x while timing)"
        print(line)
    if "axon-jit" in rows and "first_call_ratio" in rows["axon-jit"]:
        r = rows["axon-jit"]
        print(
            f"axon.jit / pure JAX: step {r['ratio']:.2f}x; first call (trace + compile + one "
            f"step) {r['first_call_ratio']:.2f}x; first two calls "
            f"{r['first_two_calls_ratio']:.2f}x ({r['compiles_in_first_two_calls']} "
            f"compilations in them)"
        )

    if "axon-eager" in rows and "torch" in rows:
        eager = rows["axon-eager"]["median_us"] / rows["torch"]["median_us"]
        print(f"axon eager / PyTorch eager: {eager:.2f}x")


def parse_args(argv):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument(
        "--cases",
        default="tiny,mlp",
        help=f"comma-separated, from {', '.join(CASES)} or 'all' (default tiny,mlp)",
    )
    p.add_argument(
        "--contenders",
        default="all",
        help=f"comma-separated, from {', '.join(c.key for c in CONTENDERS)} "
        f"(pure JAX always runs: it is the reference)",
    )
    p.add_argument("--rounds", type=int, default=7, help="timing rounds (default 7)")
    p.add_argument(
        "--steps",
        type=int,
        default=None,
        help="steps per contender per round (default: about --block-seconds worth)",
    )
    p.add_argument(
        "--block-seconds",
        type=float,
        default=0.2,
        help="target length of one contender's block when --steps is not given",
    )
    p.add_argument(
        "--compile-rounds",
        type=int,
        default=3,
        help="fresh jitted steps built per contender to time the first call",
    )
    p.add_argument(
        "--torch-threads",
        type=int,
        default=None,
        help="torch.set_num_threads before running (default: torch's own choice)",
    )
    p.add_argument("--json", type=Path, default=None, help="write raw results here")
    p.add_argument(
        "--smoke",
        action="store_true",
        help="two steps per contender and the loss check, no timing (for CI)",
    )
    return p.parse_args(argv)


def main(argv: list[str] | None = None) -> dict:
    """Run the benchmark; return (and optionally write) the results as a dict."""
    args = parse_args(argv)
    names = list(CASES) if args.cases == "all" else [s.strip() for s in args.cases.split(",")]
    unknown = [n for n in names if n not in CASES]
    if unknown:
        raise SystemExit(f"unknown case(s) {unknown}; choose from {list(CASES)}")
    wanted = None if args.contenders == "all" else set(args.contenders.split(",")) | {REFERENCE}
    known = {c.key for c in CONTENDERS}
    if wanted and wanted - known:
        raise SystemExit(f"unknown contender(s) {sorted(wanted - known)}; choose from {known}")

    if args.torch_threads and importable("torch"):
        import torch

        torch.set_num_threads(args.torch_threads)
    info = machine_info()
    results: dict = {
        "machine": info,
        "argv": sys.argv[1:] if argv is None else list(argv),
        "settings": {
            "lr": LR,
            "rounds": args.rounds,
            "steps": args.steps,
            "block_seconds": args.block_seconds,
            "smoke": args.smoke,
            "torch_threads": args.torch_threads,
            "compile_rounds": args.compile_rounds,
        },
        "skipped_contenders": {},
        "cases": {},
    }
    contenders = []
    for c in CONTENDERS:
        if wanted is not None and c.key not in wanted:
            continue
        if not importable(c.needs):
            why = f"{c.needs} not installed; pip install -e '.[bench]'"
            results["skipped_contenders"][c.key] = why
            print(f"{c.label}: skipped ({why})")
            continue
        contenders.append(c)

    print(
        f"jax {info['jax']} ({info['jax_backend']}), flax {info['flax']}, equinox "
        f"{info['equinox']}, torch {info['torch']} ({info.get('torch_threads')} threads); "
        f"{info['cpus_usable']} usable CPUs ({info['cpu_model']}); "
        + (
            "smoke run, no timing"
            if args.smoke
            else f"median of {args.rounds} interleaved rounds; first call: median of "
            f"{args.compile_rounds}"
        )
    )
    for name in names:
        case = CASES[name]
        print(f"\n[{case.name}] {case.title}")
        if case.skip:
            print(f"  skipped ({case.skip})")
            results["cases"][name] = {"title": case.title, "status": "skipped", "reason": case.skip}
            continue
        results["cases"][name] = run_case(case, contenders, args)

    if args.json:
        args.json.write_text(json.dumps(results, indent=1))
        print(f"\nwrote {args.json}")
    return results


if __name__ == "__main__":
    res = main()
    bad = [
        f"{case}/{key}"
        for case, r in res["cases"].items()
        for key, c in r.get("contenders", {}).items()
        if not c["loss_ok"]
    ]
    sys.exit(1 if bad else 0)
