"""CPU convolutions: ways of writing one conv in JAX, timed against PyTorch in one process.

Every contender computes one conv forward and backward: `jax.jit` of `jax.vjp` with a fixed
random cotangent for the JAX formulations (the gradient with respect to x and w, and b for the
`+bias+relu` cases, which add a bias and a ReLU after the conv), `out.backward(g)` after
`F.conv2d` for PyTorch (the anchor). `--cotangent ones` feeds ones instead, i.e. the gradient
of `out.sum()`: XLA then folds the broadcast ones into the backward pass, which changes what it
fuses (the depthwise "shifts" formulation gets about 6x slower), so the default is a cotangent as
inside a network. Before timing, each formulation's output and gradients must match PyTorch's
within 1e-4 (relative to the largest value). Timing runs in interleaved rounds: each round
times one block of calls per contender (about `--block-ms`), each call waiting for its result,
the contenders' order rotating from round to round; the table gives the median ms per call
over rounds and the medians over rounds of the per-round ratios to PyTorch and to `xla_nchw`.

Formulations (all in PyTorch's NCHW/OIHW layouts at the boundary unless marked "data NHWC"):

    xla_nchw       lax.conv_general_dilated with NCHW/OIHW/NCHW dimension numbers (the baseline)
    xla_3d         the same as a 3-D conv with a unit depth (XLA then skips YNNPACK)
    xla_nhwc       transpose to NHWC/HWIO inside the jit, conv, transpose the result back
    xla_nhwc_data  the data are NHWC/HWIO already (no transposes): the cost of the transposes
    patches_nchw   lax.conv_general_dilated_patches (NCHW) then one einsum (im2col)
    patches_nhwc   the same with NHWC patches
    slices_nchw    im2col from k·k strided slices of the padded input, stacked, one einsum
    slices_nhwc    the same in NHWC: (N·Ho·Wo, k·k·C) @ (k·k·C, O), transposes inside the jit
    slices_nhwc_data   the same on NHWC data (no transposes)
    matmul         1×1 convs only: one einsum over the channels
    shifts         depthwise only: Σ over the k·k shifts of x_shift · w[:, shift] (no dot)
    *_remat        slices_nchw / shifts under jax.checkpoint (backward keeps x, not k·k views)
    axon           `axon.functional._conv_impl.conv_nd`, the library's per-shape choice

patches_* and xla_3d (2-15x slower than xla_nchw) and *_remat run only when named in
--formulations.

The `cnn` case is a whole training step (Conv2d 1→32 3×3 pad 1, ReLU, MaxPool 2, Conv2d 32→64
3×3 pad 1, ReLU, MaxPool 2, Linear 3136→10, cross-entropy, SGD lr 0.01, batch 64 of 28×28) in
pure JAX with each generic formulation, against PyTorch eager; the losses of the first 3 steps
must match. "+rpool" rows pool with a reshape and a max instead of `lax.reduce_window`.

XLA's CPU flags are read once at process start, so `--flags-sweep` reruns this script in one
subprocess per `XLA_FLAGS` value (FLAG_SETS; `--flag-sets` picks some) and prints each
formulation's ratio to PyTorch as measured in that subprocess.

On a machine shared with other jobs, `--cpus 1 --clock cpu` pins the process (XLA and torch) to
one CPU and measures CPU time, which other processes do not inflate; wall-clock times with two
threads each are dominated by descheduled threads there.

    .venv/bin/python scripts/benchmarks/conv_cpu.py --cpus 1 --clock cpu      # all cases
    .venv/bin/python scripts/benchmarks/conv_cpu.py --cases 3x3,cnn --rounds 5 --json /tmp/c.json
    .venv/bin/python scripts/benchmarks/conv_cpu.py --flags-sweep --formulations xla_nchw,axon
"""

from __future__ import annotations

import argparse
import datetime
import itertools
import json
import os
import platform
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field

import jax
import jax.numpy as jnp
import numpy as np
import torch
import torch.nn.functional as TF

from axon.functional._conv_impl import conv_nd as axon_conv_nd

ANCHOR = "torch"
CHECK_TOL = 1e-4
SGD_LR = 0.01


