"""axon.optim against torch.optim: trajectories, state dicts, param groups, optax wrapping, errors.

Each trajectory test computes the gradients with torch from torch's parameters and feeds the very
same gradients to axon (through `.grad`), so what is compared is the update rule alone.
"""

from __future__ import annotations

import copy
import importlib
import pickle

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest
import torch
from helpers import assert_close
from optim_harness import (
    SHAPES,
    Problem,
    assert_params,
    assert_states,
    check_loading_a_torch_state_dict_continues_torchs_trajectory,
    check_none_grads_are_skipped,
    check_state_dict_round_trip,
    check_torch_continues_from_an_axon_state_dict,
    check_trajectory,
    counting,
    feed,
    make_pair,
    run_both,
    step_twins,
    two_groups,
)
from optim_harness import small_param as _p

import axon
from axon import optim
from axon.nn import Parameter

jax.config.update("jax_default_matmul_precision", "highest")

DTYPES = [pytest.param(np.float32, id="f32"), pytest.param(np.float64, id="f64")]


# ----------------------------------------------------------------------------- trajectories
CONFIGS = [
    ("sgd-plain", "SGD", dict(lr=0.1)),
    ("sgd-momentum", "SGD", dict(lr=0.1, momentum=0.9)),
    ("sgd-dampening", "SGD", dict(lr=0.1, momentum=0.9, dampening=0.5)),
    ("sgd-nesterov", "SGD", dict(lr=0.1, momentum=0.9, nesterov=True)),
    ("sgd-weight_decay", "SGD", dict(lr=0.1, weight_decay=0.05)),
    ("sgd-momentum-weight_decay", "SGD", dict(lr=0.1, momentum=0.8, weight_decay=0.05)),
    ("sgd-maximize", "SGD", dict(lr=0.05, momentum=0.9, maximize=True)),
    ("sgd-everything", "SGD", dict(lr=0.1, momentum=0.7, dampening=0.2, weight_decay=0.1,
                                   maximize=True)),
    ("sgd-two-groups", "SGD", dict(groups=True, momentum=0.9)),
    ("adam-default", "Adam", dict()),
    ("adam-lr", "Adam", dict(lr=0.05)),
    ("adam-weight_decay", "Adam", dict(lr=0.05, weight_decay=0.1)),
    ("adam-amsgrad", "Adam", dict(lr=0.05, amsgrad=True)),
    ("adam-betas-eps", "Adam", dict(lr=0.05, betas=(0.8, 0.95), eps=1e-3)),
    ("adam-maximize", "Adam", dict(lr=0.05, maximize=True)),
    ("adam-amsgrad-wd-maximize", "Adam", dict(lr=0.05, amsgrad=True, weight_decay=0.1,
                                              maximize=True)),
    ("adam-two-groups", "Adam", dict(groups=True, amsgrad=True)),
]  # fmt: skip


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("name, kwargs", [c[1:] for c in CONFIGS], ids=[c[0] for c in CONFIGS])
def test_trajectory_equals_torch(name, kwargs, dtype):
    with jax.enable_x64(dtype == np.float64):
        check_trajectory(name, kwargs, dtype)


@pytest.mark.parametrize("name, kwargs", [("SGD", dict(lr=0.1, momentum=0.9, dampening=0.3)),
                                          ("Adam", dict(lr=0.05, amsgrad=True))],
                         ids=["sgd-dampening", "adam-amsgrad"])  # fmt: skip
def test_none_grads_are_skipped_with_per_parameter_state(name, kwargs):
    """b gets a gradient every other step, V never: neither V nor its state change."""
    opt, params = check_none_grads_are_skipped(name, kwargs)
    assert opt.state[params[2]] == {} and 2 not in opt.state_dict()["state"]
    if name == "Adam":
        assert float(opt.state[params[0]]["step"]) == 10.0
        assert float(opt.state[params[1]]["step"]) == 5.0


