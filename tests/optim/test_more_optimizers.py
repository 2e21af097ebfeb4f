"""AdamW, RMSprop, Adagrad against torch.optim; LAMB against the paper and optax; init_state.

As in test_optimizers.py, torch computes the gradients from its own parameters and axon gets the
very same gradients through `.grad`, so what is compared is the update rule alone.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest
import torch
from helpers import assert_close
from optim_harness import (
    TOL,
    Problem,
    assert_params,
    assert_states,
    check_loading_a_torch_state_dict_continues_torchs_trajectory,
    check_none_grads_are_skipped,
    check_state_dict_round_trip,
    check_torch_continues_from_an_axon_state_dict,
    check_trajectory,
    copy_to_torch,
    feed,
    make_one,
    make_pair,
    numpy_state_dict,
    run_both,
    torch_state_dict,
    two_groups,
)
from optim_harness import small_param as _p

from axon import optim
from axon.nn import Parameter

# ----------------------------------------------------------------------------- trajectories
CONFIGS = [
    ("adamw-default", "AdamW", dict()),
    ("adamw-lr-weight_decay", "AdamW", dict(lr=0.05, weight_decay=0.1)),
    ("adamw-no-weight_decay", "AdamW", dict(lr=0.05, weight_decay=0)),
    ("adamw-amsgrad", "AdamW", dict(lr=0.05, amsgrad=True)),
    ("adamw-betas-eps", "AdamW", dict(lr=0.05, betas=(0.8, 0.95), eps=1e-3, weight_decay=0.3)),
    ("adamw-maximize", "AdamW", dict(lr=0.05, maximize=True, amsgrad=True)),
    ("adamw-two-groups", "AdamW", dict(groups=True, weight_decay=0.02)),
    ("rmsprop-default", "RMSprop", dict()),
    ("rmsprop-alpha-eps", "RMSprop", dict(lr=0.05, alpha=0.9, eps=1e-3)),
    ("rmsprop-momentum", "RMSprop", dict(lr=0.01, momentum=0.9)),
    ("rmsprop-centered", "RMSprop", dict(lr=0.01, centered=True)),
    ("rmsprop-centered-momentum", "RMSprop", dict(lr=0.01, centered=True, momentum=0.5)),
    ("rmsprop-weight_decay", "RMSprop", dict(lr=0.01, weight_decay=0.1)),
    ("rmsprop-maximize", "RMSprop", dict(lr=0.01, maximize=True, momentum=0.3)),
    ("rmsprop-two-groups", "RMSprop", dict(groups=True, centered=True, momentum=0.9)),
    ("adagrad-default", "Adagrad", dict()),
    ("adagrad-lr", "Adagrad", dict(lr=0.1)),
    ("adagrad-lr_decay", "Adagrad", dict(lr=0.1, lr_decay=0.05)),
    ("adagrad-weight_decay", "Adagrad", dict(lr=0.1, weight_decay=0.1)),
    ("adagrad-accumulator-eps", "Adagrad", dict(lr=0.1, initial_accumulator_value=0.5,
                                                eps=1e-3)),
    ("adagrad-maximize", "Adagrad", dict(lr=0.1, lr_decay=0.01, maximize=True)),
    ("adagrad-two-groups", "Adagrad", dict(groups=True, lr_decay=0.01)),
]  # fmt: skip


# float64, where roundoff cannot hide a wrong formula, for the configs that use every feature
F64_CONFIGS = ("adamw-betas-eps", "adamw-maximize", "adamw-two-groups", "rmsprop-maximize",
               "rmsprop-two-groups", "adagrad-accumulator-eps", "adagrad-maximize",
               "adagrad-two-groups")  # fmt: skip
TRAJECTORIES = [
    pytest.param(name, kwargs, dtype, id=f"{config}-{dtype_id}")
    for config, name, kwargs in CONFIGS
    for dtype, dtype_id in ((np.float32, "f32"), (np.float64, "f64"))
    if dtype == np.float32 or config in F64_CONFIGS
]


@pytest.mark.parametrize("name, kwargs, dtype", TRAJECTORIES)
def test_trajectory_equals_torch(name, kwargs, dtype):
    with jax.enable_x64(dtype == np.float64):
        opt, topt = check_trajectory(name, kwargs, dtype)
        for g, tg in zip(opt.param_groups, topt.param_groups, strict=True):
            for key in opt.defaults:
                assert g[key] == tg[key], key  # the same hyper-parameters, named as torch's


@pytest.mark.parametrize(
    "name, kwargs",
    [("AdamW", dict(lr=0.05)), ("RMSprop", dict(lr=0.01, momentum=0.9, centered=True)),
     ("Adagrad", dict(lr=0.1, lr_decay=0.01))],
    ids=["adamw", "rmsprop", "adagrad"],
)  # fmt: skip
def test_none_grads_are_skipped_with_per_parameter_state(name, kwargs):
    """b gets a gradient every other step, V never: V does not move, its state is torch's.

    Adagrad: V's state exists (from the constructor), and is torch's too.
    """
    opt, params = check_none_grads_are_skipped(name, kwargs)
    assert float(opt.state[params[1]]["step"]) == 5.0


def test_adagrad_state_is_created_by_the_constructor_as_torch():
    params, tparams = make_pair(np.float32)
    opt = optim.Adagrad(two_groups(params), initial_accumulator_value=0.3)
    topt = torch.optim.Adagrad(two_groups(tparams), initial_accumulator_value=0.3)
    assert_states(opt, topt, np.float32)
    late, tlate = Parameter(jnp.ones(2)), torch.ones(2, requires_grad=True)
    opt.add_param_group({"params": [late], "initial_accumulator_value": 5.0})
    topt.add_param_group({"params": [tlate], "initial_accumulator_value": 5.0})
    assert 3 not in opt.state_dict()["state"]  # added later: created at its first step
    late.grad, tlate.grad = jnp.ones(2), torch.ones(2)
    opt.step()
    topt.step()
    assert_states(opt, topt, np.float32)  # torch starts it from the defaults' 0.3, not 5.0
    assert_close(late.data, tlate, **TOL[np.float32])


# ----------------------------------------------------------------------------- LAMB
def _lamb_reference(values, grads_fn, steps, lr, betas=(0.9, 0.999), eps=1e-6,
                    weight_decay=0.0, bias_correction=True, groups=None):  # fmt: skip
    """LAMB as You et al. (2019), Algorithm 2, in numpy, one "layer" per parameter tensor."""
    params = [v.copy() for v in values]
    m = [np.zeros_like(p) for p in params]
    v = [np.zeros_like(p) for p in params]
    hyper = groups or [dict(lr=lr, weight_decay=weight_decay)] * len(params)
    b1, b2 = betas
    for t in range(1, steps + 1):
        grads = grads_fn(params)
        for i, g in enumerate(grads):
            m[i] = b1 * m[i] + (1 - b1) * g
            v[i] = b2 * v[i] + (1 - b2) * g * g
            m_hat, v_hat = m[i], v[i]
            if bias_correction:
                m_hat, v_hat = m[i] / (1 - b1**t), v[i] / (1 - b2**t)
            r = m_hat / (np.sqrt(v_hat) + eps) + hyper[i]["weight_decay"] * params[i]
            p_norm, r_norm = np.linalg.norm(params[i]), np.linalg.norm(r)
            trust = p_norm / r_norm if p_norm > 0 and r_norm > 0 else 1.0
            params[i] = params[i] - hyper[i]["lr"] * trust * r
    return params


def _torch_grads(problem, dtype):
    def grads_fn(values):
        tparams = [torch.tensor(np.asarray(v), requires_grad=True) for v in values]
        return [g.astype(dtype) for g in problem.grads(tparams)]

    return grads_fn


LAMB_CONFIGS = [
    ("default", dict()),
    ("lr-weight_decay", dict(lr=0.05, weight_decay=0.1)),
    ("betas-eps", dict(lr=0.02, betas=(0.8, 0.95), eps=1e-3, weight_decay=0.01)),
    ("no-bias-correction", dict(lr=0.05, bias_correction=False)),
    ("two-groups", dict(groups=True)),
]


LAMB_CASES = [
    pytest.param(kwargs, dtype, id=f"{config}-{dtype_id}")
    for config, kwargs in LAMB_CONFIGS
    for dtype, dtype_id in ((np.float32, "f32"), (np.float64, "f64"))
    if dtype == np.float32 or config in ("no-bias-correction", "two-groups")
]


@pytest.mark.parametrize("kwargs, dtype", LAMB_CASES)
def test_lamb_equals_the_papers_update(kwargs, dtype):
    with jax.enable_x64(dtype == np.float64):
        params, tparams = make_pair(dtype)
        values = [np.asarray(p.data) for p in params]
        problem = Problem(dtype)
        opt = make_one(optim, "LAMB", kwargs, params)
        for _ in range(20):
            feed(params, _torch_grads(problem, dtype)([p.data for p in params]))
            opt.step()
        ref_kwargs = {k: v for k, v in kwargs.items() if k != "groups"}
        ref_kwargs.setdefault("lr", 1e-3)
        if kwargs.get("groups"):
            lr_wd = [dict(lr=0.05, weight_decay=0.0)] * 2 + [dict(lr=0.01, weight_decay=0.1)]
            ref_kwargs["groups"] = lr_wd
        expected = _lamb_reference(values, _torch_grads(problem, dtype), 20, **ref_kwargs)
        for p, e in zip(params, expected, strict=True):
            assert_close(p.data, e, **TOL[dtype])
        assert list(opt.state_dict()["state"][0]) == ["step", "exp_avg", "exp_avg_sq"]


@pytest.mark.parametrize(
    "kwargs",
    [dict(learning_rate=1e-3), dict(learning_rate=0.05, weight_decay=0.1),
     dict(learning_rate=0.02, b1=0.8, b2=0.95, eps=1e-3, weight_decay=0.01)],
    ids=["default", "weight_decay", "betas-eps"],
)  # fmt: skip
def test_lamb_equals_optax_lamb(kwargs):
    params, tparams = make_pair(np.float32)
    ours = optim.LAMB(
        params,
        lr=kwargs["learning_rate"],
        betas=(kwargs.get("b1", 0.9), kwargs.get("b2", 0.999)),
        eps=kwargs.get("eps", 1e-6),
        weight_decay=kwargs.get("weight_decay", 0.0),
    )
    tx = optax.lamb(**kwargs)
    tree = [p.data for p in params]
    state = tx.init(tree)
    update = jax.jit(tx.update)
    problem = Problem(np.float32)
    for _ in range(20):
        grads = [jnp.asarray(g) for g in _torch_grads(problem, np.float32)(tree)]
        feed(params, _torch_grads(problem, np.float32)([p.data for p in params]))
        ours.step()
        updates, state = update(grads, state, tree)
        tree = optax.apply_updates(tree, updates)
    for p, q in zip(params, tree, strict=True):
        assert_close(p.data, q, rtol=2e-6, atol=2e-6)


def test_lamb_trust_ratio_is_one_when_a_norm_is_zero():
    zero, w = Parameter(jnp.zeros(3)), Parameter(jnp.array([3.0, 4.0]))
    opt = optim.LAMB([zero, w], lr=0.1)
    zero.grad = jnp.array([1.0, -1.0, 1.0])  # ‖p‖ = 0: trust 1, r ≈ sign(g) at step 1
    w.grad = jnp.zeros(2)  # ‖r‖ = 0 (no weight decay): trust 1, no move
    opt.step()
    np.testing.assert_allclose(zero.data, [-0.1, 0.1, -0.1], rtol=1e-5)
    np.testing.assert_array_equal(w.data, [3.0, 4.0])


# ----------------------------------------------------------------------------- state dicts
SD_CONFIGS = [
    ("adamw", "AdamW", dict(lr=0.05, weight_decay=0.1)),
    ("adamw-amsgrad-groups", "AdamW", dict(groups=True, amsgrad=True)),
    ("rmsprop-centered-momentum", "RMSprop", dict(lr=0.01, momentum=0.9, centered=True)),
    ("adagrad", "Adagrad", dict(lr=0.1, lr_decay=0.01, initial_accumulator_value=0.1)),
]
SD_IDS = [c[0] for c in SD_CONFIGS]


@pytest.mark.parametrize("name, kwargs", [c[1:] for c in SD_CONFIGS], ids=SD_IDS)
def test_loading_a_torch_state_dict_continues_torchs_trajectory(name, kwargs):
    check_loading_a_torch_state_dict_continues_torchs_trajectory(name, kwargs)


@pytest.mark.parametrize("name, kwargs", [c[1:] for c in SD_CONFIGS], ids=SD_IDS)
def test_torch_continues_from_an_axon_state_dict(name, kwargs):
    check_torch_continues_from_an_axon_state_dict(name, kwargs)


@pytest.mark.parametrize(
    "name, kwargs",
    [c[1:] for c in SD_CONFIGS] + [("LAMB", dict(lr=0.05, weight_decay=0.1)),
                                   ("LAMB", dict(groups=True, bias_correction=False))],
    ids=SD_IDS + ["lamb", "lamb-groups"],
)  # fmt: skip
def test_state_dict_round_trip(name, kwargs):
    check_state_dict_round_trip(name, kwargs)


def _stepped_torch_adamw():
    tparams = make_pair(np.float32)[1]
    topt = torch.optim.AdamW(tparams, lr=0.05, weight_decay=0.1)
    Problem(np.float32).grads(tparams)
    topt.step()
    return numpy_state_dict(topt.state_dict())


def test_adam_refuses_a_decoupled_state_dict_and_points_at_adamw():
    saved = _stepped_torch_adamw()
    assert saved["param_groups"][0]["decoupled_weight_decay"] is True
    opt = optim.Adam(make_pair(np.float32)[0], lr=0.05, weight_decay=0.1)
    with pytest.raises(
        ValueError,
        match=r"axon.optim.Adam.load_state_dict: parameter group 0 of the loaded state dict has "
        r"decoupled_weight_decay=True .* which axon.optim.Adam does not implement\. Load it "
        r"into axon.optim.AdamW",
    ):
        opt.load_state_dict(saved)
    assert opt.state_dict()["state"] == {}  # nothing changed
    optim.AdamW(make_pair(np.float32)[0]).load_state_dict(saved)  # where it belongs


def test_adamw_state_dict_keeps_its_meaning_in_torchs_adam():
    """The group carries decoupled_weight_decay=True, so torch.optim.Adam decays as AdamW."""
    params, tparams = make_pair(np.float32)
    opt = optim.AdamW(params, lr=0.05, weight_decay=0.1)
    problem = Problem(np.float32)
    feed(params, problem.grads(tparams))
    opt.step()
    copy_to_torch(params, tparams)
    topt = torch.optim.Adam(tparams)
    topt.load_state_dict(torch_state_dict(opt.state_dict()))
    assert topt.param_groups[0]["decoupled_weight_decay"] is True
    run_both(opt, topt, params, tparams, problem, steps=5)
    assert_params(params, tparams, np.float32)


def test_adamw_forces_decoupled_decay_on_load_as_torch():
    params, tparams = make_pair(np.float32)
    tadam = torch.optim.Adam(tparams, lr=0.05, weight_decay=0.1)
    Problem(np.float32).grads(tparams)
    tadam.step()
    opt = optim.AdamW(params)
    opt.load_state_dict(numpy_state_dict(tadam.state_dict()))
    tw = torch.optim.AdamW(tparams)
    tw.load_state_dict(tadam.state_dict())
    assert opt.param_groups[0]["decoupled_weight_decay"] is True
    assert tw.param_groups[0]["decoupled_weight_decay"] is True


# ----------------------------------------------------------------------------- init_state
INIT_CASES = [
    ("SGD", dict(lr=0.1, momentum=0.9)),
    ("Adam", dict(lr=0.05, amsgrad=True)),
    ("AdamW", dict(lr=0.05)),
    ("RMSprop", dict(lr=0.01, momentum=0.9, centered=True)),
    ("Adagrad", dict(lr=0.1, initial_accumulator_value=0.2)),
    ("LAMB", dict(lr=0.05, weight_decay=0.1)),
]
INIT_IDS = [c[0].lower() for c in INIT_CASES]


@pytest.mark.parametrize("name, kwargs", INIT_CASES, ids=INIT_IDS)
def test_init_state_fixes_the_structure_and_changes_nothing_else(name, kwargs):
    params, tparams = make_pair(np.float32)
    lazy = getattr(optim, name)(params, **kwargs)
    twins = [Parameter(p.data) for p in params]
    eager = getattr(optim, name)(twins, **kwargs)
    before = eager.state_dict()["state"]
    eager.init_state()
    structure = jax.tree.structure(eager._state)
    shapes = [x.shape for x in jax.tree.leaves(eager._state)]
    assert all(isinstance(x, jax.Array) for x in jax.tree.leaves(eager._state))
    assert eager.state_dict()["state"].keys() == before.keys()  # still torch's listing
    problem = Problem(np.float32)
    for t in range(3):
        grads = problem.grads(tparams)
        mask = [True, True, t > 0]
        feed(params, grads, mask)
        feed(twins, grads, mask)
        lazy.step()
        eager.step()
        assert jax.tree.structure(eager._state) == structure
        assert [x.shape for x in jax.tree.leaves(eager._state)] == shapes
    for p, q in zip(params, twins, strict=True):
        np.testing.assert_array_equal(p.data, q.data)
    for i, s in lazy.state_dict()["state"].items():
        for k, v in s.items():
            np.testing.assert_array_equal(eager.state_dict()["state"][i][k], v)


@pytest.mark.parametrize("name, kwargs", INIT_CASES, ids=INIT_IDS)
def test_traced_hyperparameters_in_param_groups(name, kwargs):
    """Under jax.jit, group["lr"] (and betas) may hold traced values: the step equals eager."""
    params, tparams = make_pair(np.float32)
    opt = getattr(optim, name)(params, **kwargs)
    opt.init_state()
    grads = [jnp.asarray(g) for g in Problem(np.float32).grads(tparams)]
    data = [p.data for p in params]
    states = [dict(s) for s in opt._state]
    has_betas = "betas" in opt.defaults

    @jax.jit
    def traced_step(lr, beta1, data, grads, states):
        for p, d, g in zip(params, data, grads, strict=True):
            p.data, p.grad = d, g
        opt._state = [dict(s) for s in states]
        opt.param_groups[0]["lr"] = lr
        if has_betas:
            opt.param_groups[0]["betas"] = (beta1, opt.param_groups[0]["betas"][1])
        opt.step()
        return [p.data for p in params], [dict(s) for s in opt._state]

    new_data, new_states = traced_step(0.03, 0.8, data, grads, states)

    twins = [Parameter(d) for d in data]
    ref_kwargs = dict(kwargs, lr=0.03, **({"betas": (0.8, 0.999)} if has_betas else {}))
    ref = getattr(optim, name)(twins, **ref_kwargs)
    feed(twins, grads)
    ref.step()
    for d, q in zip(new_data, twins, strict=True):
        assert_close(d, q.data, rtol=1e-6, atol=1e-7)
    for s, r in zip(new_states, ref._state, strict=True):
        assert s.keys() == r.keys()
        for k in s:
            assert_close(s[k], r[k], rtol=1e-6, atol=1e-7)


# ----------------------------------------------------------------------------- construction
def test_seed_constructors():
    ps = [_p(), _p()]
    cases = [
        (optim.AdamW.with_betas(ps, 0.1, (0.8, 0.9)), optim.AdamW(ps, 0.1, (0.8, 0.9))),
        (optim.AdamW.with_options(ps, 0.1, (0.8, 0.9), 1e-6, 0.05, True),
         optim.AdamW(ps, 0.1, (0.8, 0.9), eps=1e-6, weight_decay=0.05, amsgrad=True)),
        (optim.RMSprop.with_alpha(ps, 0.1, 0.9), optim.RMSprop(ps, 0.1, alpha=0.9)),
        (optim.RMSprop.with_options(ps, 0.1, 0.9, 1e-6, 0.01, 0.5, True),
         optim.RMSprop(ps, 0.1, alpha=0.9, eps=1e-6, weight_decay=0.01, momentum=0.5,
                       centered=True)),
        (optim.LAMB.with_betas(ps, 0.1, (0.8, 0.9)), optim.LAMB(ps, 0.1, (0.8, 0.9))),
        (optim.LAMB.with_options(ps, 0.1, (0.8, 0.9), 1e-8, 0.01),
         optim.LAMB(ps, 0.1, (0.8, 0.9), eps=1e-8, weight_decay=0.01)),
    ]  # fmt: skip
    for seed, plain in cases:
        assert type(seed) is type(plain) and seed.param_groups == plain.param_groups
    assert optim.AdamW(ps).defaults["weight_decay"] == 1e-2
    assert optim.LAMB(ps).defaults == dict(
        lr=1e-3, betas=(0.9, 0.999), eps=1e-6, weight_decay=0, bias_correction=True
    )


HYPER_ERRORS = [
    ("adamw-lr", lambda: optim.AdamW([_p()], lr=-1),
     r"axon.optim.AdamW: invalid learning rate: expected lr >= 0, got -1\."),
    ("adamw-beta", lambda: optim.AdamW([_p()], betas=(0.9, 1.5)),
     r"axon.optim.AdamW: invalid beta parameter at index 1: expected 0 <= beta < 1, got 1.5\."),
    ("adamw-eps", lambda: optim.AdamW([_p()], eps=-1.0),
     r"axon.optim.AdamW: invalid epsilon value: expected eps >= 0, got -1.0\."),
    ("adamw-weight_decay", lambda: optim.AdamW([_p()], weight_decay=-0.1),
     r"axon.optim.AdamW: invalid weight_decay value: expected weight_decay >= 0, got -0.1\."),
    ("rmsprop-lr", lambda: optim.RMSprop([_p()], lr=-1),
     r"axon.optim.RMSprop: invalid learning rate: expected lr >= 0, got -1\."),
    ("rmsprop-eps", lambda: optim.RMSprop([_p()], eps=-1e-8),
     r"axon.optim.RMSprop: invalid epsilon value: expected eps >= 0, got -1e-08\."),
    ("rmsprop-momentum", lambda: optim.RMSprop([_p()], momentum=-0.9),
     r"axon.optim.RMSprop: invalid momentum value: expected momentum >= 0, got -0.9\."),
    ("rmsprop-weight_decay", lambda: optim.RMSprop([_p()], weight_decay=-1),
     r"axon.optim.RMSprop: invalid weight_decay value: expected weight_decay >= 0, got -1\."),
    ("rmsprop-alpha", lambda: optim.RMSprop([_p()], alpha=-0.5),
     r"axon.optim.RMSprop: invalid alpha value: expected alpha >= 0, got -0.5\."),
    ("adagrad-lr", lambda: optim.Adagrad([_p()], lr=-1),
     r"axon.optim.Adagrad: invalid learning rate: expected lr >= 0, got -1\."),
    ("adagrad-lr_decay", lambda: optim.Adagrad([_p()], lr_decay=-1),
     r"axon.optim.Adagrad: invalid lr_decay value: expected lr_decay >= 0, got -1\."),
    ("adagrad-weight_decay", lambda: optim.Adagrad([_p()], weight_decay=-1),
     r"axon.optim.Adagrad: invalid weight_decay value: expected weight_decay >= 0, got -1\."),
    ("adagrad-accumulator", lambda: optim.Adagrad([_p()], initial_accumulator_value=-1),
     r"axon.optim.Adagrad: invalid initial_accumulator_value value: expected "
     r"initial_accumulator_value >= 0, got -1\."),
    ("adagrad-eps", lambda: optim.Adagrad([_p()], eps=-1),
     r"axon.optim.Adagrad: invalid epsilon value: expected eps >= 0, got -1\."),
    ("lamb-lr", lambda: optim.LAMB([_p()], lr=-1),
     r"axon.optim.LAMB: invalid learning rate: expected lr >= 0, got -1\."),
    ("lamb-beta", lambda: optim.LAMB([_p()], betas=(1.0, 0.999)),
     r"axon.optim.LAMB: invalid beta parameter at index 0: expected 0 <= beta < 1, got 1.0\."),
    ("lamb-eps", lambda: optim.LAMB([_p()], eps=-1),
     r"axon.optim.LAMB: invalid epsilon value: expected eps >= 0, got -1\."),
    ("lamb-weight_decay", lambda: optim.LAMB([_p()], weight_decay=-1),
     r"axon.optim.LAMB: invalid weight_decay value: expected weight_decay >= 0, got -1\."),
    ("group-rmsprop-alpha",
     lambda: optim.RMSprop([_p()]).add_param_group({"params": [_p()], "alpha": -1}),
     r"axon.optim.RMSprop: invalid alpha value: expected alpha >= 0, got -1\."),
]  # fmt: skip


@pytest.mark.parametrize(
    "build, match", [c[1:] for c in HYPER_ERRORS], ids=[c[0] for c in HYPER_ERRORS]
)
def test_hyperparameter_errors(build, match):
    with pytest.raises(ValueError, match=match):
        build()


def test_torch_rejects_the_same_hyperparameters():
    t = [torch.zeros(2, requires_grad=True)]
    for build in (
        lambda: torch.optim.AdamW(t, lr=-1),
        lambda: torch.optim.AdamW(t, betas=(0.9, 1.5)),
        lambda: torch.optim.AdamW(t, weight_decay=-0.1),
        lambda: torch.optim.RMSprop(t, eps=-1e-8),
        lambda: torch.optim.RMSprop(t, momentum=-0.9),
        lambda: torch.optim.RMSprop(t, alpha=-0.5),
        lambda: torch.optim.Adagrad(t, lr_decay=-1),
        lambda: torch.optim.Adagrad(t, initial_accumulator_value=-1),
        lambda: torch.optim.Adagrad(t, eps=-1),
    ):
        with pytest.raises(ValueError):
            build()


def test_lamb_betas_must_be_a_pair():
    with pytest.raises(TypeError, match=r"axon.optim.LAMB: expected betas to be a pair"):
        optim.LAMB([_p()], betas=0.9)


def test_hyperparameters_may_be_jax_arrays():
    params, tparams = make_pair(np.float32)
    twins = [Parameter(p.data) for p in params]
    opt = optim.AdamW(params, lr=jnp.asarray(0.05), betas=(jnp.asarray(0.8), 0.99))
    ref = optim.AdamW(twins, lr=0.05, betas=(0.8, 0.99))
    sched = optim.lr_scheduler.ExponentialLR(opt, gamma=0.5)
    tsched = optim.lr_scheduler.ExponentialLR(ref, gamma=0.5)
    problem = Problem(np.float32)
    for _ in range(3):
        grads = problem.grads(tparams)
        feed(params, grads)
        feed(twins, grads)
        opt.step()
        ref.step()
        sched.step()
        tsched.step()
    assert isinstance(opt.param_groups[0]["lr"], jax.Array)
    for p, q in zip(params, twins, strict=True):
        assert_close(p.data, q.data, rtol=1e-6, atol=1e-7)
    assert list(opt.state) == params
