"""Shared setup for the axon.optim tests against torch.optim.

Torch computes the gradients from its own parameters and axon gets the very same gradients through
`.grad`, so what is compared is the update rule alone. The `check_*` functions are test bodies that
several optimizer test files run on their own tables of optimizers.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import torch
from helpers import assert_close

from axon import optim
from axon.nn import Parameter

TOL = {
    np.float32: dict(rtol=1e-6, atol=1e-6),
    np.float64: dict(rtol=1e-12, atol=1e-13),
}
SHAPES = [(4, 3), (4,), (2, 4)]  # W, b, V of a small tanh layer and a linear read-out


class Problem:
    """A fixed regression loss `mean((tanh(x Wᵀ + b) Vᵀ - y)²)`, differentiated by torch."""

    def __init__(self, dtype):
        rng = np.random.default_rng(1)
        self.x = torch.tensor(rng.standard_normal((5, 3)).astype(dtype))
        self.y = torch.tensor(rng.standard_normal((5, 2)).astype(dtype))

    def grads(self, tparams):
        """Fill `.grad` of torch's params and return numpy copies."""
        w, b, v = tparams
        for p in tparams:
            p.grad = None
        loss = ((torch.tanh(self.x @ w.T + b) @ v.T - self.y) ** 2).mean()
        loss.backward()
        return [p.grad.numpy().copy() for p in tparams]


def make_pair(dtype, seed=0):
    """The same random values as axon Parameters and as torch leaf tensors, one per SHAPES."""
    rng = np.random.default_rng(seed)
    values = [rng.standard_normal(s).astype(dtype) for s in SHAPES]
    return (
        [Parameter(jnp.asarray(v)) for v in values],
        [torch.tensor(v, requires_grad=True) for v in values],
    )


def small_param():
    return Parameter(jnp.zeros(2))


def feed(params, grads, mask=None):
    """Set `.grad` of each param to its gradient, or to None where `mask` says False."""
    for i, (p, g) in enumerate(zip(params, grads, strict=True)):
        p.grad = None if mask is not None and not mask[i] else jnp.asarray(g)


def run_both(opt, topt, params, tparams, problem, steps, mask_fn=None):
    """Step axon's and torch's optimizers `steps` times on the same gradients."""
    for t in range(steps):
        grads = problem.grads(tparams)
        mask = mask_fn(t) if mask_fn else None
        if mask is not None:
            for tp, keep in zip(tparams, mask, strict=True):
                if not keep:
                    tp.grad = None
        feed(params, grads, mask)
        opt.step()
        topt.step()


def step_twins(opts, param_lists, problem, tparams, steps):
    """Step each optimizer of `opts` `steps` times, all on the same torch gradients."""
    for _ in range(steps):
        grads = problem.grads(tparams)
        for params in param_lists:
            feed(params, grads)
        for opt in opts:
            opt.step()


def assert_params(params, tparams, dtype):
    for p, tp in zip(params, tparams, strict=True):
        assert_close(p.data, tp, **TOL[dtype])


def assert_states(opt, topt, dtype):
    ours, theirs = opt.state_dict(), topt.state_dict()
    assert set(ours["state"]) == set(theirs["state"])
    for i, tstate in theirs["state"].items():
        assert list(ours["state"][i]) == list(tstate)  # torch's names, in torch's order
        for name, value in tstate.items():
            assert_close(ours["state"][i][name], value, **TOL[dtype])


def numpy_state_dict(tsd):
    """A torch optimizer state dict with every tensor converted to numpy."""
    return {
        "state": {k: {n: v.numpy().copy() for n, v in s.items()} for k, s in tsd["state"].items()},
        "param_groups": [dict(g) for g in tsd["param_groups"]],
    }


def torch_state_dict(sd):
    """An axon optimizer state dict with every array converted to a torch tensor."""
    return {
        "state": {
            k: {n: torch.tensor(np.asarray(v)) for n, v in s.items()}
            for k, s in sd["state"].items()
        },
        "param_groups": [dict(g) for g in sd["param_groups"]],
    }


def copy_to_torch(params, tparams):
    with torch.no_grad():
        for p, tp in zip(params, tparams, strict=True):
            tp.copy_(torch.tensor(np.asarray(p.data)))


def two_groups(params, lrs=(0.05, 0.01)):
    return [
        {"params": params[:2], "lr": lrs[0]},
        {"params": params[2:], "lr": lrs[1], "weight_decay": 0.1},
    ]