def test_momentum_switched_off_and_on_keeps_the_buffer_as_torch():
    params, tparams = make_pair(np.float32)
    opt = optim.SGD(params, lr=0.1, momentum=0.9)
    topt = torch.optim.SGD(tparams, lr=0.1, momentum=0.9)
    problem = Problem(np.float32)
    live = None
    for momentum, steps in ((0.9, 3), (0, 2), (0.5, 2)):
        opt.param_groups[0]["momentum"] = topt.param_groups[0]["momentum"] = momentum
        run_both(opt, topt, params, tparams, problem, steps)
        live = live or opt.state[params[0]]
    assert_params(params, tparams, np.float32)
    assert_states(opt, topt, np.float32)
    assert opt.state[params[0]] is live  # the same dict object, updated in place as torch's


# ----------------------------------------------------------------------------- no retrace
@pytest.mark.parametrize(
    "name, kwargs, changes",
    [
        ("SGD", dict(lr=0.1, momentum=0.9, dampening=0.2), dict(lr=0.03, momentum=0.5)),
        ("Adam", dict(lr=0.05), dict(lr=1, betas=(0.5, 0.9), eps=1e-4)),
    ],
    ids=["sgd", "adam"],
)
def test_hyperparameter_change_takes_effect_without_retracing(name, kwargs, changes):
    cls = counting(getattr(optim, name))
    params, tparams = make_pair(np.float32)
    opt = cls(two_groups(params), **kwargs)
    topt = getattr(torch.optim, name)(two_groups(tparams), **kwargs)
    problem = Problem(np.float32)
    run_both(opt, topt, params, tparams, problem, steps=3)
    traces = cls.traces
    assert traces >= 1
    for group, tgroup in zip(opt.param_groups, topt.param_groups, strict=True):
        group.update(changes)
        tgroup.update(changes)
    run_both(opt, topt, params, tparams, problem, steps=3)
    assert cls.traces == traces  # new values, same compiled update
    assert_params(params, tparams, np.float32)
    opt.param_groups[0]["maximize"] = True  # a structural change does retrace
    feed(params, problem.grads(tparams))
    opt.step()
    assert cls.traces > traces


# ----------------------------------------------------------------------------- state dicts
SD_CONFIGS = [
    ("sgd-momentum", "SGD", dict(lr=0.1, momentum=0.9)),
    ("sgd-dampening-nesterov-free", "SGD", dict(lr=0.1, momentum=0.9, dampening=0.4)),
    ("adam", "Adam", dict(lr=0.05)),
    ("adam-amsgrad-groups", "Adam", dict(groups=True, amsgrad=True)),
]


@pytest.mark.parametrize(
    "name, kwargs", [c[1:] for c in SD_CONFIGS], ids=[c[0] for c in SD_CONFIGS]
)
def test_loading_a_torch_state_dict_continues_torchs_trajectory(name, kwargs):
    check_loading_a_torch_state_dict_continues_torchs_trajectory(name, kwargs)


@pytest.mark.parametrize(
    "name, kwargs", [c[1:] for c in SD_CONFIGS], ids=[c[0] for c in SD_CONFIGS]
)
def test_torch_continues_from_an_axon_state_dict(name, kwargs):
    check_torch_continues_from_an_axon_state_dict(name, kwargs)


@pytest.mark.parametrize(
    "name, kwargs", [c[1:] for c in SD_CONFIGS], ids=[c[0] for c in SD_CONFIGS]
)
def test_state_dict_round_trip(name, kwargs):
    check_state_dict_round_trip(name, kwargs)


