"""axon.optim.lr_scheduler against torch.optim.lr_scheduler: the same learning rates, exactly.

Every schedule is evaluated by the same Python double-precision arithmetic as PyTorch's, so the
learning rates (and cycled momenta) are compared with `==`, step by step.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest
import torch
from helpers import assert_close
from optim_harness import counting, make_pair

import axon
from axon import optim
from axon.nn import Parameter
from axon.optim import lr_scheduler


def _groups(params, lrs=(0.1, 0.01)):
    return [{"params": params[:2], "lr": lrs[0]}, {"params": params[2:], "lr": lrs[1]}]


OPTIMIZERS = {
    "sgd": ("SGD", dict(momentum=0.9)),
    "adam": ("Adam", dict()),
}


def _optimizers(opt_id="sgd"):
    name, kwargs = OPTIMIZERS[opt_id]
    params, tparams = make_pair(np.float32)
    opt = getattr(optim, name)(_groups(params), **kwargs)
    topt = getattr(torch.optim, name)(_groups(tparams), **kwargs)
    topt.step()  # no grads: a no-op that tells torch's scheduler the optimizer has stepped
    return opt, topt


def _hyper(opt):
    """Everything a scheduler may set, group by group."""
    keys = ("lr", "initial_lr", "max_lr", "min_lr", "momentum", "betas", "max_momentum",
            "base_momentum")  # fmt: skip
    return [{k: g[k] for k in keys if k in g} for g in opt.param_groups]


def _assert_same(sched, tsched, opt, topt):
    assert sched.get_last_lr() == tsched.get_last_lr()
    assert all(type(lr) is float for lr in sched.get_last_lr())
    assert sched.last_epoch == tsched.last_epoch
    assert _hyper(opt) == _hyper(topt)


CONFIGS = [
    ("step", "StepLR", dict(step_size=7, gamma=0.5)),
    ("step-every", "StepLR", dict(step_size=1, gamma=0.9)),
    ("multistep", "MultiStepLR", dict(milestones=[3, 10, 10, 20], gamma=0.3)),
    ("exponential", "ExponentialLR", dict(gamma=0.9)),
    ("cosine", "CosineAnnealingLR", dict(T_max=10)),
    ("cosine-eta_min", "CosineAnnealingLR", dict(T_max=7, eta_min=0.001)),
    ("linear-default", "LinearLR", dict()),
    ("linear", "LinearLR", dict(start_factor=0.25, end_factor=0.5, total_iters=10)),
    ("onecycle-cos", "OneCycleLR", dict(max_lr=1.0, total_steps=31)),
    ("onecycle-linear", "OneCycleLR", dict(max_lr=1.0, total_steps=31,
                                           anneal_strategy="linear")),
    ("onecycle-three-phase", "OneCycleLR", dict(max_lr=[1.0, 0.3], total_steps=31,
                                                three_phase=True, pct_start=0.25)),
    ("onecycle-momenta", "OneCycleLR", dict(max_lr=0.5, epochs=3, steps_per_epoch=11,
                                            base_momentum=[0.8, 0.7], max_momentum=0.9,
                                            div_factor=10.0, final_div_factor=100.0)),
    ("onecycle-no-momentum", "OneCycleLR", dict(max_lr=1.0, total_steps=31,
                                                cycle_momentum=False)),
    ("onecycle-adam-betas", "OneCycleLR", dict(max_lr=0.01, total_steps=31), "adam"),
    ("onecycle-adam-three-phase", "OneCycleLR", dict(max_lr=0.01, total_steps=40,
                                                     three_phase=True), "adam"),
]  # fmt: skip


@pytest.mark.parametrize("config", CONFIGS, ids=[c[0] for c in CONFIGS])
def test_schedule_equals_torch_step_by_step(config):
    _, name, kwargs, *opt_id = config
    opt, topt = _optimizers(*opt_id)
    sched = getattr(lr_scheduler, name)(opt, **kwargs)
    tsched = getattr(torch.optim.lr_scheduler, name)(topt, **kwargs)
    _assert_same(sched, tsched, opt, topt)
    for _ in range(30):
        sched.step()
        tsched.step()
        _assert_same(sched, tsched, opt, topt)


def _plateau_metrics(mode):
    rng = np.random.default_rng(3)
    losses = [1.0 / (1 + t) for t in range(6)] + [0.15 + 0.01 * rng.random() for _ in range(24)]
    losses[14] = 0.05  # one late improvement
    return losses if mode == "min" else [1 - x for x in losses]


PLATEAU_CONFIGS = [
    ("default", dict()),
    ("patience", dict(patience=2, factor=0.5)),
    ("patience-0", dict(patience=0, factor=0.7)),
    ("cooldown", dict(patience=1, cooldown=3, factor=0.5)),
    ("abs-threshold", dict(patience=2, threshold=0.05, threshold_mode="abs")),
    ("max", dict(mode="max", patience=2)),
    ("max-abs", dict(mode="max", patience=1, threshold=0.01, threshold_mode="abs")),
    ("min_lr", dict(patience=0, factor=0.5, min_lr=0.004)),
    ("min_lr-per-group", dict(patience=0, factor=0.5, min_lr=[0.02, 0.001])),
    ("eps", dict(patience=0, factor=0.5, eps=0.004)),
]


@pytest.mark.parametrize("kwargs", [c[1] for c in PLATEAU_CONFIGS],
                         ids=[c[0] for c in PLATEAU_CONFIGS])  # fmt: skip
def test_reduce_on_plateau_equals_torch(kwargs):
    opt, topt = _optimizers()
    sched = lr_scheduler.ReduceLROnPlateau(opt, **kwargs)
    tsched = torch.optim.lr_scheduler.ReduceLROnPlateau(topt, **kwargs)
    metrics = _plateau_metrics(kwargs.get("mode", "min"))
    changes = 0
    for i, metric in enumerate(metrics):
        before = sched.get_last_lr()
        # the metric as a Python float, a jax scalar or a Variable: all read the same
        given = (metric, jnp.float32(metric), axon.Variable(jnp.asarray(metric)))[i % 3]
        sched.step(given)
        tsched.step(torch.tensor(metric, dtype=torch.float32) if i % 3 else metric)
        assert sched.get_last_lr() == tsched.get_last_lr()
        assert sched.num_bad_epochs == tsched.num_bad_epochs
        assert sched.cooldown_counter == tsched.cooldown_counter
        assert sched.best == tsched.best
        changes += sched.get_last_lr() != before
    if kwargs.get("eps") is None:
        assert changes > 0  # the table exercises reductions


# ----------------------------------------------------------------------------- no recompiles
class Problem:
    def __init__(self):
        rng = np.random.default_rng(1)
        self.x = torch.tensor(rng.standard_normal((5, 3)).astype(np.float32))
        self.y = torch.tensor(rng.standard_normal((5, 2)).astype(np.float32))

    def grads(self, tparams):
        w, b, v = tparams
        for p in tparams:
            p.grad = None
        ((torch.tanh(self.x @ w.T + b) @ v.T - self.y) ** 2).mean().backward()
        return [jnp.asarray(p.grad.numpy()) for p in tparams]


RETRACE_CASES = [
    ("sgd-onecycle", "SGD", dict(momentum=0.9), "OneCycleLR", dict(max_lr=0.5, total_steps=12)),
    ("adam-onecycle", "Adam", dict(), "OneCycleLR", dict(max_lr=0.05, total_steps=12)),
    ("adamw-cosine", "AdamW", dict(), "CosineAnnealingLR", dict(T_max=4)),
    ("rmsprop-step", "RMSprop", dict(momentum=0.5), "StepLR", dict(step_size=2, gamma=0.5)),
    ("adagrad-linear", "Adagrad", dict(), "LinearLR", dict(total_iters=5)),
    ("sgd-plateau", "SGD", dict(momentum=0.9), "ReduceLROnPlateau", dict(patience=0)),
]  # fmt: skip


@pytest.mark.parametrize(
    "name, kwargs, sched_name, sched_kwargs",
    [c[1:] for c in RETRACE_CASES],
    ids=[c[0] for c in RETRACE_CASES],
)
def test_scheduled_training_equals_torch_without_retracing(name, kwargs, sched_name,
                                                           sched_kwargs):  # fmt: skip
    cls = counting(getattr(optim, name))
    params, tparams = make_pair(np.float32)
    opt = cls(_groups(params), **kwargs)
    topt = getattr(torch.optim, name)(_groups(tparams), **kwargs)
    sched = getattr(lr_scheduler, sched_name)(opt, **sched_kwargs)
    tsched = getattr(torch.optim.lr_scheduler, sched_name)(topt, **sched_kwargs)
    problem = Problem()
    traces = None
    for _ in range(11):
        grads = problem.grads(tparams)
        for p, g in zip(params, grads, strict=True):
            p.grad = g
        opt.step()
        topt.step()
        if sched_name == "ReduceLROnPlateau":
            sched.step(1.0)  # a flat metric: the lr drops every step
            tsched.step(1.0)
        else:
            sched.step()
            tsched.step()
        assert sched.get_last_lr() == tsched.get_last_lr()
        traces = cls.traces if traces is None else traces
    assert cls.traces == traces >= 1  # lr (and momentum, betas) changed 10 times: no retrace
    for p, tp in zip(params, tparams, strict=True):
        assert_close(p.data, tp, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize(
    "name, kwargs",
    [("StepLR", dict(step_size=1, gamma=0.5)), ("ExponentialLR", dict(gamma=0.5)),
     ("CosineAnnealingLR", dict(T_max=4)), ("LinearLR", dict(start_factor=0.5))],
    ids=["step", "exponential", "cosine", "linear"],
)  # fmt: skip
def test_recursive_schedules_accept_a_traced_lr(name, kwargs):
    opt, topt = _optimizers()
    sched = getattr(lr_scheduler, name)(opt, **kwargs)
    tsched = getattr(torch.optim.lr_scheduler, name)(topt, **kwargs)
    sched.step()
    tsched.step()

    @jax.jit
    def traced(lr):
        opt.param_groups[0]["lr"] = lr
        sched.step()
        return opt.param_groups[0]["lr"]

    got = traced(opt.param_groups[0]["lr"])
    tsched.step()
    np.testing.assert_allclose(got, tsched.get_last_lr()[0], rtol=1e-6)


# ----------------------------------------------------------------------------- state dicts
SD_IDS = ("step", "multistep", "cosine", "linear", "onecycle-three-phase", "onecycle-adam-betas")
SD_CASES = [c for c in CONFIGS if c[0] in SD_IDS]


def _optimizer_state(topt):
    sd = topt.state_dict()
    return {"state": {}, "param_groups": [dict(g) for g in sd["param_groups"]]}


@pytest.mark.parametrize("config", SD_CASES, ids=[c[0] for c in SD_CASES])
def test_state_dicts_load_both_ways_and_continue(config):
    _, name, kwargs, *opt_id = config
    opt, topt = _optimizers(*opt_id)
    sched = getattr(lr_scheduler, name)(opt, **kwargs)
    tsched = getattr(torch.optim.lr_scheduler, name)(topt, **kwargs)
    for _ in range(9):
        sched.step()
        tsched.step()

    # torch -> axon: a fresh axon pair resumes from torch's optimizer and scheduler dicts
    opt2, _ = _optimizers(*opt_id)
    sched2 = getattr(lr_scheduler, name)(opt2, **kwargs)
    opt2.load_state_dict(_optimizer_state(topt))
    sched2.load_state_dict(tsched.state_dict())
    # axon -> torch: a fresh torch pair resumes from axon's dicts
    _, topt3 = _optimizers(*opt_id)
    tsched3 = getattr(torch.optim.lr_scheduler, name)(topt3, **kwargs)
    topt3.load_state_dict({"state": {}, "param_groups": opt.state_dict()["param_groups"]})
    tsched3.load_state_dict(sched.state_dict())
    # axon -> axon
    opt4, _ = _optimizers(*opt_id)
    sched4 = getattr(lr_scheduler, name)(opt4, **kwargs)
    opt4.load_state_dict(opt.state_dict())
    sched4.load_state_dict(sched.state_dict())

    for _ in range(12):
        for s in (sched, tsched, sched2, tsched3, sched4):
            s.step()
        for s, o in ((sched2, opt2), (tsched3, topt3), (sched4, opt4)):
            assert s.get_last_lr() == tsched.get_last_lr()
            assert _hyper(o) == _hyper(topt)


def test_state_dict_is_a_copy():
    opt, _ = _optimizers()
    sched = lr_scheduler.MultiStepLR(opt, milestones=[2, 4])
    sd = sched.state_dict()
    sd["base_lrs"][0] = 123.0
    sd["milestones"][2] = 5
    assert sched.base_lrs[0] == 0.1 and sched.milestones[2] == 1
    assert "optimizer" not in sd


@pytest.mark.parametrize(
    "name, kwargs",
    [("StepLR", dict(step_size=3)), ("CosineAnnealingLR", dict(T_max=6, eta_min=0.001)),
     ("ExponentialLR", dict(gamma=0.8)), ("LinearLR", dict(total_iters=4)),
     ("MultiStepLR", dict(milestones=[2, 7]))],
    ids=["step", "cosine", "exponential", "linear", "multistep"],
)  # fmt: skip
def test_resuming_with_last_epoch_as_torch(name, kwargs):
    opt, topt = _optimizers()
    for o in (opt, topt):
        for g in o.param_groups:
            g["initial_lr"] = g["lr"] * 2
    sched = getattr(lr_scheduler, name)(opt, last_epoch=4, **kwargs)
    tsched = getattr(torch.optim.lr_scheduler, name)(topt, last_epoch=4, **kwargs)
    _assert_same(sched, tsched, opt, topt)
    for _ in range(10):
        sched.step()
        tsched.step()
        _assert_same(sched, tsched, opt, topt)


@pytest.mark.parametrize(
    "name, kwargs",
    [("StepLR", dict(step_size=3)), ("CosineAnnealingLR", dict(T_max=6)),
     ("ExponentialLR", dict(gamma=0.8)), ("LinearLR", dict(total_iters=4)),
     ("MultiStepLR", dict(milestones=[2, 7, 7]))],
    ids=["step", "cosine", "exponential", "linear", "multistep"],
)  # fmt: skip
def test_deprecated_step_with_epoch_uses_the_closed_form(name, kwargs):
    opt, topt = _optimizers()
    sched = getattr(lr_scheduler, name)(opt, **kwargs)
    tsched = getattr(torch.optim.lr_scheduler, name)(topt, **kwargs)
    for epoch in (5, 2, 9, 9, 3):
        with pytest.warns(UserWarning, match=r"epoch parameter in `scheduler.step\(\)`"):
            sched.step(epoch)
        with pytest.warns(UserWarning):
            tsched.step(epoch)
        _assert_same(sched, tsched, opt, topt)


# ----------------------------------------------------------------------------- API and errors
def test_exports_and_seed_forms():
    assert optim.lr_scheduler is lr_scheduler and optim.StepLR is lr_scheduler.StepLR
    from axon.optim.lr_scheduler import OneCycleLR  # noqa: F401

    opt, topt = _optimizers()
    s = lr_scheduler.CosineAnnealingLR.with_eta_min(opt, 10, 0.001)
    assert (s.T_max, s.eta_min) == (10, 0.001)
    opt, topt = _optimizers()
    s = lr_scheduler.OneCycleLR.with_options(opt, 1.0, 20, 0.4, 10.0, 100.0)
    t = torch.optim.lr_scheduler.OneCycleLR(topt, 1.0, 20, pct_start=0.4, div_factor=10.0,
                                            final_div_factor=100.0)  # fmt: skip
    for _ in range(19):
        s.step()
        t.step()
        assert s.get_last_lr() == t.get_last_lr()
    opt, _ = _optimizers()
    s = lr_scheduler.ReduceLROnPlateau.with_options(opt, "min", 0.5, 0, 1e-4, 0, 0.0)
    s.step_with_metric(1.0)
    s.step_with_metric(1.0)
    assert s.get_last_lr() == [0.05, 0.005]
    assert repr(s).startswith("ReduceLROnPlateau(last_epoch=2")


def _opt():
    return optim.SGD([Parameter(jnp.zeros(2))], lr=0.1, momentum=0.9)


ERRORS = [
    ("not-an-optimizer", lambda: lr_scheduler.StepLR("sgd", 3), TypeError,
     r"axon.optim.lr_scheduler.StepLR: expected an axon.optim.Optimizer, got builtins.str"),
    ("torch-optimizer",
     lambda: lr_scheduler.ExponentialLR(torch.optim.SGD([torch.zeros(1)], lr=0.1), 0.9),
     TypeError, r"ExponentialLR: expected an axon.optim.Optimizer, got torch.optim.sgd.SGD"),
    ("optax-optimizer",
     lambda: lr_scheduler.StepLR(optim.Optimizer.from_optax([Parameter(jnp.zeros(1))],
                                                            optax.sgd(0.1)), 3),
     ValueError, r"StepLR: param group 0 of the optimizer has no 'lr'\. An optimizer made by "
     r"Optimizer.from_optax keeps its learning rate inside the optax transformation"),
    ("resume-without-initial_lr", lambda: lr_scheduler.StepLR(_opt(), 3, last_epoch=2),
     ValueError, r"StepLR: param 'initial_lr' is not specified in param_groups\[0\] when "
     r"resuming with last_epoch=2\. Load the optimizer's state dict first"),
    ("step_size", lambda: lr_scheduler.StepLR(_opt(), 0), ValueError,
     r"StepLR: expected step_size to be a positive integer, got 0\."),
    ("T_max", lambda: lr_scheduler.CosineAnnealingLR(_opt(), 2.5), ValueError,
     r"CosineAnnealingLR: expected T_max to be a positive integer, got 2.5\."),
    ("start_factor", lambda: lr_scheduler.LinearLR(_opt(), start_factor=0), ValueError,
     r"LinearLR: expected 0 < start_factor <= 1, got start_factor=0\."),
    ("end_factor", lambda: lr_scheduler.LinearLR(_opt(), end_factor=1.5), ValueError,
     r"LinearLR: expected 0 <= end_factor <= 1, got end_factor=1.5\."),
    ("total_iters", lambda: lr_scheduler.LinearLR(_opt(), total_iters=-1), ValueError,
     r"LinearLR: expected total_iters to be a positive integer, got -1\."),
    ("onecycle-no-length", lambda: lr_scheduler.OneCycleLR(_opt(), 1.0), ValueError,
     r"OneCycleLR: you must define either total_steps OR \(epochs AND steps_per_epoch\)\."),
    ("onecycle-total_steps", lambda: lr_scheduler.OneCycleLR(_opt(), 1.0, 0), ValueError,
     r"OneCycleLR: expected total_steps to be a positive integer, got 0\."),
    ("onecycle-epochs", lambda: lr_scheduler.OneCycleLR(_opt(), 1.0, epochs=2.0,
                                                        steps_per_epoch=3), ValueError,
     r"OneCycleLR: expected epochs to be a positive integer, got 2.0\."),
    ("onecycle-pct_start", lambda: lr_scheduler.OneCycleLR(_opt(), 1.0, 10, pct_start=1),
     ValueError, r"OneCycleLR: expected pct_start to be a float in \[0, 1\], got 1\."),
    ("onecycle-anneal", lambda: lr_scheduler.OneCycleLR(_opt(), 1.0, 10, anneal_strategy="exp"),
     ValueError, r"anneal_strategy must be one of 'cos' or 'linear', got 'exp'\."),
    ("onecycle-max_lr-list", lambda: lr_scheduler.OneCycleLR(_opt(), [1.0, 2.0], 10), ValueError,
     r"OneCycleLR: max_lr must have one value per param group: got 2 values for 1 param "
     r"groups\."),
    ("onecycle-no-momentum",
     lambda: lr_scheduler.OneCycleLR(optim.Adagrad([Parameter(jnp.zeros(1))]), 1.0, 10),
     ValueError, r"OneCycleLR: optimizer must support momentum or beta1 with `cycle_momentum` "
     r"option enabled; Adagrad has neither\. Pass cycle_momentum=False\."),
    ("plateau-factor", lambda: lr_scheduler.ReduceLROnPlateau(_opt(), factor=1.0), ValueError,
     r"ReduceLROnPlateau: factor should be < 1.0, got 1.0\."),
    ("plateau-mode", lambda: lr_scheduler.ReduceLROnPlateau(_opt(), mode="lowest"), ValueError,
     r"ReduceLROnPlateau: mode must be 'min' or 'max', got 'lowest'\."),
    ("plateau-threshold_mode",
     lambda: lr_scheduler.ReduceLROnPlateau(_opt(), threshold_mode="relative"), ValueError,
     r"threshold_mode must be 'rel' or 'abs', got 'relative'\."),
    ("plateau-min_lr", lambda: lr_scheduler.ReduceLROnPlateau(_opt(), min_lr=[0.1, 0.2]),
     ValueError, r"ReduceLROnPlateau: min_lr must have one value per param group: got 2 values "
     r"for 1 param groups\."),
    ("load-not-a-dict", lambda: lr_scheduler.StepLR(_opt(), 2).load_state_dict([1]), TypeError,
     r"StepLR.load_state_dict: expected a dict as state_dict\(\) returns, got list\."),
]  # fmt: skip


@pytest.mark.parametrize("build, exc, match", [c[1:] for c in ERRORS], ids=[c[0] for c in ERRORS])
def test_errors(build, exc, match):
    with pytest.raises(exc, match=match):
        build()


def test_stepping_onecycle_past_its_end_is_an_error():
    sched = lr_scheduler.OneCycleLR(_opt(), 1.0, total_steps=3)
    for _ in range(3):
        sched.step()
    with pytest.raises(
        ValueError,
        match=r"OneCycleLR: tried to step 4 times\. The specified number of total steps is 3\. "
        r"Create the scheduler with more total_steps",
    ):
        sched.step()


def test_plateau_errors_at_step_time():
    opt = _opt()
    sched = lr_scheduler.ReduceLROnPlateau(opt, patience=0, min_lr=[0.0])
    opt.add_param_group({"params": [Parameter(jnp.zeros(1))]})
    sched.step(1.0)
    with pytest.raises(
        ValueError,
        match=r"ReduceLROnPlateau: the optimizer has 2 param groups, but min_lr was given for 1 "
        r"\(a param group was added since\)\. Set scheduler.min_lrs",
    ):
        sched.step(2.0)
    with pytest.raises(
        TypeError,
        match=r"ReduceLROnPlateau.step: the metric is a traced value; the plateau test needs a "
        r"concrete number\. Call scheduler.step\(loss\) outside the compiled function",
    ):
        jax.jit(lambda x: sched.step(x))(1.0)


def test_base_class_needs_get_lr():
    with pytest.raises(NotImplementedError, match=r"subclasses of LRScheduler define get_lr"):
        lr_scheduler.LRScheduler(_opt())