# ----------------------------------------------------------------------------- cases
@dataclass(frozen=True)
class Case:
    n: int
    c_in: int
    size: tuple[int, int]
    c_out: int
    kernel: tuple[int, int]
    stride: tuple[int, int] = (1, 1)
    padding: tuple[int, int] = (0, 0)
    dilation: tuple[int, int] = (1, 1)
    groups: int = 1
    epilogue: bool = False  # + bias, then ReLU

    @property
    def pads(self) -> tuple[tuple[int, int], ...]:
        return tuple((p, p) for p in self.padding)

    def describe(self) -> str:
        extra = [
            f"{name} {value}"
            for name, value, default in (
                ("stride", self.stride, (1, 1)),
                ("padding", self.padding, (0, 0)),
                ("dilation", self.dilation, (1, 1)),
                ("groups", self.groups, 1),
            )
            if value != default
        ]
        if self.epilogue:
            extra.append("+ bias + ReLU")
        k = "×".join(map(str, self.kernel))
        h, w = self.size
        return f"x {self.n}×{self.c_in}×{h}×{w}, {self.c_in}→{self.c_out} {k}" + (
            ", " + ", ".join(extra) if extra else ""
        )


CASES: dict[str, Case] = {
    "3x3": Case(64, 32, (14, 14), 64, (3, 3), padding=(1, 1)),
    "first": Case(64, 1, (28, 28), 32, (3, 3), padding=(1, 1)),
    "5x5": Case(64, 16, (28, 28), 32, (5, 5), padding=(2, 2)),
    "stride2": Case(64, 32, (28, 28), 64, (3, 3), stride=(2, 2), padding=(1, 1)),
    "depthwise": Case(64, 64, (14, 14), 64, (3, 3), padding=(1, 1), groups=64),
    "1x1": Case(64, 64, (14, 14), 128, (1, 1)),
    "3x3+bias+relu": Case(64, 32, (14, 14), 64, (3, 3), padding=(1, 1), epilogue=True),
    "first+bias+relu": Case(64, 1, (28, 28), 32, (3, 3), padding=(1, 1), epilogue=True),
}
ALL_CASES = (*CASES, "cnn")


# ----------------------------------------------------------------------------- formulations
def xla_conv(x, w, case: Case, layout=("NCHW", "OIHW", "NCHW")):
    return jax.lax.conv_general_dilated(
        x, w, case.stride, case.pads, rhs_dilation=case.dilation, dimension_numbers=layout,
        feature_group_count=case.groups,
    )  # fmt: skip


def to_nhwc(x):
    return jnp.transpose(x, (0, 2, 3, 1))  # (N, C, H, W) -> (N, H, W, C)


def to_nchw(x):
    return jnp.transpose(x, (0, 3, 1, 2))  # (N, H, W, C) -> (N, C, H, W)


def to_hwio(w):
    return jnp.transpose(w, (2, 3, 1, 0))  # (O, I, kH, kW) -> (kH, kW, I, O)


def xla_3d(x, w, case):
    """The 2-D conv as a 3-D one with a unit leading spatial dim (N, C, 1, H, W): XLA's CPU
    backend hands only 2-D windows to YNNPACK, so this runs on its Eigen convolution."""
    out = jax.lax.conv_general_dilated(
        x[:, :, None], w[:, :, None], (1, *case.stride), ((0, 0), *case.pads),
        rhs_dilation=(1, *case.dilation), dimension_numbers=("NCDHW", "OIDHW", "NCDHW"),
        feature_group_count=case.groups,
    )  # fmt: skip  # (N, O, 1, Ho, Wo)
    return out[:, :, 0]


def xla_nhwc(x, w, case):
    out = xla_conv(to_nhwc(x), to_hwio(w), case, ("NHWC", "HWIO", "NHWC"))
    return to_nchw(out)


def xla_nhwc_data(x, w, case):
    return xla_conv(x, w, case, ("NHWC", "HWIO", "NHWC"))


def out_size(case: Case) -> tuple[int, int]:
    return tuple(
        (s + 2 * p - d * (k - 1) - 1) // st + 1
        for s, p, d, k, st in zip(
            case.size, case.padding, case.dilation, case.kernel, case.stride, strict=True
        )
    )


def shifted_slices(xp, case: Case, spatial_axes: tuple[int, int]):
    """The k·k strided views of the padded input, one per kernel offset (row-major)."""
    ho, wo = out_size(case)
    (sh, sw), (dh, dw) = case.stride, case.dilation
    views = []
    for i, j in itertools.product(range(case.kernel[0]), range(case.kernel[1])):
        start = [0] * xp.ndim
        limit = list(xp.shape)
        strides = [1] * xp.ndim
        ah, aw = spatial_axes
        start[ah], limit[ah], strides[ah] = i * dh, i * dh + (ho - 1) * sh + 1, sh
        start[aw], limit[aw], strides[aw] = j * dw, j * dw + (wo - 1) * sw + 1, sw
        views.append(jax.lax.slice(xp, start, limit, strides))
    return views