def _load_error_cases():
    def sgd():
        params = [Parameter(jnp.zeros(s)) for s in SHAPES]
        return optim.SGD(params, lr=0.1, momentum=0.9)

    def good():
        return sgd().state_dict()

    def with_state(**state):
        sd = good()
        sd["state"] = state
        return sd

    two_groups = good()
    two_groups["param_groups"] = two_groups["param_groups"] * 2
    short = good()
    short["param_groups"][0]["params"] = [0, 1]
    bad_lr = good()
    bad_lr["param_groups"][0]["lr"] = -1.0
    return [
        ("not-a-dict", [1, 2], r"load_state_dict: expected a dict with 'state' and 'param_groups'"),
        ("group-count", two_groups,
         r"loaded state dict has 2 parameter groups, but the optimizer has 1"),
        ("group-size", short,
         r"parameter group 0 of the loaded state dict has 2 parameters, but the optimizer's has 3"),
        ("shape", with_state(**{"0": {"momentum_buffer": np.zeros((4, 3))},
                                "1": {"momentum_buffer": np.zeros((3,))}}),
         r"state 'momentum_buffer' of parameter 1 has shape \(3,\), expected \(4,\)"),
        ("unknown-name", with_state(**{"0": {"exp_avg": np.zeros((4, 3))}}),
         r"unexpected state \['exp_avg'\] for parameter 0; axon.optim.SGD keeps "
         r"\['momentum_buffer'\]\. Was this state dict saved by another kind of optimizer\?"),
        ("unknown-index", with_state(**{"7": {"momentum_buffer": np.zeros(4)}}),
         r"the state of parameter '7' belongs to no parameter group"),
        ("bad-hyper", bad_lr, r"axon.optim.SGD: invalid learning rate: expected lr >= 0, got -1.0"),
    ], sgd  # fmt: skip


_LOAD_ERRORS, _make_sgd = _load_error_cases()


@pytest.mark.parametrize(
    "saved, match", [c[1:] for c in _LOAD_ERRORS], ids=[c[0] for c in _LOAD_ERRORS]
)
def test_load_state_dict_errors_change_nothing(saved, match):
    opt = _make_sgd()
    params = opt.param_groups[0]["params"]
    for p in params:
        p.grad = jnp.ones(p.shape)
    opt.step()
    before = opt.state_dict()
    with pytest.raises(ValueError, match=match):
        opt.load_state_dict(saved)
    after = opt.state_dict()
    assert after["param_groups"] == before["param_groups"]
    for i, s in before["state"].items():
        np.testing.assert_array_equal(after["state"][i]["momentum_buffer"], s["momentum_buffer"])


def test_state_dict_keys_may_be_strings():
    opt = _make_sgd()
    sd = opt.state_dict()
    sd["state"] = {"1": {"momentum_buffer": np.full(4, 2.0, np.float32)}}
    opt.load_state_dict(sd)
    p = opt.param_groups[0]["params"][1]
    np.testing.assert_array_equal(opt.state[p]["momentum_buffer"], 2.0)
    assert opt.state[p]["momentum_buffer"].dtype == jnp.float32


# ----------------------------------------------------------------------------- grads and closures
def test_zero_grad_both_modes():
    a, b = Parameter(jnp.ones(2)), Parameter(jnp.ones(3))
    opt = optim.SGD([a, b], lr=0.1)
    a.grad = jnp.full(2, 5.0)
    opt.zero_grad(set_to_none=False)
    np.testing.assert_array_equal(a.grad, 0.0)
    assert b.grad is None  # torch leaves a None grad None
    opt.zero_grad()
    assert a.grad is None and b.grad is None


def test_zero_grad_false_then_step_updates_with_zero_gradient():
    a = Parameter(jnp.ones(2))
    opt = optim.SGD([a], lr=0.1, weight_decay=0.5)
    a.grad = jnp.ones(2)
    opt.zero_grad(set_to_none=False)
    opt.step()
    np.testing.assert_allclose(a.data, 1 - 0.1 * 0.5)  # decay applied: the grad is zero, not None