def make_one(module, name, kwargs, params):
    """`module.name(params, **kwargs)`; `groups=True` in kwargs splits params by `two_groups`."""
    kwargs = dict(kwargs)
    if kwargs.pop("groups", False):
        params = two_groups(params)
    return getattr(module, name)(params, **kwargs)


def counting(base):
    """A subclass of optimizer `base` that counts the traces of its update with traced hypers."""

    class Counting(base):
        traces = 0

        @staticmethod
        def make_transform(**hyper):
            if any(isinstance(v, jax.core.Tracer) for v in jax.tree.leaves(hyper)):
                Counting.traces += 1
            return base.make_transform(**hyper)

    return Counting


# ----------------------------------------------------------------------------- shared test bodies
def check_trajectory(name, kwargs, dtype, steps=20):
    """Axon's and torch's `name` step alike: params, states and dtypes agree. Returns both."""
    params, tparams = make_pair(dtype)
    opt = make_one(optim, name, kwargs, params)
    topt = make_one(torch.optim, name, kwargs, tparams)
    run_both(opt, topt, params, tparams, Problem(dtype), steps)
    assert_params(params, tparams, dtype)
    assert_states(opt, topt, dtype)
    assert all(p.data.dtype == dtype for p in params)
    return opt, topt


def check_none_grads_are_skipped(name, kwargs):
    """b gets a gradient every other step, V never: V does not move and the states are torch's.

    Returns axon's optimizer and params for the optimizer-specific checks.
    """
    params, tparams = make_pair(np.float32)
    opt = getattr(optim, name)(params, **kwargs)
    topt = getattr(torch.optim, name)(tparams, **kwargs)
    v_before = params[2].data
    run_both(opt, topt, params, tparams, Problem(np.float32), steps=10,
             mask_fn=lambda t: [True, t % 2 == 0, False])  # fmt: skip
    assert_params(params, tparams, np.float32)
    assert_states(opt, topt, np.float32)
    assert params[2].data is v_before
    return opt, params


def check_loading_a_torch_state_dict_continues_torchs_trajectory(name, kwargs):
    params, tparams = make_pair(np.float32)
    topt = make_one(torch.optim, name, kwargs, tparams)
    problem = Problem(np.float32)
    for _ in range(5):
        problem.grads(tparams)
        topt.step()
    for p, tp in zip(params, tparams, strict=True):
        p.data = jnp.asarray(tp.detach().numpy())
    opt = make_one(optim, name, {**kwargs, "lr": 123.0}, params)  # lr comes from the dict
    opt.load_state_dict(numpy_state_dict(topt.state_dict()))
    assert [g["lr"] for g in opt.param_groups] == [g["lr"] for g in topt.param_groups]
    run_both(opt, topt, params, tparams, problem, steps=10)
    assert_params(params, tparams, np.float32)
    assert_states(opt, topt, np.float32)


def check_torch_continues_from_an_axon_state_dict(name, kwargs):
    params, tparams = make_pair(np.float32)
    opt = make_one(optim, name, kwargs, params)
    problem = Problem(np.float32)
    step_twins([opt], [params], problem, tparams, steps=5)
    copy_to_torch(params, tparams)
    topt = make_one(torch.optim, name, kwargs, tparams)
    topt.load_state_dict(torch_state_dict(opt.state_dict()))
    run_both(opt, topt, params, tparams, problem, steps=5)
    assert_params(params, tparams, np.float32)


def check_state_dict_round_trip(name, kwargs):
    """A twin loaded from the state dict steps exactly as the original; the dict is a copy."""
    params, tparams = make_pair(np.float32)
    opt = make_one(optim, name, kwargs, params)
    problem = Problem(np.float32)
    step_twins([opt], [params], problem, tparams, steps=4)
    saved = opt.state_dict()
    saved["param_groups"][0]["lr"] = 0.5  # the dict is a copy: the optimizer is unchanged
    assert opt.param_groups[0]["lr"] != 0.5
    saved = opt.state_dict()
    twins = [Parameter(p.data) for p in params]
    twin = make_one(optim, name, kwargs, twins)
    twin.load_state_dict(saved)
    step_twins([opt, twin], [params, twins], problem, tparams, steps=4)
    for p, q in zip(params, twins, strict=True):
        np.testing.assert_array_equal(p.data, q.data)