def slices_nchw(x, w, case):
    xp = jnp.pad(x, ((0, 0), (0, 0), *case.pads))
    cols = jnp.stack(shifted_slices(xp, case, (2, 3)), axis=2)  # (N, C, K, Ho, Wo)
    n, c, k, ho, wo = cols.shape
    g = case.groups
    cols = cols.reshape(n, g, c // g, k, ho, wo)  # (N, G, C/G, K, Ho, Wo)
    wg = w.reshape(g, -1, c // g, k)  # (G, O/G, C/G, K)
    out = jnp.einsum("ngckhw,gock->ngohw", cols, wg)  # (N, G, O/G, Ho, Wo)
    return out.reshape(n, -1, ho, wo)


def slices_nhwc_data(x, w, case):
    xp = jnp.pad(x, ((0, 0), *case.pads, (0, 0)))
    cols = jnp.concatenate(shifted_slices(xp, case, (1, 2)), axis=-1)  # (N, Ho, Wo, K·C)
    n, ho, wo, _ = cols.shape
    kh, kw, cg, o = w.shape
    g = case.groups
    if g == 1:
        return jnp.dot(cols, w.reshape(kh * kw * cg, o))  # (N, Ho, Wo, O)
    cols = cols.reshape(n, ho, wo, kh * kw, g, cg)  # (N, Ho, Wo, K, G, C/G)
    wg = w.reshape(kh * kw, cg, g, o // g)  # (K, C/G, G, O/G)
    out = jnp.einsum("nhwkgc,kcgo->nhwgo", cols, wg)  # (N, Ho, Wo, G, O/G)
    return out.reshape(n, ho, wo, o)


def slices_nhwc(x, w, case):
    return to_nchw(slices_nhwc_data(to_nhwc(x), to_hwio(w), case))


def patches(x, case, layout):
    return jax.lax.conv_general_dilated_patches(
        x, case.kernel, case.stride, case.pads, rhs_dilation=case.dilation,
        dimension_numbers=(layout, "OIHW", layout),
    )  # fmt: skip


def patches_nchw(x, w, case):
    cols = patches(x, case, "NCHW")  # (N, C·K, Ho, Wo), C major
    n, _, ho, wo = cols.shape
    g = case.groups
    cols = cols.reshape(n, g, -1, ho, wo)  # (N, G, C/G·K, Ho, Wo)
    wg = w.reshape(g, w.shape[0] // g, -1)  # (G, O/G, C/G·K)
    out = jnp.einsum("ngkhw,gok->ngohw", cols, wg)
    return out.reshape(n, -1, ho, wo)


def patches_nhwc(x, w, case):
    cols = patches(to_nhwc(x), case, "NHWC")  # (N, Ho, Wo, C·K), C major
    n, ho, wo, _ = cols.shape
    g = case.groups
    cols = cols.reshape(n, ho, wo, g, -1)  # (N, Ho, Wo, G, C/G·K)
    wg = w.reshape(g, w.shape[0] // g, -1)  # (G, O/G, C/G·K)
    out = jnp.einsum("nhwgk,gok->nhwgo", cols, wg)
    return to_nchw(out.reshape(n, ho, wo, -1))


def matmul(x, w, case):
    return jnp.einsum("nchw,oc->nohw", x, w[:, :, 0, 0])


def shifts(x, w, case):
    xp = jnp.pad(x, ((0, 0), (0, 0), *case.pads))
    mult = case.c_out // case.c_in
    views = shifted_slices(xp, case, (2, 3))  # K × (N, C, Ho, Wo)
    if mult > 1:
        views = [jnp.repeat(v, mult, axis=1) for v in views]
    taps = w.reshape(case.c_out, -1)  # (O, K)
    out = views[0] * taps[:, 0].reshape(1, -1, 1, 1)
    for t, v in enumerate(views[1:], start=1):
        out = out + v * taps[:, t].reshape(1, -1, 1, 1)
    return out


def axon_conv(x, w, case):
    return axon_conv_nd(x, w, case.stride, case.pads, case.dilation, case.groups)


def remat(conv):
    """The same formulation under `jax.checkpoint`: only x and w are kept for the backward
    pass (im2col and shifts otherwise keep prod(kernel) shifted copies of x)."""
    return lambda x, w, case: jax.checkpoint(lambda x, w: conv(x, w, case))(x, w)


def _is_1x1(c: Case) -> bool:
    return c.kernel == (1, 1) and c.stride == (1, 1) and c.padding == (0, 0) and c.groups == 1


@dataclass(frozen=True)
class Formulation:
    conv: Callable
    data_nhwc: bool = False  # x given as NHWC, w as HWIO, result NHWC
    applies: Callable[[Case], bool] = field(default=lambda case: True)


FORMULATIONS: dict[str, Formulation] = {
    "xla_nchw": Formulation(xla_conv),
    "xla_3d": Formulation(xla_3d),
    "xla_nhwc": Formulation(xla_nhwc),
    "xla_nhwc_data": Formulation(xla_nhwc_data, data_nhwc=True),
    "patches_nchw": Formulation(patches_nchw),
    "patches_nhwc": Formulation(patches_nhwc),
    "slices_nchw": Formulation(slices_nchw),
    "slices_nhwc": Formulation(slices_nhwc),
    "slices_nhwc_data": Formulation(slices_nhwc_data, data_nhwc=True),
    "matmul": Formulation(matmul, applies=_is_1x1),
    "shifts": Formulation(shifts, applies=lambda c: c.groups == c.c_in and c.groups > 1),
    "slices_nchw_remat": Formulation(remat(slices_nchw)),
    "shifts_remat": Formulation(
        remat(shifts), applies=lambda c: c.groups == c.c_in and c.groups > 1
    ),
    "axon": Formulation(axon_conv),
}
# patches_* and xla_3d are 2-15x slower than xla_nchw, and the *_remat variants answer a memory
# question: all three run only when named in --formulations.
DEFAULT_FORMULATIONS = tuple(
    name
    for name in FORMULATIONS
    if not name.startswith("patches") and "remat" not in name and name != "xla_3d"
)
GENERIC = ("xla_nchw", "xla_nhwc", "xla_nhwc_data", "patches_nchw", "patches_nhwc",
           "slices_nchw", "slices_nhwc", "slices_nhwc_data", "axon")  # fmt: skip


# ----------------------------------------------------------------------------- conv contenders
def make_data(case: Case, seed: int = 0):
    rng = np.random.default_rng(seed)
    h, w = case.size
    x = rng.standard_normal((case.n, case.c_in, h, w), dtype=np.float32)
    fan_in = case.c_in // case.groups * case.kernel[0] * case.kernel[1]
    wt = rng.uniform(-1, 1, (case.c_out, case.c_in // case.groups, *case.kernel))
    b = rng.uniform(-1, 1, case.c_out) / np.sqrt(fan_in)
    return x, (wt / np.sqrt(fan_in)).astype(np.float32), b.astype(np.float32)


def cotangent(case: Case, kind: str):
    """The gradient fed back into the conv's output: "random" (fixed normal draws, as inside a
    network) or "ones" (the gradient of `out.sum()`)."""
    h, w = out_size(case)
    shape = (case.n, case.c_out, h, w)
    if kind == "ones":
        return np.ones(shape, np.float32)
    return np.random.default_rng(1).standard_normal(shape, dtype=np.float32)


def torch_conv_step(case: Case, x, w, b, g):
    xt = torch.tensor(x, requires_grad=True)
    wt = torch.tensor(w, requires_grad=True)
    bt = torch.tensor(b, requires_grad=True) if case.epilogue else None
    gt = torch.tensor(g)

    def forward():
        out = TF.conv2d(xt, wt, bt, case.stride, case.padding, case.dilation, case.groups)
        return TF.relu(out) if case.epilogue else out

    def step():
        xt.grad = wt.grad = None
        if bt is not None:
            bt.grad = None
        out = forward()
        out.backward(gt)
        return out

    def results():
        out = step()
        grads = [xt.grad, wt.grad] + ([bt.grad] if bt is not None else [])
        return out.detach().numpy(), [g.numpy() for g in grads]

    return step, results


def jax_conv_step(case: Case, form: Formulation, x, w, b, g):
    """A jitted forward + backward (`jax.vjp` with cotangent g) and a function giving
    (out, grads) in NCHW/OIHW."""
    xj, wj, bj, gj = jnp.asarray(x), jnp.asarray(w), jnp.asarray(b), jnp.asarray(g)
    if form.data_nhwc:
        xj, wj, gj = to_nhwc(xj), to_hwio(wj), to_nhwc(gj)
    bias_shape = (1, 1, 1, -1) if form.data_nhwc else (1, -1, 1, 1)

    def forward(xj, wj, bj):
        out = form.conv(xj, wj, case)
        if case.epilogue:
            out = jax.nn.relu(out + bj.reshape(bias_shape))
        return out

    @jax.jit
    def fwd_bwd(xj, wj, bj, gj):
        if case.epilogue:
            out, vjp = jax.vjp(forward, xj, wj, bj)
        else:
            out, vjp = jax.vjp(lambda x, w: forward(x, w, bj), xj, wj)
        return out, vjp(gj)

    def step():
        return fwd_bwd(xj, wj, bj, gj)

    def results():
        out, grads = fwd_bwd(xj, wj, bj, gj)
        grads = list(grads)
        if form.data_nhwc:
            out, grads[0] = to_nchw(out), to_nchw(grads[0])
            grads[1] = jnp.transpose(grads[1], (3, 2, 0, 1))  # HWIO -> OIHW
        return np.asarray(out), [np.asarray(g) for g in grads]

    def hlo():
        return fwd_bwd.lower(xj, wj, bj, gj).compile().as_text()

    return step, results, hlo


def check_close(name: str, got, ref) -> None:
    got_out, got_grads = got
    ref_out, ref_grads = ref
    labels = ["out", "grad x", "grad w", "grad b"]
    for label, g, r in zip(labels, [got_out, *got_grads], [ref_out, *ref_grads], strict=False):
        scale = max(float(np.abs(r).max()), 1.0)
        np.testing.assert_allclose(
            g, r, rtol=CHECK_TOL, atol=CHECK_TOL * scale, err_msg=f"{name}: {label}"
        )


def fusion_summary(hlo_text: str) -> str:
    """Which ops share a fused computation with the forward conv / dot (bias + ReLU fusion)."""
    comps: dict[str, list[str]] = {}
    current = None
    for line in hlo_text.splitlines():
        stripped = line.strip()
        if stripped.endswith("{") and not stripped.startswith("ROOT") and "=" not in stripped:
            current = stripped.split()[0].lstrip("%")
            comps[current] = []
        elif current and "=" in stripped:
            rhs = stripped.split("=", 1)[1].split("(")[0].split()
            if rhs:
                comps[current].append(rhs[-1])
    found = []
    for name, ops in comps.items():
        if name.startswith("ENTRY") or name == "ENTRY":
            continue
        heavy = [op for op in ops if op in ("convolution", "dot")]
        if heavy and any(op in ("add", "maximum") for op in ops):
            found.append(f"{name}: {'+'.join(sorted(set(ops) - {'parameter'}))}")
    return "; ".join(found) if found else "conv/dot not fused with add or maximum"


# ----------------------------------------------------------------------------- CNN step
CNN_BATCH = 64


def cnn_data(seed: int = 0):
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((CNN_BATCH, 1, 28, 28), dtype=np.float32)
    y = rng.integers(0, 10, CNN_BATCH)
    return x, y


def torch_cnn():
    torch.manual_seed(0)
    return torch.nn.Sequential(
        torch.nn.Conv2d(1, 32, 3, padding=1),
        torch.nn.ReLU(),
        torch.nn.MaxPool2d(2),
        torch.nn.Conv2d(32, 64, 3, padding=1),
        torch.nn.ReLU(),
        torch.nn.MaxPool2d(2),
        torch.nn.Flatten(),
        torch.nn.Linear(64 * 7 * 7, 10),
    )


def torch_cnn_step(x, y):
    model = torch_cnn()
    opt = torch.optim.SGD(model.parameters(), lr=SGD_LR)
    xt, yt = torch.tensor(x), torch.tensor(y)

    def step():
        opt.zero_grad()
        loss = TF.cross_entropy(model(xt), yt)
        loss.backward()
        opt.step()
        return loss

    return step, lambda: step().item()


CNN_CASES = (
    Case(CNN_BATCH, 1, (28, 28), 32, (3, 3), padding=(1, 1)),
    Case(CNN_BATCH, 32, (14, 14), 64, (3, 3), padding=(1, 1)),
)


def max_pool_2x2(h, nhwc: bool):
    """Non-overlapping 2×2 max pooling as a reshape and a max (gradient: a mask compare instead
    of reduce_window's select_and_scatter)."""
    if nhwc:
        n, hh, ww, c = h.shape
        return h.reshape(n, hh // 2, 2, ww // 2, 2, c).max(axis=(2, 4))  # (N, H/2, W/2, C)
    n, c, hh, ww = h.shape
    return h.reshape(n, c, hh // 2, 2, ww // 2, 2).max(axis=(3, 5))  # (N, C, H/2, W/2)


def jax_cnn_step(form: Formulation, x, y, pool: str = "window"):
    sd = {k: jnp.asarray(v.detach().numpy()) for k, v in torch_cnn().state_dict().items()}
    params = {
        "w1": sd["0.weight"], "b1": sd["0.bias"], "w2": sd["3.weight"], "b2": sd["3.bias"],
        "wl": sd["7.weight"], "bl": sd["7.bias"],
    }  # fmt: skip
    nhwc = form.data_nhwc
    if nhwc:
        params["w1"], params["w2"] = to_hwio(params["w1"]), to_hwio(params["w2"])
    xj, yj = jnp.asarray(x), jnp.asarray(y)
    if nhwc:
        xj = to_nhwc(xj)
    bias_shape = (1, 1, 1, -1) if nhwc else (1, -1, 1, 1)
    window = (1, 2, 2, 1) if nhwc else (1, 1, 2, 2)

    def block(h, w, b, case):
        h = jax.nn.relu(form.conv(h, w, case) + b.reshape(bias_shape))
        if pool == "reshape":
            return max_pool_2x2(h, nhwc)
        return jax.lax.reduce_window(h, -jnp.inf, jax.lax.max, window, window, "VALID")

    def loss_fn(p, xj, yj):
        h = block(xj, p["w1"], p["b1"], CNN_CASES[0])  # (N, 32, 14, 14)
        h = block(h, p["w2"], p["b2"], CNN_CASES[1])  # (N, 64, 7, 7)
        if nhwc:
            h = to_nchw(h)  # flatten in torch's (C, H, W) order
        logits = h.reshape(h.shape[0], -1) @ p["wl"].T + p["bl"]  # (N, 10)
        logp = jax.nn.log_softmax(logits)
        return -jnp.take_along_axis(logp, yj[:, None], axis=1).mean()

    @jax.jit
    def train_step(p, xj, yj):
        loss, grads = jax.value_and_grad(loss_fn)(p, xj, yj)
        return jax.tree.map(lambda a, g: a - SGD_LR * g, p, grads), loss

    state = {"p": params}

    def step():
        state["p"], loss = train_step(state["p"], xj, yj)
        return loss

    return step, lambda: float(step())


# ----------------------------------------------------------------------------- timing
def sync(out) -> None:
    if not isinstance(out, torch.Tensor):
        jax.block_until_ready(out)


CLOCKS = {"wall": time.perf_counter, "cpu": time.process_time}
_clock = CLOCKS["wall"]


def block_time(step, iters: int) -> float:
    """ms per call over one block, each call waiting for its result."""
    start = _clock()
    for _ in range(iters):
        sync(step())
    return (_clock() - start) / iters * 1e3


def time_interleaved(steps: dict[str, Callable], rounds: int, block_ms: float):
    for step in steps.values():  # compile and warm up
        for _ in range(3):
            sync(step())
    iters = {name: max(1, round(block_ms / block_time(step, 2))) for name, step in steps.items()}
    times: dict[str, list[float]] = {name: [] for name in steps}
    names = list(steps)
    for r in range(rounds):
        shift = r % len(names)
        for name in names[shift:] + names[:shift]:
            times[name].append(block_time(steps[name], iters[name]))
    return times


BASELINE = "xla_nchw"


def paired(t: list[float], ref: list[float] | None) -> float:
    """Median over rounds of the per-round ratio t / ref."""
    if ref is None:
        return float("nan")
    return statistics.median(a / b for a, b in zip(t, ref, strict=True))


def summarize(times: dict[str, list[float]]) -> dict[str, dict[str, float]]:
    return {
        name: {
            "median_ms": statistics.median(t),
            "min_ms": min(t),
            "x_torch": paired(t, times[ANCHOR]),
            "x_baseline": paired(t, times.get(BASELINE)),
        }
        for name, t in times.items()
    }


# ----------------------------------------------------------------------------- main
def run_conv_case(name: str, case: Case, forms: list[str], rounds: int, block_ms: float, cot: str):
    x, w, b = make_data(case)
    g = cotangent(case, cot)
    torch_step, torch_results = torch_conv_step(case, x, w, b, g)
    ref = torch_results()
    steps = {ANCHOR: torch_step}
    notes = {}
    for fname in forms:
        form = FORMULATIONS[fname]
        if not form.applies(case):
            continue
        step, results, hlo = jax_conv_step(case, form, x, w, b, g)
        check_close(f"{name}/{fname}", results(), ref)
        steps[fname] = step
        if case.epilogue:
            notes[fname] = fusion_summary(hlo())
    return time_interleaved(steps, rounds, block_ms), notes


# Formulations also timed in the CNN with max pooling as reshape + max ("+rpool").
RESHAPE_POOL = ("xla_nchw", "axon")


def run_cnn(forms: list[str], rounds: int, block_ms: float):
    x, y = cnn_data()
    torch_step, torch_losses = torch_cnn_step(x, y)
    ref = [torch_losses() for _ in range(3)]
    steps = {ANCHOR: torch_cnn_step(x, y)[0]}
    variants = [(f, "window") for f in forms]
    variants += [(f, "reshape") for f in forms if f in RESHAPE_POOL]
    for fname, pool in variants:
        form = FORMULATIONS[fname]
        if fname not in GENERIC or not form.applies(CNN_CASES[0]):
            continue
        label = fname + ("+rpool" if pool == "reshape" else "")
        step, losses = jax_cnn_step(form, x, y, pool)
        got = [losses() for _ in range(3)]
        np.testing.assert_allclose(got, ref, rtol=CHECK_TOL, atol=CHECK_TOL, err_msg=label)
        steps[label] = jax_cnn_step(form, x, y, pool)[0]
    return time_interleaved(steps, rounds, block_ms)


def machine_info() -> dict:
    return {
        "date_utc": datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%d %H:%M"),
        "jax": jax.__version__,
        "jaxlib": jax.lib.__version__ if hasattr(jax.lib, "__version__") else jax.__version__,
        "torch": torch.__version__,
        "torch_threads": torch.get_num_threads(),
        "python": platform.python_version(),
        "cpus": os.cpu_count(),
        "usable_cpus": len(os.sched_getaffinity(0)),
        "XLA_FLAGS": os.environ.get("XLA_FLAGS", ""),
        "loadavg_start": os.getloadavg()[0],
        "clock": "cpu (process time)" if _clock is time.process_time else "wall",
    }


def print_table(title: str, summary: dict[str, dict[str, float]], notes: dict[str, str]):
    print(f"\n{title}")
    head = (
        f"{'contender':18s} {'ms (median)':>12s} {'min ms':>8s} {'× torch':>8s} {'× xla_nchw':>10s}"
    )
    print("  " + head)
    for name, s in sorted(summary.items(), key=lambda kv: kv[1]["x_torch"]):
        note = f"   [{notes[name]}]" if name in notes else ""
        print(
            f"  {name:18s} {s['median_ms']:12.2f} {s['min_ms']:8.2f} {s['x_torch']:8.2f} "
            f"{s['x_baseline']:10.2f}{note}"
        )


def run_all(args) -> dict:
    forms = args.formulations.split(",") if args.formulations else list(DEFAULT_FORMULATIONS)
    unknown = sorted(set(forms) - set(FORMULATIONS))
    if unknown:
        raise SystemExit(f"unknown formulations {unknown}; choose from {list(FORMULATIONS)}")
    info = machine_info()
    print(
        f"{info['date_utc']} UTC, jax {info['jax']}, torch {info['torch']} "
        f"({info['torch_threads']} threads), {info['usable_cpus']} usable CPUs, "
        f"XLA_FLAGS={info['XLA_FLAGS']!r}; {info['clock']} clock, median of {args.rounds} "
        "interleaved rounds"
    )
    report = {"machine": info, "rounds": args.rounds, "cases": {}}
    for name in args.cases.split(","):
        if name == "cnn":
            times, notes = run_cnn(forms, args.rounds, args.block_ms), {}
            title = "cnn: training step (2 convs + ReLU + max pool, Linear, CE, SGD), batch 64"
        elif name in CASES:
            times, notes = run_conv_case(
                name, CASES[name], forms, args.rounds, args.block_ms, args.cotangent
            )
            title = f"{name}: {CASES[name].describe()} (forward + backward)"
        else:
            raise SystemExit(f"unknown case {name!r}; choose from {list(ALL_CASES)}")
        summary = summarize(times)
        print_table(title, summary, notes)
        report["cases"][name] = {"summary": summary, "rounds_ms": times, "fusion": notes}
    report["machine"]["loadavg_end"] = os.getloadavg()[0]
    print(
        f"\nload average (1 min): {info['loadavg_start']:.1f} at start, "
        f"{report['machine']['loadavg_end']:.1f} at end (2 CPUs: above 2, others were running)"
    )
    return report


# XLA_FLAGS values for --flags-sweep; each is checked by XLA at start-up (unknown flags abort).
# jaxlib 0.10.2's default YNNPACK list is individual_convolution, individual_dot, reduce.
FLAG_SETS = {
    "default": "",
    "ynn-conv-off": "--xla_cpu_experimental_ynn_fusion_type=-individual_convolution",
    "ynn-off": "--xla_cpu_experimental_ynn_fusion_type=",
    "ynn-all": "--xla_cpu_experimental_ynn_fusion_type=+dot,+eltwise",
    "xnn-graph": "--xla_cpu_experimental_xnn_graph_fusion_mode=XNN_GRAPH_FUSION_MODE_GREEDY",
    "onednn": "--xla_cpu_experimental_onednn_fusion_type=dot,eltwise",
    "eigen-1thread": "--xla_cpu_multi_thread_eigen=false",
    "xnnpack-off": "--xla_cpu_use_xnnpack=false",
    "fast-math": "--xla_cpu_enable_fast_math=true",
}


def flags_sweep(args) -> dict:
    import tempfile

    results = {}
    labels = args.flag_sets.split(",") if args.flag_sets else list(FLAG_SETS)
    unknown = sorted(set(labels) - set(FLAG_SETS))
    if unknown:
        raise SystemExit(f"unknown flag sets {unknown}; choose from {list(FLAG_SETS)}")
    for label in labels:
        flags = FLAG_SETS[label]
        with tempfile.NamedTemporaryFile(suffix=".json") as tmp:
            cmd = [sys.executable, os.path.abspath(__file__), "--rounds", str(args.rounds),
                   "--cases", args.cases, "--block-ms", str(args.block_ms),
                   "--json", tmp.name]  # fmt: skip
            if args.formulations:
                cmd += ["--formulations", args.formulations]
            if args.cpus:
                cmd += ["--cpus", str(args.cpus)]
            cmd += ["--cotangent", args.cotangent, "--clock", args.clock]
            env = dict(os.environ, XLA_FLAGS=flags)
            print(f"\n=== {label}: XLA_FLAGS={flags!r}", flush=True)
            proc = subprocess.run(cmd, env=env, capture_output=True, text=True)
            if proc.returncode:
                print(proc.stdout[-2000:], proc.stderr[-2000:])
                results[label] = {"flags": flags, "error": proc.stderr[-500:]}
                continue
            print(proc.stdout, flush=True)
            with open(tmp.name) as f:
                results[label] = {"flags": flags, **json.load(f)}
    print("\nSummary: × torch (median of per-round ratios) per flag set")
    cases = args.cases.split(",")
    for case in cases:
        print(f"\n{case}")
        for label, res in results.items():
            if "error" in res:
                print(f"  {label:28s} failed")
                continue
            summary = res["cases"][case]["summary"]
            cells = ", ".join(f"{n} {s['x_torch']:.2f}" for n, s in summary.items() if n != ANCHOR)
            print(f"  {label:28s} {cells}")
    return {"flag_sets": results}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--cases", default=",".join(ALL_CASES), help=f"from {list(ALL_CASES)}")
    parser.add_argument("--formulations", default=None, help=f"from {list(FORMULATIONS)}")
    parser.add_argument("--block-ms", type=float, default=150.0, help="time per timed block")
    parser.add_argument("--json", default=None, help="write per-round figures here")
    parser.add_argument(
        "--clock",
        choices=tuple(CLOCKS),
        default="wall",
        help="wall: elapsed time; cpu: this process's CPU time (all threads), which other "
        "processes on a loaded machine do not inflate (use with --cpus 1)",
    )
    parser.add_argument(
        "--cotangent",
        choices=("random", "ones"),
        default="random",
        help="gradient fed to the conv output: fixed random (default) or ones (= out.sum())",
    )
    parser.add_argument(
        "--cpus",
        type=int,
        default=None,
        help="pin the process to this many CPUs and torch to as many threads (XLA sizes its "
        "thread pool from the affinity mask); 1 keeps the comparison fair on a loaded machine",
    )
    parser.add_argument(
        "--flags-sweep", action="store_true", help="rerun in subprocesses per XLA_FLAGS value"
    )
    parser.add_argument(
        "--flag-sets", default=None, help=f"with --flags-sweep: from {list(FLAG_SETS)}"
    )
    args = parser.parse_args()
    global _clock
    _clock = CLOCKS[args.clock]
    if args.cpus:  # before jax starts its CPU client
        os.sched_setaffinity(0, sorted(os.sched_getaffinity(0))[: args.cpus])
        torch.set_num_threads(args.cpus)
    report = flags_sweep(args) if args.flags_sweep else run_all(args)
    if args.json:
        with open(args.json, "w") as f:
            json.dump(report, f, indent=1)


if __name__ == "__main__":
    main()