def test_closure_form_matches_torch():
    w0 = np.array([0.5, -1.0, 2.0], np.float32)
    x = np.array([1.0, 2.0, 3.0], np.float32)
    w, tw = Parameter(jnp.asarray(w0)), torch.tensor(w0, requires_grad=True)
    opt, topt = optim.Adam([w], lr=0.1), torch.optim.Adam([tw], lr=0.1)

    def closure():
        opt.zero_grad()
        loss = ((w * jnp.asarray(x)).sum() - 1.0) ** 2
        loss.backward()
        return loss

    def tclosure():
        topt.zero_grad()
        loss = ((tw * torch.tensor(x)).sum() - 1.0) ** 2
        loss.backward()
        return loss

    for _ in range(5):
        with axon.no_grad():  # the closure still records: step() enables grad as torch does
            loss = opt.step(closure)
        tloss = topt.step(tclosure)
        assert float(loss.item()) == pytest.approx(tloss.item(), rel=1e-5)
    assert_close(w.data, tw, rtol=1e-5, atol=1e-6)


def test_step_with_a_list_or_dict_of_gradients():
    def run(build, grads_of):
        params = [Parameter(jnp.zeros(s)) for s in SHAPES]
        opt = build(params)
        for t in range(3):
            opt.step(grads_of(t))
        return [np.asarray(p.data) for p in params]

    grads = [np.full(s, i + 1.0, np.float32) for i, s in enumerate(SHAPES)]
    names = ["fc.weight", "fc.bias", "out.weight"]

    def reference(params):
        opt = optim.SGD(params, lr=0.1, momentum=0.9)
        for t in range(3):
            feed(params, grads, [True, t > 0, True])
            opt.step()
        return [np.asarray(p.data) for p in params]

    expected = reference([Parameter(jnp.zeros(s)) for s in SHAPES])
    as_list = run(
        lambda ps: optim.SGD(ps, lr=0.1, momentum=0.9),
        lambda t: [grads[0], grads[1] if t > 0 else None, axon.Variable(grads[2])],
    )
    by_name = run(
        lambda ps: optim.SGD(dict(zip(names, ps, strict=True)), lr=0.1, momentum=0.9),
        lambda t: {n: g for n, g in zip(names, grads, strict=True) if t > 0 or n != "fc.bias"},
    )
    by_position = run(
        lambda ps: optim.SGD(ps, lr=0.1, momentum=0.9),
        lambda t: dict(zip(names, [grads[0], grads[1] if t > 0 else None, grads[2]], strict=True)),
    )
    for got in (as_list, by_name, by_position):
        for a, e in zip(got, expected, strict=True):
            np.testing.assert_array_equal(a, e)


def test_named_parameters_are_kept_as_torch_does():
    a, b = Parameter(jnp.zeros(2)), Parameter(jnp.zeros(3))
    opt = optim.Adam({"a": a, "b": b}, lr=0.1)
    assert opt.param_groups[0]["params"] == [a, b]
    assert opt.param_groups[0]["param_names"] == ["a", "b"]
    assert opt.state_dict()["param_groups"][0]["param_names"] == ["a", "b"]
    tuples = optim.SGD([("a", a), ("b", b)])
    assert tuples.param_groups[0]["param_names"] == ["a", "b"]


# ----------------------------------------------------------------------------- from_optax
def test_from_optax_sgd_equals_sgd():
    params, tparams = make_pair(np.float32)
    twins = [Parameter(p.data) for p in params]
    ours = optim.Optimizer.from_optax(params, optax.sgd(0.1, momentum=0.9))
    reference = optim.SGD(twins, lr=0.1, momentum=0.9)
    step_twins([ours, reference], [params, twins], Problem(np.float32), tparams, steps=10)
    for p, q in zip(params, twins, strict=True):
        assert_close(p.data, q.data, rtol=1e-6, atol=1e-7)


def test_from_optax_sees_the_group_as_one_tree():
    a, b = Parameter(jnp.zeros(2)), Parameter(jnp.zeros(1))
    opt = optim.Optimizer.from_optax([a, b], optax.chain(optax.clip_by_global_norm(1.0),
                                                         optax.sgd(1.0)))  # fmt: skip
    a.grad, b.grad = jnp.array([3.0, 0.0]), jnp.array([4.0])  # global norm 5
    opt.step()
    np.testing.assert_allclose(a.data, [-0.6, 0.0], rtol=1e-6)
    np.testing.assert_allclose(b.data, [-0.8], rtol=1e-6)


