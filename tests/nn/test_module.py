"""`axon.nn.Module`: registration, traversal, modes, state dicts, pytrees, printing and hooks.

Every structural behaviour is checked against the same architecture built with `torch.nn`, with the
same state dict loaded into both.
"""

from __future__ import annotations

import re

import jax
import jax.numpy as jnp
import numpy as np
import pytest
import torch
from helpers import assert_close, to_numpy

import axon
from axon import nn

jax.config.update("jax_default_matmul_precision", "highest")


# ---------------------------------------------------------------------------------------- models
# Each axon model has a torch twin of the same class name, attribute order and layer sizes, so
# state-dict keys, parameter order and `print` output can be compared one to one.


def _axon_block(with_super: bool):
    class Block(nn.Module):
        def __init__(self):
            if with_super:
                super().__init__()
            self.fc = nn.Linear(3, 2)
            self.register_buffer("steps", jnp.zeros(()))
            self.scale = nn.Parameter(jnp.ones(2))
            self.register_buffer("cache", jnp.zeros(2), persistent=False)

        def forward(self, x):
            return self.fc(x) * self.scale

    return Block()


class TorchBlock(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.fc = torch.nn.Linear(3, 2)
        self.register_buffer("steps", torch.zeros(()))
        self.scale = torch.nn.Parameter(torch.ones(2))
        self.register_buffer("cache", torch.zeros(2), persistent=False)

    def forward(self, x):
        return self.fc(x) * self.scale


def axon_net():
    class Net(nn.Module):
        def __init__(self):
            super().__init__()
            self.features = nn.Sequential(nn.Linear(6, 8), nn.ReLU(), nn.Dropout(0.25))
            self.norm = nn.BatchNorm1d(8)
            self.heads = nn.ModuleList([nn.Linear(8, 8) for _ in range(3)] + [nn.Tanh()])
            self.out = nn.ModuleDict({"cls": nn.Linear(8, 4), "act": nn.LogSoftmax(dim=1)})
            self.temperature = nn.Parameter(jnp.ones(()))

        def forward(self, x):
            h = self.norm(self.features(x))
            h = self.heads(h)
            return self.out["act"](self.out["cls"](h) * self.temperature)

    return Net()


def torch_net():
    class Net(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.features = torch.nn.Sequential(
                torch.nn.Linear(6, 8), torch.nn.ReLU(), torch.nn.Dropout(0.25)
            )
            self.norm = torch.nn.BatchNorm1d(8)
            self.heads = torch.nn.ModuleList(
                [torch.nn.Linear(8, 8) for _ in range(3)] + [torch.nn.Tanh()]
            )
            self.out = torch.nn.ModuleDict(
                {"cls": torch.nn.Linear(8, 4), "act": torch.nn.LogSoftmax(dim=1)}
            )
            self.temperature = torch.nn.Parameter(torch.ones(()))

        def forward(self, x):
            h = self.norm(self.features(x))
            for layer in self.heads:
                h = layer(h)
            return self.out["act"](self.out["cls"](h) * self.temperature)

    return Net()


def axon_mlp():
    return nn.Sequential(nn.Linear(6, 8), nn.Tanh(), nn.Linear(8, 4))


def torch_mlp():
    return torch.nn.Sequential(torch.nn.Linear(6, 8), torch.nn.Tanh(), torch.nn.Linear(8, 4))


class MyMLP(nn.Module):
    """The seed's custom module, translated line by line (no `super().__init__()`, as in Rust)."""

    def __init__(self, in_features: int, hidden: int, out: int):
        self.fc1 = nn.Linear(in_features, hidden)
        self.bn1 = nn.BatchNorm1d(hidden)
        self.fc2 = nn.Linear(hidden, hidden)
        self.fc3 = nn.Linear(hidden, out)
        self.training = True

    def forward(self, x):
        h = self.fc1(x)
        h = self.bn1(h)
        h = h.relu()
        h = self.fc2(h).relu()
        return self.fc3(h)

    def parameters(self):
        p = self.fc1.parameters()
        p.extend(self.bn1.parameters())
        p.extend(self.fc2.parameters())
        p.extend(self.fc3.parameters())
        return p

    def set_training(self, training):
        self.training = training
        self.bn1.set_training(training)

    def is_training(self):
        return self.training


class TorchMyMLP(torch.nn.Module):
    def __init__(self, in_features, hidden, out):
        super().__init__()
        self.fc1 = torch.nn.Linear(in_features, hidden)
        self.bn1 = torch.nn.BatchNorm1d(hidden)
        self.fc2 = torch.nn.Linear(hidden, hidden)
        self.fc3 = torch.nn.Linear(hidden, out)

    def forward(self, x):
        h = torch.relu(self.bn1(self.fc1(x)))
        return self.fc3(torch.relu(self.fc2(h)))


def twin(axon_model, torch_model):
    """Load the torch model's state dict (torch tensors as they are) into the axon model."""
    axon_model.load_state_dict(torch_model.state_dict())
    return axon_model, torch_model


def data(*shape, seed=0, dtype=np.float32):
    return np.random.default_rng(seed).standard_normal(shape).astype(dtype)


def snapshot(model) -> dict[str, np.ndarray]:
    return {k: np.array(v) for k, v in model.state_dict().items()}


# ---------------------------------------------------------------------------------- registration
@pytest.mark.parametrize("with_super", [True, False], ids=["super_init", "no_super_init"])
def test_registration_matches_torch_with_and_without_super_init(with_super):
    model, ref = _axon_block(with_super), TorchBlock()
    assert list(model.named_parameters()) == [k for k, _ in ref.named_parameters()]
    assert list(model.state_dict()) == list(ref.state_dict())  # own params, buffers, children
    assert list(model.named_buffers()) == [k for k, _ in ref.named_buffers()]
    assert list(model.named_children()) == ["fc"]
    assert model.num_parameters() == sum(p.numel() for p in ref.parameters()) == 10
    assert model.is_training() and model.fc.is_training()
    model.eval()
    assert not model.training and not model.fc.training
    model.train()
    assert model.training and model.fc.training


def test_attribute_order_is_state_dict_order():
    class Ordered(nn.Module):
        def __init__(self):
            super().__init__()
            self.c = nn.Linear(3, 2)
            self.a = nn.Linear(3, 2, bias=False)
            self.b = nn.Linear(3, 2)

    class TorchOrdered(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.c = torch.nn.Linear(3, 2)
            self.a = torch.nn.Linear(3, 2, bias=False)
            self.b = torch.nn.Linear(3, 2)

    keys = list(Ordered().state_dict())
    assert keys == ["c.weight", "c.bias", "a.weight", "b.weight", "b.bias"]
    assert keys == list(TorchOrdered().state_dict())


def test_buffers_persistent_and_non_persistent():
    model = _axon_block(True)
    assert set(model.state_dict()) == {"steps", "scale", "fc.weight", "fc.bias"}
    assert "cache" not in model.state_dict()
    assert list(model.named_buffers()) == ["steps", "cache"]
    assert [b.shape for b in model.buffers()] == [(), (2,)]
    assert all(isinstance(b, jax.Array) for b in model.buffers())
    assert [p.shape for p in model.parameters()] == [(2,), (2, 3), (2,)]
    # updating a buffer is an ordinary assignment
    model.steps = model.steps + 1
    assert float(model.state_dict()["steps"]) == 1.0


def test_register_buffer_rejects_non_arrays():
    model = _axon_block(True)
    with pytest.raises(TypeError, match=r"buffer 'bad' must be an array or None, got list"):
        model.register_buffer("bad", [1, 2])


@pytest.mark.parametrize(
    "value",
    [jnp.zeros((2, 3)), axon.Variable(jnp.zeros((2, 3))), nn.Linear(3, 2)],
    ids=["array", "variable", "module"],
)
def test_assigning_non_parameter_over_parameter_raises(value):
    model = _axon_block(True)
    with pytest.raises(
        TypeError,
        match=r"axon\.nn\.Linear \(fc\): cannot assign \w+ as parameter 'weight' "
        r"\(a Parameter or None expected\)\. To change its value, assign `weight\.data",
    ):
        model.fc.weight = value
    assert isinstance(model.fc.weight, nn.Parameter)
    with pytest.raises(TypeError, match=r"cannot register ArrayImpl as parameter 'extra'"):
        model.register_parameter("extra", jnp.zeros(2))
    model.fc.bias = None  # None is allowed, as in PyTorch
    assert list(model.fc.state_dict()) == ["weight"]


def test_shared_parameters_are_counted_once():
    class Tied(nn.Module):
        def __init__(self):
            super().__init__()
            self.a = nn.Linear(8, 8)
            self.b = nn.Linear(8, 8)
            self.b.weight = self.a.weight

        def forward(self, x):
            return self.b(self.a(x))

    class TorchTied(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.a = torch.nn.Linear(8, 8)
            self.b = torch.nn.Linear(8, 8)
            self.b.weight = self.a.weight

        def forward(self, x):
            return self.b(self.a(x))

    model, ref = twin(Tied(), TorchTied())
    assert list(model.named_parameters()) == [k for k, _ in ref.named_parameters()]
    assert model.num_parameters() == sum(p.numel() for p in ref.parameters()) == 80
    assert list(model.state_dict()) == list(ref.state_dict())  # both keys, as PyTorch
    # the tied weight gets the gradient of both uses
    x = data(4, 8)
    model(x).sum().backward()
    ref(torch.tensor(x)).sum().backward()
    assert_close(model.a.weight.grad, ref.a.weight.grad)
    assert model.b.weight.grad is model.a.weight.grad


def test_shared_submodule_is_listed_once_but_keeps_both_state_dict_keys():
    class Shared(nn.Module):
        def __init__(self):
            super().__init__()
            self.a = nn.Linear(3, 2)
            self.b = self.a

    class TorchShared(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.a = torch.nn.Linear(3, 2)
            self.b = self.a

    model, ref = twin(Shared(), TorchShared())
    assert list(model.named_parameters()) == [k for k, _ in ref.named_parameters()]
    assert list(model.named_children()) == [k for k, _ in ref.named_children()] == ["a"]
    assert list(model.named_modules()) == [k for k, _ in ref.named_modules()]
    assert list(model.state_dict()) == list(ref.state_dict())
    assert repr(model) == repr(ref).replace("TorchShared", "Shared")


# ------------------------------------------------------------------------------ the seed's MyMLP
@pytest.fixture
def mlp_pair():
    return twin(MyMLP(6, 8, 4), TorchMyMLP(6, 8, 4))


def test_seed_mymlp_forward_and_parameters(mlp_pair):
    model, _ = mlp_pair
    out = model(axon.Variable(data(4, 6)))
    assert out.shape == (4, 4)
    expected = [
        model.fc1.weight, model.fc1.bias, model.bn1.weight, model.bn1.bias,
        model.fc2.weight, model.fc2.bias, model.fc3.weight, model.fc3.bias,
    ]  # fmt: skip
    got = model.parameters()
    assert all(a is b for a, b in zip(got, expected, strict=True))
    assert model.num_parameters() == 6 * 8 + 8 + 8 + 8 + 8 * 8 + 8 + 8 * 4 + 4


def test_seed_mymlp_state_dict_keys(mlp_pair):
    model, ref = mlp_pair
    keys = list(model.state_dict())
    assert keys == list(ref.state_dict())
    for key in ("bn1.running_mean", "bn1.running_var", "bn1.num_batches_tracked"):
        assert key in keys


def test_seed_mymlp_train_eval_reach_bn1(mlp_pair):
    model, ref = mlp_pair
    x = data(4, 6)
    assert model.is_training() and model.bn1.training
    model.eval()
    assert not model.is_training() and not model.bn1.training
    ref.eval()
    assert_close(model(x), ref(torch.tensor(x)))  # running statistics used
    model.train()
    assert model.is_training() and model.bn1.training
    ref.train()
    assert_close(model(x), ref(torch.tensor(x)))  # batch statistics used
    assert_close(model.bn1.running_mean, ref.bn1.running_mean)
    assert_close(model.bn1.running_var, ref.bn1.running_var)
    assert int(model.bn1.num_batches_tracked) == int(ref.bn1.num_batches_tracked) == 1


def test_seed_mymlp_backward_fills_every_grad(mlp_pair):
    model, ref = mlp_pair
    x = data(4, 6)
    model(x).sum().backward()
    ref(torch.tensor(x)).sum().backward()
    named = model.named_parameters()
    assert list(named) == [k for k, _ in ref.named_parameters()] and len(named) == 8
    for (name, p), (_, tp) in zip(named.items(), ref.named_parameters(), strict=True):
        assert p.grad is not None, name
        assert p.grad.shape == p.shape, name
        assert_close(p.grad, tp.grad, atol=1e-5)
    assert all(p.grad is not None for p in model.parameters())  # the seed's own parameters()


# ------------------------------------------------------------------------------------- traversal
def test_traversal_names_match_torch():
    model, ref = axon_net(), torch_net()
    assert list(model.named_parameters()) == [k for k, _ in ref.named_parameters()]
    assert list(model.named_buffers()) == [k for k, _ in ref.named_buffers()]
    assert list(model.named_children()) == [k for k, _ in ref.named_children()]
    assert list(model.named_modules()) == [k for k, _ in ref.named_modules()]
    assert [type(m).__name__ for m in model.children()] == [
        type(m).__name__ for m in ref.children()
    ]
    assert [type(m).__name__ for m in model.modules()] == [type(m).__name__ for m in ref.modules()]
    assert model.named_modules()[""] is model
    assert model.named_modules()["heads.2"] is model.heads[2]
    assert [p.shape for p in model.parameters()] == [tuple(p.shape) for p in ref.parameters()]
    assert all(isinstance(p, nn.Parameter) for p in model.parameters())
    assert model.num_parameters() == sum(p.numel() for p in ref.parameters())
    assert list(model.named_parameters(recurse=False)) == ["temperature"]
    assert list(model.named_parameters(prefix="net")) == [
        "net." + k for k, _ in ref.named_parameters()
    ]


def test_num_parameters_counts_only_trainable():
    assert nn.Linear(10, 5).num_parameters() == 55  # the seed's figure
    model = axon_mlp()
    assert model.num_parameters() == 6 * 8 + 8 + 8 * 4 + 4
    model[0].weight.requires_grad_(False)
    assert model.num_parameters() == 8 + 8 * 4 + 4


def test_train_eval_set_training_recurse():
    model = axon_net()
    assert all(m.training for m in model.modules())
    assert model.eval() is model
    assert not any(m.training for m in model.modules())
    assert model.train() is model
    assert all(m.is_training() for m in model.modules())
    model.train(False)
    assert not any(m.is_training() for m in model.modules())
    model.set_training(True)
    assert all(m.training for m in model.modules())
    model.features.set_training(False)
    assert not model.features[2].training and model.norm.training


@pytest.mark.parametrize("set_to_none", [True, False], ids=["set_to_none", "zeros"])
def test_zero_grad(set_to_none):
    model, ref = twin(axon_mlp(), torch_mlp())
    x = data(4, 6)
    model(x).sum().backward()
    ref(torch.tensor(x)).sum().backward()
    assert all(p.grad is not None for p in model.parameters())
    model.zero_grad(set_to_none=set_to_none)
    ref.zero_grad(set_to_none=set_to_none)
    for p, tp in zip(model.parameters(), ref.parameters(), strict=True):
        if set_to_none:
            assert p.grad is None and tp.grad is None
        else:
            assert_close(p.grad, tp.grad)
            assert not np.any(to_numpy(p.grad))
    # gradients accumulate from zero again
    model(x).sum().backward()
    ref(torch.tensor(x)).sum().backward()
    for p, tp in zip(model.parameters(), ref.parameters(), strict=True):
        assert_close(p.grad, tp.grad)


def test_zero_grad_default_sets_none_and_leaves_untouched_grads_none():
    model = axon_mlp()
    model.zero_grad(set_to_none=False)  # no grads yet: stay None, as in PyTorch
    assert all(p.grad is None for p in model.parameters())
    model(data(4, 6)).sum().backward()
    model.zero_grad()
    assert all(p.grad is None for p in model.parameters())


def test_apply_visits_children_first_like_torch():
    model, ref = axon_net(), torch_net()
    seen, tseen = [], []
    assert model.apply(lambda m: seen.append(type(m).__name__)) is model
    ref.apply(lambda m: tseen.append(type(m).__name__))
    assert seen == tseen

    def zero_linears(m):
        if isinstance(m, nn.Linear):
            m.weight.data = jnp.zeros_like(m.weight.data)

    model.apply(zero_linears)
    assert all(not np.any(to_numpy(m.weight)) for m in model.modules() if isinstance(m, nn.Linear))


def test_to_dtype_casts_floats_and_keeps_integer_buffers():
    model = MyMLP(6, 8, 4)
    model(data(4, 6)).sum().backward()
    assert model.to(jnp.bfloat16) is model
    assert all(p.dtype == jnp.bfloat16 for p in model.parameters())
    assert all(p.grad.dtype == jnp.bfloat16 for p in model.parameters())
    assert model.bn1.running_mean.dtype == jnp.bfloat16
    assert jnp.issubdtype(model.bn1.num_batches_tracked.dtype, jnp.integer)
    with jax.enable_x64(True):
        model.to(jnp.float64)
        assert all(p.dtype == jnp.float64 for p in model.parameters())
    model.to("cpu")
    assert all(p.data.devices() == {jax.devices("cpu")[0]} for p in model.parameters())


def test_to_unknown_device_raises():
    with pytest.raises(ValueError, match=r"axon\.nn\.Module\.to: no 'tpu' device is available"):
        nn.Linear(3, 2).to("tpu")


def test_requires_grad_():
    model = axon_mlp()
    assert model.requires_grad_(False) is model
    assert not any(p.requires_grad for p in model.parameters())
    assert model.num_parameters() == 0
    model.requires_grad_()
    assert all(p.requires_grad for p in model.parameters())


def test_forward_not_implemented():
    class NoForward(nn.Module):
        pass

    with pytest.raises(
        NotImplementedError, match=r"axon\.nn\.NoForward: Module subclasses must implement forward"
    ):
        NoForward()(jnp.zeros(2))


# ----------------------------------------------------------------------------------- state dicts
@pytest.mark.parametrize(
    "make",
    [
        (axon_mlp, torch_mlp),
        (axon_net, torch_net),
        (lambda: MyMLP(6, 8, 4), lambda: TorchMyMLP(6, 8, 4)),
    ],
    ids=["sequential", "nested_custom", "seed_mymlp"],
)
def test_state_dict_keys_shapes_and_torch_loading(make):
    model, ref = make[0](), make[1]()
    sd, tsd = model.state_dict(), ref.state_dict()
    assert list(sd) == list(tsd)
    assert [tuple(v.shape) for v in sd.values()] == [tuple(v.shape) for v in tsd.values()]
    assert all(isinstance(v, jax.Array) for v in sd.values())
    result = model.load_state_dict(tsd)  # torch tensors, as they are
    assert result == ([], []) and result.missing_keys == [] and result.unexpected_keys == []
    for key, value in model.state_dict().items():
        assert_close(value, tsd[key], check_dtype=False)
        assert value.dtype == sd[key].dtype  # the module's own dtypes are kept


def test_state_dict_round_trip_axon_to_torch():
    model, ref = axon_net(), torch_net()
    x = data(4, 6)
    model.features[0].weight.data = model.features[0].weight.data * 2  # differ from torch's init
    ref.load_state_dict({k: torch.from_numpy(np.array(v)) for k, v in model.state_dict().items()})
    model.eval()
    ref.eval()
    assert_close(model(x), ref(torch.tensor(x)))
    again = axon_net()
    again.load_state_dict(ref.state_dict())
    for key, value in again.state_dict().items():
        assert_close(value, model.state_dict()[key])


def test_state_dict_keep_vars_returns_parameters():
    model = axon_mlp()
    sd = model.state_dict(keep_vars=True)
    assert sd["0.weight"] is model[0].weight
    assert list(model.state_dict(prefix="m")) == ["m." + k for k in sd]


def test_strict_load_reports_every_problem_at_once_and_changes_nothing():
    model = axon_net()
    before = snapshot(model)
    state = dict(torch_net().state_dict())
    del state["heads.1.bias"], state["norm.running_var"]
    state["extra.weight"] = torch.zeros(3)
    state["out.cls.weight"] = torch.zeros(4, 9)
    with pytest.raises(ValueError) as info:
        model.load_state_dict(state)
    message = str(info.value)
    assert re.search(r"axon\.nn\.Net: load_state_dict failed and changed nothing", message)
    assert re.search(r"missing keys: norm\.running_var, heads\.1\.bias\n", message)
    assert re.search(r"unexpected keys: extra\.weight", message)
    assert re.search(
        r"shape mismatches: out\.cls\.weight: expected \(4, 8\), got \(4, 9\)", message
    )
    after = snapshot(model)
    assert list(after) == list(before)
    for key in before:
        np.testing.assert_array_equal(after[key], before[key])


def test_non_strict_load_returns_missing_and_unexpected():
    model = axon_mlp()
    ref = torch_mlp()
    state = dict(ref.state_dict())
    del state["2.bias"]
    state["3.weight"] = torch.ones(1)
    missing, unexpected = model.load_state_dict(state, strict=False)
    assert missing == ["2.bias"] and unexpected == ["3.weight"]
    assert_close(model[0].weight, ref[0].weight)  # the rest was loaded
    # a shape mismatch is an error even when not strict (as in PyTorch)
    before = snapshot(model)
    with pytest.raises(
        ValueError, match=r"shape mismatches: 0\.weight: expected \(8, 6\), got \(6, 8\)"
    ):
        model.load_state_dict({"0.weight": torch.zeros(6, 8)}, strict=False)
    for key, value in snapshot(model).items():
        np.testing.assert_array_equal(value, before[key])


# --------------------------------------------------------------------------------------- pytrees
def test_tree_leaves_are_parameters_and_buffers():
    model = MyMLP(6, 8, 4)
    leaves = jax.tree.leaves(model)
    expected = list(model.state_dict().values())
    assert len(leaves) == len(expected)
    assert all(a is b for a, b in zip(leaves, expected, strict=True))
    block = _axon_block(False)
    assert {id(x) for x in jax.tree.leaves(block)} == {
        id(x) for x in [*block.state_dict().values(), block.cache]
    }


def test_tree_round_trip_rebuilds_an_equal_module():
    model = axon_net().eval()
    leaves, treedef = jax.tree.flatten(model)
    again = jax.tree.unflatten(treedef, leaves)
    assert type(again) is type(model) and again is not model
    assert repr(again) == repr(model)
    assert list(again.state_dict()) == list(model.state_dict())
    x = data(4, 6)
    assert_close(again(x), model(x))


def test_jit_of_module_equals_eager():
    model = axon_net().eval()
    x = jnp.asarray(data(4, 6))
    jitted = jax.jit(lambda m, x: m(x).data)(model, x)
    assert isinstance(jitted, jax.Array)
    assert_close(jitted, model(x))


def test_jax_grad_of_module_matches_backward_and_torch():
    model, ref = twin(axon_mlp(), torch_mlp())
    x = data(4, 6)

    def loss(m, x):
        return (m(x) ** 2).mean().data

    grads = jax.grad(loss)(model, jnp.asarray(x))
    assert type(grads) is type(model)
    (model(x) ** 2).mean().backward()
    (ref(torch.tensor(x)) ** 2).mean().backward()
    assert list(grads.named_parameters()) == list(model.named_parameters())
    for g, p, tp in zip(grads.parameters(), model.parameters(), ref.parameters(), strict=True):
        assert_close(g.data, p.grad)
        assert_close(g.data, tp.grad)


def test_jax_grad_of_module_with_integer_buffer():
    # BatchNorm's num_batches_tracked is an integer leaf, so plain jax.grad needs allow_int=True.
    model = MyMLP(6, 8, 4).eval()
    x = jnp.asarray(data(4, 6))
    grads = jax.grad(lambda m: m(x).sum().data, allow_int=True)(model)
    model(x).sum().backward()
    for g, p in zip(grads.parameters(), model.parameters(), strict=True):
        assert_close(g.data, p.grad)


def test_vmap_over_inputs_with_module_closed_over():
    model = axon_mlp()
    xs = jnp.asarray(data(3, 4, 6))
    out = jax.vmap(lambda x: model(x).data)(xs)
    assert out.shape == (3, 4, 4)
    assert_close(out, model(xs))


def test_identical_modules_share_treedef_and_do_not_retrace():
    traces = []

    @jax.jit
    def f(m, x):
        traces.append(1)
        return m(x).data

    a, b = axon_mlp(), axon_mlp()
    assert jax.tree.structure(a) == jax.tree.structure(b)
    x = jnp.asarray(data(4, 6))
    f(a, x)
    out_b = f(b, x)
    assert len(traces) == 1
    assert_close(out_b, b(x))  # b's own weights, not a's
    b.eval()
    assert jax.tree.structure(a) != jax.tree.structure(b)
    f(b, x)
    assert len(traces) == 2
    b.train()
    assert jax.tree.structure(a) == jax.tree.structure(b)


# -------------------------------------------------------------------------------------- printing
def test_print_sequential_equals_torch(capsys):
    model = nn.Sequential(
        nn.Linear(4, 3), nn.ReLU(), nn.Dropout(0.2), nn.GELU(), nn.LeakyReLU(), nn.Softmax(dim=1),
        nn.Flatten(),
    )  # fmt: skip
    ref = torch.nn.Sequential(
        torch.nn.Linear(4, 3), torch.nn.ReLU(), torch.nn.Dropout(0.2), torch.nn.GELU(),
        torch.nn.LeakyReLU(), torch.nn.Softmax(dim=1), torch.nn.Flatten(),
    )  # fmt: skip
    print(model)
    ours = capsys.readouterr().out
    print(ref)
    assert ours == capsys.readouterr().out


def test_print_nested_custom_module_equals_torch():
    model, ref = axon_net(), torch_net()
    del model.norm, ref.norm  # BatchNorm's own repr is checked in the next test
    assert repr(model) == repr(ref)
    assert repr(nn.ModuleList()) == repr(torch.nn.ModuleList())
    assert repr(nn.ModuleDict()) == repr(torch.nn.ModuleDict())


def test_print_seed_mymlp_with_batchnorm_equals_torch():
    ours = repr(MyMLP(6, 8, 4))
    assert ours.replace("MyMLP", "X") == repr(TorchMyMLP(6, 8, 4)).replace("TorchMyMLP", "X")


def test_print_multiline_extra_repr_matches_torch():
    class Info(nn.Module):
        def __init__(self):
            super().__init__()
            self.fc = nn.Linear(3, 2)

        def extra_repr(self):
            return "first\nsecond"

    class TorchInfo(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.fc = torch.nn.Linear(3, 2)

        def extra_repr(self):
            return "first\nsecond"

    assert repr(Info()).replace("TorchInfo", "Info") == repr(TorchInfo()).replace(
        "TorchInfo", "Info"
    )


def test_summary_table():
    model = nn.Sequential(nn.Linear(6, 8), nn.ReLU(), nn.Linear(8, 4))
    printed = []
    text = model.summary((4, 6), print_fn=printed.append)
    assert printed == [text]
    lines = text.splitlines()
    assert re.search(r"0 \(Linear\)\s+\[4, 8\]\s+56\s*\n", text)
    assert "Output: [4, 4]" in lines
    assert re.search(r"1 \(ReLU\)\s+\[4, 8\]\s+0\s*\n", text)
    assert re.search(r"2 \(Linear\)\s+\[4, 4\]\s+36\s*\n", text)
    assert "Total params: 92" in lines
    assert "Trainable params: 92" in lines
    assert "Non-trainable params: 0" in lines
    model[0].requires_grad_(False)
    text = model.summary((4, 6), print_fn=None)
    assert (
        "Trainable params: 36" in text.splitlines()
        and "Non-trainable params: 56" in text.splitlines()
    )


def test_summary_leaves_model_and_rng_untouched(capsys):
    model = MyMLP(6, 8, 4)
    before = snapshot(model)
    key = np.asarray(jax.random.key_data(axon.get_rng_state()))
    model.summary((4, 6))
    out = capsys.readouterr().out
    assert "fc1 (Linear)" in out and "bn1 (BatchNorm1d)" in out and "[4, 4]" in out
    assert "Total params: 180" in out  # 6*8+8 + 8+8 + 8*8+8 + 8*4+4
    np.testing.assert_array_equal(np.asarray(jax.random.key_data(axon.get_rng_state())), key)
    assert not any("_summary_path" in m.__dict__ for m in model.modules())
    assert not any(m.__dict__.get("_forward_hooks") for m in model.modules())
    # running statistics may move in training mode, parameters never
    for k in ("fc1.weight", "fc3.bias"):
        np.testing.assert_array_equal(snapshot(model)[k], before[k])


# ----------------------------------------------------------------------------------------- hooks
def test_forward_hooks_register_replace_and_remove():
    layer = nn.Linear(3, 2)
    calls = []

    def record(module, inputs, output):
        calls.append((module, len(inputs), output.shape))

    handle = layer.register_forward_hook(record)
    x = jnp.asarray(data(4, 3))
    plain = layer(x)
    assert calls == [(layer, 1, (4, 2))]

    double = layer.register_forward_hook(lambda m, i, o: o * 2)
    assert_close(layer(x), plain * 2)
    assert len(calls) == 2

    double.remove()
    handle.remove()
    assert_close(layer(x), plain)
    assert len(calls) == 2
    handle.remove()  # removing twice is harmless


def test_forward_hook_on_child_sees_intermediate_output():
    model = axon_mlp()
    seen = []
    model[1].register_forward_hook(lambda m, i, o: seen.append(o.shape))
    model(jnp.ones((4, 6)))
    assert seen == [(4, 8)]


def test_del_attribute_unregisters_like_torch():
    from axon import _structure

    model, ref = axon_net(), torch_net()
    version = _structure.version
    del model.norm, ref.norm
    assert _structure.version != version  # caches of flattened state notice
    block, tblock = _axon_block(True), TorchBlock()
    del block.steps, tblock.steps, block.scale, tblock.scale
    for a, t in ((model, ref), (block, tblock)):
        assert list(a.state_dict()) == list(t.state_dict())
        assert list(a.named_buffers()) == [k for k, _ in t.named_buffers()]
    del model.heads[0]
    assert list(model.heads.named_children()) == ["0", "1", "2"]
    with pytest.raises(AttributeError):
        del model.missing


def test_assigning_a_child_of_a_container_replaces_or_appends_it_as_in_torch():
    model = nn.Sequential(nn.Linear(6, 8), nn.ReLU(), nn.Linear(8, 4))
    ref = torch.nn.Sequential(torch.nn.Linear(6, 8), torch.nn.ReLU(), torch.nn.Linear(8, 4))
    setattr(model, "1", nn.Tanh())
    setattr(ref, "1", torch.nn.Tanh())
    model.extra = nn.Sigmoid()
    ref.extra = torch.nn.Sigmoid()
    assert [type(m).__name__ for m in model] == [type(m).__name__ for m in ref]
    assert list(model.named_children()) == [name for name, _ in ref.named_children()]
    model.load_state_dict({k: v.detach().numpy() for k, v in ref.state_dict().items()})
    x = np.random.default_rng(0).normal(size=(3, 6)).astype(np.float32)
    out = np.asarray(model(jnp.asarray(x)))
    np.testing.assert_allclose(out, ref(torch.from_numpy(x)).detach().numpy(), rtol=1e-5, atol=1e-6)
    with pytest.raises(TypeError, match="Sequential.*expected a Module.*got int"):
        setattr(model, "0", 3)