def test_from_optax_counts_a_none_grad_as_zero_and_skips_all_none_groups():
    a, b = Parameter(jnp.zeros(2)), Parameter(jnp.zeros(2))
    c = Parameter(jnp.ones(2))
    opt = optim.Optimizer.from_optax([{"params": [a, b]}, {"params": [c]}], optax.sgd(1.0, 0.5))
    a.grad, b.grad = jnp.ones(2), jnp.ones(2)
    opt.step()
    a.grad, b.grad = jnp.ones(2), None
    opt.step()
    np.testing.assert_allclose(a.data, -(1 + 1.5))
    np.testing.assert_allclose(b.data, -(1 + 0.5))  # momentum carries on with a zero grad
    np.testing.assert_array_equal(c.data, 1.0)
    assert opt.state_dict()["optax_state"][1] is None


def test_from_optax_state_dict_round_trip_and_errors():
    def build():
        return optim.Optimizer.from_optax([Parameter(jnp.zeros(3))], optax.adam(0.1))

    opt = build()
    p = opt.param_groups[0]["params"][0]
    p.grad = jnp.ones(3)
    opt.step()
    twin = build()
    q = twin.param_groups[0]["params"][0]
    q.data = p.data
    twin.load_state_dict(opt.state_dict())
    p.grad = q.grad = jnp.full(3, -2.0)
    opt.step()
    twin.step()
    np.testing.assert_array_equal(p.data, q.data)
    with pytest.raises(ValueError, match=r"expected 'optax_state' with one entry per parameter"):
        twin.load_state_dict({"state": {}, "param_groups": opt.state_dict()["param_groups"]})
    other = optim.Optimizer.from_optax([Parameter(jnp.zeros(3))], optax.sgd(0.1, 0.9))
    other.param_groups[0]["params"][0].grad = jnp.ones(3)
    other.step()
    with pytest.raises(ValueError, match=r"the optax state of group 0 has structure"):
        twin.load_state_dict(other.state_dict())
    with pytest.raises(TypeError, match=r"from_optax: expected an optax.GradientTransformation"):
        optim.Optimizer.from_optax([p], "adam")


# ----------------------------------------------------------------------------- construction
def test_param_groups_are_torchs():
    params, tparams = make_pair(np.float32)
    opt = optim.Adam(two_groups(params), lr=0.3, betas=(0.8, 0.9))
    topt = torch.optim.Adam(two_groups(tparams), lr=0.3, betas=(0.8, 0.9))
    for g, tg in zip(opt.param_groups, topt.param_groups, strict=True):
        for key in ("lr", "betas", "eps", "weight_decay", "amsgrad", "maximize"):
            assert g[key] == tg[key], key
    extra = Parameter(jnp.zeros(5))
    opt.add_param_group({"params": extra, "eps": 1e-3})
    assert opt.param_groups[2]["params"] == [extra] and opt.param_groups[2]["lr"] == 0.3
    assert opt.state_dict()["param_groups"][2]["params"] == [3]


def test_param_groups_are_dicts_that_note_their_changes():
    """Groups are dict subclasses (`ParamGroup`, params in a `ParamList`) that bump
    `_structure.settings` on every change, which `axon.jit` relies on; otherwise plain."""
    structure = importlib.import_module("axon._structure")
    given = {"params": [Parameter(jnp.zeros(2))], "lr": 0.5}
    opt = optim.SGD([Parameter(jnp.zeros(3))], lr=0.1)
    opt.add_param_group(given)
    group = opt.param_groups[1]
    assert isinstance(group, dict) and isinstance(group["params"], list)
    assert group is not given and "momentum" not in given  # the optimizer keeps its own copy
    changes = [
        lambda: group.__setitem__("lr", 0.2),
        lambda: group.update(momentum=0.0),
        lambda: group.setdefault("extra", 1),
        lambda: group.pop("extra"),
        lambda: group["params"].append(Parameter(jnp.zeros(1))),
        lambda: group["params"].pop(),
        lambda: opt.param_groups.append(opt.param_groups.pop()),
        lambda: setattr(opt, "param_groups", opt.param_groups),
    ]
    for change in changes:
        before = structure.settings
        change()
        assert structure.settings != before
    for twin in (copy.deepcopy(opt), pickle.loads(pickle.dumps(opt))):
        assert [g["lr"] for g in twin.param_groups] == [0.1, 0.2]
        assert type(twin.param_groups[1]) is type(group)
        assert type(twin.param_groups[1]["params"]) is type(group["params"])
    saved = opt.state_dict()
    assert type(saved["param_groups"][1]) is dict  # a state dict holds plain dicts
    opt.load_state_dict(saved)
    assert opt.param_groups[1] is group and group["lr"] == 0.2


def test_generator_params_and_seed_forms():
    params = [Parameter(jnp.zeros(2)), Parameter(jnp.zeros(3))]
    opt = optim.Adam((p for p in params), 0.001)  # positional lr; any iterable, as torch
    assert opt.param_groups[0]["params"] == params and opt.param_groups[0]["lr"] == 0.001
    optim.SGD([axon.Variable(jnp.zeros(2), requires_grad=True)])  # a leaf Variable will do
    seeds = [
        (optim.SGD.with_momentum(params, 0.1, 0.9), optim.SGD(params, 0.1, momentum=0.9)),
        (
            optim.SGD.with_options(params, 0.1, 0.9, 0.01, 0.0, True),
            optim.SGD(params, 0.1, momentum=0.9, weight_decay=0.01, nesterov=True),
        ),
        (optim.Adam.with_betas(params, 0.1, (0.8, 0.9)), optim.Adam(params, 0.1, (0.8, 0.9))),
        (
            optim.Adam.with_options(params, 0.1, (0.8, 0.9), 1e-6, 0.01, True),
            optim.Adam(params, 0.1, (0.8, 0.9), eps=1e-6, weight_decay=0.01, amsgrad=True),
        ),
    ]
    for seed, plain in seeds:
        assert type(seed) is type(plain) and seed.param_groups == plain.param_groups


def test_state_view_and_repr():
    a, b = Parameter(jnp.zeros(2)), Parameter(jnp.zeros(3))
    opt = optim.SGD([a, b], lr=0.1, momentum=0.9)
    assert len(opt.state) == 0
    a.grad = jnp.ones(2)
    opt.step()
    assert list(opt.state) == [a] and list(opt.state[a]) == ["momentum_buffer"]
    opt.state[a]["momentum_buffer"] = jnp.full(2, 10.0)  # the live dict, as torch's
    opt.step()
    np.testing.assert_allclose(opt.state[a]["momentum_buffer"], 10.0 * 0.9 + 1.0)
    with pytest.raises(KeyError):
        opt.state[Parameter(jnp.zeros(1))]
    assert repr(opt).startswith("SGD (\nParameter Group 0\n    dampening: 0\n    lr: 0.1")


SHARED = _p()
CONSTRUCTION_ERRORS = [
    ("empty", lambda: optim.SGD([]), ValueError,
     r"axon.optim.SGD: optimizer got an empty parameter list\. Pass model.parameters\(\)"),
    ("exhausted-generator", lambda: optim.SGD(iter([])), ValueError,
     r"empty parameter list\. .*a generator or iterator can be consumed only once"),
    ("single-parameter", lambda: optim.SGD(_p()), TypeError,
     r"axon.optim.SGD: params should be an iterable of Parameters or of param-group dicts, got a "
     r"single Parameter\. Wrap it in a list"),
    ("not-iterable", lambda: optim.Adam(3), TypeError,
     r"axon.optim.Adam: params should be an iterable .*, got int"),
    ("single-group-dict", lambda: optim.SGD({"params": [_p()]}), TypeError,
     r"got a single dict\. Wrap it in a list"),
    ("array", lambda: optim.SGD([jnp.zeros(2)]), TypeError,
     r"axon.optim.SGD.add_param_group: optimizer can only optimize Parameters, but params\[0\] is "
     r"jax.Array\. Wrap arrays in axon.nn.Parameter"),
    ("set", lambda: optim.SGD([{"params": {_p()}}]), TypeError,
     r"ordered collections.*Use a list instead"),
    ("non-leaf", lambda: optim.SGD([_p() * 2]), ValueError,
     r"can't optimize a non-leaf Variable \(params\[0\]\)"),
    ("int-dtype", lambda: optim.SGD([axon.Variable(jnp.zeros(2, jnp.int32))]), TypeError,
     r"can only optimize floating point parameters, params\[0\] is int32"),
    ("duplicate", lambda: optim.SGD([SHARED, SHARED]), ValueError,
     r"a parameter group contains the same parameter twice"),
    ("two-groups", lambda: optim.SGD([{"params": [SHARED]}, {"params": [SHARED]}]), ValueError,
     r"some parameters appear in more than one parameter group"),
    ("some-names", lambda: optim.SGD([("a", _p()), _p()]), ValueError,
     r"all optimizer params should be with or without names; some are missing"),
    ("group-names", lambda: optim.SGD([{"params": [("a", _p())]}, {"params": [_p()]}]), ValueError,
     r"cannot add a group without names to this optimizer"),
    ("group-not-dict", lambda: optim.SGD([_p()]).add_param_group([_p()]), TypeError,
     r"axon.optim.SGD.add_param_group: param_group must be a dict, got list"),
    ("group-no-params", lambda: optim.SGD([_p()]).add_param_group({"lr": 0.1}), ValueError,
     r"param_group has no 'params' entry"),
    ("group-bad-lr", lambda: optim.SGD([_p()]).add_param_group({"params": [_p()], "lr": -2}),
     ValueError, r"axon.optim.SGD: invalid learning rate: expected lr >= 0, got -2\."),
]  # fmt: skip

HYPER_ERRORS = [
    ("sgd-lr", lambda: optim.SGD([_p()], lr=-1), r"axon.optim.SGD: invalid learning rate: "
     r"expected lr >= 0, got -1\."),
    ("sgd-momentum", lambda: optim.SGD([_p()], momentum=-0.5),
     r"invalid momentum value: expected momentum >= 0, got -0.5\."),
    ("sgd-weight_decay", lambda: optim.SGD([_p()], weight_decay=-1e-4),
     r"axon.optim.SGD: invalid weight_decay value: expected weight_decay >= 0, got -0.0001\."),
    ("sgd-nesterov-no-momentum", lambda: optim.SGD([_p()], nesterov=True),
     r"axon.optim.SGD: Nesterov momentum requires a momentum and zero dampening, got "
     r"momentum=0, dampening=0\. Set momentum > 0 and dampening=0, or nesterov=False\."),
    ("sgd-nesterov-dampening",
     lambda: optim.SGD([_p()], momentum=0.9, dampening=0.1, nesterov=True),
     r"got momentum=0.9, dampening=0.1"),
    ("adam-lr", lambda: optim.Adam([_p()], lr=-0.1), r"axon.optim.Adam: invalid learning rate"),
    ("adam-nan-lr", lambda: optim.Adam([_p()], lr=float("nan")), r"expected lr >= 0, got nan"),
    ("adam-eps", lambda: optim.Adam([_p()], eps=-1e-8),
     r"axon.optim.Adam: invalid epsilon value: expected eps >= 0, got -1e-08\."),
    ("adam-beta0", lambda: optim.Adam([_p()], betas=(1.5, 0.999)),
     r"axon.optim.Adam: invalid beta parameter at index 0: expected 0 <= beta < 1, got 1.5\."),
    ("adam-beta1", lambda: optim.Adam([_p()], betas=(0.9, 1.0)),
     r"invalid beta parameter at index 1: expected 0 <= beta < 1, got 1.0\."),
    ("adam-weight_decay", lambda: optim.Adam([_p()], weight_decay=-1),
     r"axon.optim.Adam: invalid weight_decay value: expected weight_decay >= 0, got -1\."),
]  # fmt: skip


@pytest.mark.parametrize(
    "build, exc, match",
    [c[1:] for c in CONSTRUCTION_ERRORS],
    ids=[c[0] for c in CONSTRUCTION_ERRORS],
)
def test_construction_errors(build, exc, match):
    with pytest.raises(exc, match=match):
        build()


@pytest.mark.parametrize(
    "build, match", [c[1:] for c in HYPER_ERRORS], ids=[c[0] for c in HYPER_ERRORS]
)
def test_hyperparameter_errors_as_torch(build, match):
    with pytest.raises(ValueError, match=match):
        build()


def test_torch_rejects_the_same_hyperparameters():
    t = [torch.zeros(2, requires_grad=True)]
    for build in (
        lambda: torch.optim.SGD(t, lr=-1),
        lambda: torch.optim.SGD(t, momentum=-0.5),
        lambda: torch.optim.SGD(t, nesterov=True),
        lambda: torch.optim.SGD(t, momentum=0.9, dampening=0.1, nesterov=True),
        lambda: torch.optim.Adam(t, eps=-1e-8),
        lambda: torch.optim.Adam(t, betas=(1.5, 0.999)),
        lambda: torch.optim.Adam(t, betas=(0.9, 1.0)),
        lambda: torch.optim.Adam(t, weight_decay=-1),
    ):
        with pytest.raises(ValueError):
            build()


def test_adam_betas_must_be_a_pair():
    with pytest.raises(TypeError, match=r"axon.optim.Adam: expected betas to be a pair"):
        optim.Adam([_p()], betas=0.9)


STEP_ERRORS = [
    ("list-length", lambda o: o.step([jnp.ones(2)]), ValueError,
     r"axon.optim.SGD.step: got 1 gradients for 2 parameters\. Pass one gradient"),
    ("shape", lambda o: o.step([jnp.ones(3), None]), ValueError,
     r"the gradient of parameter 0 has shape \(3,\), but the parameter has shape \(2,\)"),
    ("dict-length", lambda o: o.step({"a": jnp.ones(2)}), ValueError,
     r"got a dict of 1 gradients for 2 parameters; without parameter names they are matched by "
     r"position\. Build the optimizer from model.named_parameters\(\)"),
    ("bad-type", lambda o: o.step(3.0), TypeError,
     r"expected a closure, a dict of gradients or a list of gradients, got float"),
]  # fmt: skip


@pytest.mark.parametrize(
    "call, exc, match", [c[1:] for c in STEP_ERRORS], ids=[c[0] for c in STEP_ERRORS]
)
def test_step_errors(call, exc, match):
    opt = optim.SGD([_p(), _p()], lr=0.1)
    with pytest.raises(exc, match=match):
        call(opt)


def test_step_error_for_an_unknown_name():
    opt = optim.SGD({"a": _p()}, lr=0.1)
    with pytest.raises(ValueError, match=r"gradients given for unknown parameter names \['b'\]"):
        opt.step({"b": jnp.ones(2)})


def test_base_class_needs_make_transform():
    opt = optim.Optimizer([_p()], {"lr": 0.1})
    opt.param_groups[0]["params"][0].grad = jnp.ones(2)
    with pytest.raises(NotImplementedError, match=r"subclasses define make_transform"):
        opt.step()


def test_from_optax_state_is_an_empty_mapping_with_a_pointer():
    w = Parameter(jnp.ones(2))
    opt = optim.Optimizer.from_optax([w], optax.adam(0.1))
    w.grad = jnp.ones(2)
    opt.step()
    assert len(opt.state) == 0 and list(opt.state) == []
    with pytest.raises(KeyError, match=r"OptaxOptimizer.state: .*one optax state per param group"):
        opt.state[w]
    assert len(opt.state_dict()["optax_state"]) == 1
