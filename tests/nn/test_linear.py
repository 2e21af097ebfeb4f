"""`Linear`, `Identity` and the containers (`Sequential`, `ModuleList`, `ModuleDict`) vs. torch."""

from __future__ import annotations

import math
from collections import OrderedDict

import jax
import jax.numpy as jnp
import numpy as np
import pytest
import torch
from helpers import DTYPE_IDS, DTYPES, assert_close, x64

import axon
from axon import nn

jax.config.update("jax_default_matmul_precision", "highest")

_TORCH_DTYPE = {np.dtype(np.float32): torch.float32, np.dtype(np.float64): torch.float64}


def parity(model, ref, input_shape, dtype, seed=0):
    """Load torch's state dict into `model`, run both on the same input, compare the outputs and
    the gradients of a random cotangent with respect to the input and every parameter."""
    rng = np.random.default_rng(seed)
    x = rng.standard_normal(input_shape).astype(dtype)
    with x64(dtype):
        ref = ref.to(_TORCH_DTYPE[np.dtype(dtype)])
        model.to(jnp.dtype(dtype))
        model.load_state_dict(ref.state_dict())
        xa = axon.Variable(jnp.asarray(x), requires_grad=True)
        xt = torch.tensor(x, requires_grad=True)
        out, tout = model(xa), ref(xt)
        assert isinstance(out, axon.Variable)
        assert_close(out, tout, dtype)
        cot = rng.standard_normal(tuple(tout.shape)).astype(dtype)
        (out * jnp.asarray(cot)).sum().backward()
        (tout * torch.tensor(cot)).sum().backward()
        assert_close(xa.grad, xt.grad, dtype)
        names = list(model.named_parameters())
        assert names == [k for k, _ in ref.named_parameters()]
        for name, p, tp in zip(names, model.parameters(), ref.parameters(), strict=True):
            try:
                assert_close(p.grad, tp.grad, dtype)
            except AssertionError as e:
                raise AssertionError(f"gradient of {name}: {e}") from None


# (id, in_features, out_features, bias, input shape)
LINEAR_CASES = [
    ("2d", 5, 3, True, (4, 5)),
    ("2d_no_bias", 5, 3, False, (4, 5)),
    ("1d_no_batch", 5, 3, True, (5,)),
    ("1d_no_batch_no_bias", 5, 3, False, (5,)),
    ("3d", 5, 3, True, (2, 4, 5)),
    ("3d_no_bias", 5, 3, False, (2, 4, 5)),
    ("in_1", 1, 3, True, (4, 1)),
    ("out_1", 5, 1, True, (4, 5)),
    ("in_1_out_1_no_bias", 1, 1, False, (4, 1)),
]


@pytest.mark.parametrize("dtype", DTYPES, ids=DTYPE_IDS)
@pytest.mark.parametrize(
    "in_f, out_f, bias, shape", [c[1:] for c in LINEAR_CASES], ids=[c[0] for c in LINEAR_CASES]
)
def test_linear_matches_torch(in_f, out_f, bias, shape, dtype):
    parity(nn.Linear(in_f, out_f, bias), torch.nn.Linear(in_f, out_f, bias), shape, dtype)


@pytest.mark.parametrize("dtype", DTYPES, ids=DTYPE_IDS)
def test_sequential_matches_torch(dtype):
    model = nn.Sequential(
        nn.Linear(5, 4), nn.Tanh(), nn.Linear(4, 4, bias=False), nn.Identity(), nn.Linear(4, 3)
    )
    ref = torch.nn.Sequential(
        torch.nn.Linear(5, 4), torch.nn.Tanh(), torch.nn.Linear(4, 4, bias=False),
        torch.nn.Identity(), torch.nn.Linear(4, 3),
    )  # fmt: skip
    parity(model, ref, (4, 5), dtype)


def test_linear_on_arrays_is_plain_jax():
    layer = nn.Linear(5, 3)
    x = jnp.asarray(np.random.default_rng(0).standard_normal((4, 5)), jnp.float32)
    out = layer(x)
    expected = x @ layer.weight.data.T + layer.bias.data
    assert_close(out, expected)
    assert_close(jax.jit(lambda m, x: m(x).data)(layer, x), expected)
    assert_close(jax.vmap(lambda row: layer(row).data)(x), expected)
    gx = jax.grad(lambda x: layer(x).data.sum())(x)
    assert_close(gx, jnp.broadcast_to(layer.weight.data.sum(0), (4, 5)))


def test_linear_dtype_argument():
    with jax.enable_x64(True):
        layer = nn.Linear(5, 3, dtype=jnp.float64)
        assert layer.weight.dtype == jnp.float64 and layer.bias.dtype == jnp.float64


# ------------------------------------------------------------------------------------ seed forms
def test_seed_constructors():
    layer = nn.Linear.new(784, 256)
    assert type(layer) is nn.Linear
    assert layer.weight.shape == (256, 784) and layer.bias.shape == (256,)
    x = axon.Variable(axon.Tensor.randn([32, 784]), False)
    assert layer(x).shape == (32, 256)

    no_bias = nn.Linear.with_bias(784, 256, False)
    assert no_bias.bias is None
    assert list(no_bias.state_dict()) == ["weight"]
    assert repr(no_bias) == repr(torch.nn.Linear(784, 256, bias=False))
    assert nn.Linear.with_bias(3, 2, True).bias.shape == (2,)


@pytest.mark.parametrize("bias", [True, False], ids=["bias", "no_bias"])
def test_from_weights(bias):
    rng = np.random.default_rng(0)
    w = rng.standard_normal((3, 5)).astype(np.float32)
    b = rng.standard_normal(3).astype(np.float32) if bias else None
    layer = nn.Linear.from_weights(jnp.asarray(w), None if b is None else jnp.asarray(b))
    assert (layer.in_features, layer.out_features) == (5, 3)
    assert isinstance(layer.weight, nn.Parameter) and layer.weight.requires_grad
    assert (layer.bias is None) == (not bias)
    assert repr(layer) == repr(torch.nn.Linear(5, 3, bias=bias))
    ref = torch.nn.Linear(5, 3, bias=bias)
    with torch.no_grad():
        ref.weight.copy_(torch.tensor(w))
        if bias:
            ref.bias.copy_(torch.tensor(b))
    x = rng.standard_normal((2, 5)).astype(np.float32)
    assert_close(layer(x), ref(torch.tensor(x)))
    # numpy arrays and Variables are accepted too
    assert_close(nn.Linear.from_weights(w, b).weight, w)
    assert_close(nn.Linear.from_weights(axon.Variable(w)).weight, w)


def test_from_weights_bad_shapes():
    with pytest.raises(
        ValueError,
        match=r"axon\.nn\.Linear\.from_weights: expected a 2-D weight "
        r"\(out_features, in_features\), got \(5,\)",
    ):
        nn.Linear.from_weights(jnp.ones(5))
    with pytest.raises(
        ValueError, match=r"from_weights: expected a bias of shape \(3,\), got \(5,\)"
    ):
        nn.Linear.from_weights(jnp.ones((3, 5)), jnp.ones(5))


# ------------------------------------------------------------------------------------------ init
def test_default_init_law():
    in_f, out_f = 400, 250
    layer = nn.Linear(in_f, out_f)
    bound = 1 / math.sqrt(in_f)
    w, b = np.asarray(layer.weight.data), np.asarray(layer.bias.data)
    for values in (w, b):
        assert values.min() >= -bound and values.max() <= bound
    # U(-bound, bound): std bound/√3, mean 0, all of the range used
    assert abs(w.std() - bound / math.sqrt(3)) < 0.02 * bound
    assert abs(w.mean()) < 0.01 * bound
    assert w.min() < -0.99 * bound and w.max() > 0.99 * bound
    hist, _ = np.histogram(w, bins=10, range=(-bound, bound))
    assert hist.min() > 0.9 * w.size / 10 and hist.max() < 1.1 * w.size / 10
    # torch's Linear has the same law
    t = torch.nn.Linear(in_f, out_f).weight.detach().numpy()
    assert abs(w.std() - t.std()) < 0.03 * bound


def test_init_is_seeded():
    axon.manual_seed(7)
    a = nn.Linear(5, 3)
    axon.manual_seed(7)
    b = nn.Linear(5, 3)
    c = nn.Linear(5, 3)
    np.testing.assert_array_equal(a.weight.data, b.weight.data)
    np.testing.assert_array_equal(a.bias.data, b.bias.data)
    assert not np.array_equal(a.weight.data, c.weight.data)
    axon.manual_seed(8)
    assert not np.array_equal(a.weight.data, nn.Linear(5, 3).weight.data)


def test_reset_parameters_redraws():
    layer = nn.Linear(5, 3)
    before = np.array(layer.weight.data)
    layer.reset_parameters()
    assert not np.array_equal(before, layer.weight.data)
    assert np.abs(np.asarray(layer.weight.data)).max() <= 1 / math.sqrt(5)


def test_zero_in_features():
    layer, ref = nn.Linear(0, 3), torch.nn.Linear(0, 3)
    layer.load_state_dict(ref.state_dict())
    assert layer.weight.shape == (3, 0)
    assert_close(layer(jnp.ones((2, 0))), ref(torch.ones(2, 0)))  # the bias alone


# ---------------------------------------------------------------------------------------- errors
def test_wrong_width_names_the_layer_path():
    class Net(nn.Module):
        def __init__(self):
            super().__init__()
            # from_weights: the same Linear as nn.Linear(784, 16), without a random draw to compile
            self.fc1 = nn.Linear.from_weights(jnp.zeros((16, 784)))
            self.body = nn.Sequential(nn.Linear.from_weights(jnp.zeros((4, 16))))

        def forward(self, x):
            return self.body(self.fc1(x))

    model = Net()
    with pytest.raises(
        ValueError,
        match=r"^axon\.nn\.Linear \(fc1\): expected input of shape \(\*, 784\), got \(32, 100\)\. "
        r"The last dimension must equal in_features=784\.$",
    ):
        model(jnp.zeros((32, 100)))
    model.fc1 = nn.Linear.from_weights(jnp.zeros((8, 784)))  # a replaced layer learns its path too
    with pytest.raises(
        ValueError,
        match=r"axon\.nn\.Linear \(body\.0\): expected input of shape \(\*, 16\), got \(2, 8\)",
    ):
        model(jnp.zeros((2, 784)))
    with pytest.raises(
        ValueError, match=r"^axon\.nn\.Linear: expected input of shape \(\*, 5\), got \(2, 4\)"
    ):
        nn.Linear(5, 3)(jnp.zeros((2, 4)))


def test_zero_dim_input():
    with pytest.raises(
        ValueError, match=r"axon\.nn\.Linear: expected input of shape \(\*, 5\), got \(\)\."
    ):
        nn.Linear(5, 3)(jnp.zeros(()))
    with pytest.raises(RuntimeError):
        torch.nn.Linear(3, 2)(torch.zeros(()))


@pytest.mark.parametrize(
    "bad", [[1.0, 2.0, 3.0], "abc", None, 3.0], ids=["list", "str", "none", "float"]
)
def test_non_array_input(bad):
    with pytest.raises(
        TypeError, match=r"axon\.nn\.Linear: expected a Variable or array input, got \w+\."
    ):
        nn.Linear(5, 3)(bad)


@pytest.mark.parametrize(
    "args, shown",
    [((-1, 3), "in_features must be a non-negative int, got -1"),
     ((3, -2), "out_features must be a non-negative int, got -2"),
     ((2.5, 3), "in_features must be a non-negative int, got 2.5"),
     ((True, 3), "in_features must be a non-negative int, got True"),
     ((3, "4"), "out_features must be a non-negative int, got '4'")],
    ids=["negative_in", "negative_out", "float_in", "bool_in", "str_out"],
)  # fmt: skip
def test_bad_constructor_args(args, shown):
    with pytest.raises(ValueError, match=rf"^axon\.nn\.Linear: {shown}\.$"):
        nn.Linear(*args)


# ------------------------------------------------------------------------------------ Sequential
def test_sequential_builder_api():
    model = nn.Sequential()
    assert model.add(nn.Linear(5, 4)) is model
    model.add(nn.ReLU).add(nn.Dropout(0.5)).add(nn.Linear(4, 3))  # bare class, as the seed
    assert isinstance(model[1], nn.ReLU)
    assert len(model) == 4
    assert list(model.state_dict()) == ["0.weight", "0.bias", "3.weight", "3.bias"]
    assert model.add_named("head", nn.Softmax(dim=1)) is model
    assert model.head is model[4] and model[-1] is model[4]
    assert list(model.named_children()) == ["0", "1", "2", "3", "head"]
    assert [type(m).__name__ for m in model] == ["Linear", "ReLU", "Dropout", "Linear", "Softmax"]
    assert model(jnp.zeros((4, 5))).shape == (4, 3)


def test_sequential_indexing_and_slicing_like_torch():
    model = nn.Sequential(nn.Linear(4, 4), nn.ReLU(), nn.Linear(4, 3), nn.Tanh())
    ref = torch.nn.Sequential(
        torch.nn.Linear(4, 4), torch.nn.ReLU(), torch.nn.Linear(4, 3), torch.nn.Tanh()
    )
    assert model[0] is model._modules["0"]
    assert model[-2] is model[2]
    head = model[1:3]
    assert isinstance(head, nn.Sequential) and len(head) == 2
    assert head[0] is model[1] and head[1] is model[2]
    assert repr(head) == repr(ref[1:3])
    assert list(head.state_dict()) == list(ref[1:3].state_dict()) == ["2.weight", "2.bias"]
    assert repr(model[::-1]) == repr(ref[::-1])
    model[1] = nn.Sigmoid
    assert isinstance(model[1], nn.Sigmoid)
    del model[0]
    del ref[0]
    assert list(model.state_dict()) == list(ref.state_dict()) == ["1.weight", "1.bias"]


def test_sequential_from_ordered_dict():
    model = nn.Sequential(OrderedDict(fc=nn.Linear(5, 3), act=nn.ReLU()))
    ref = torch.nn.Sequential(OrderedDict(fc=torch.nn.Linear(5, 3), act=torch.nn.ReLU()))
    assert list(model.state_dict()) == list(ref.state_dict()) == ["fc.weight", "fc.bias"]
    assert repr(model) == repr(ref)
    assert model.fc is model[0]


def test_sequential_insert_append_extend():
    model = nn.Sequential(nn.Linear(4, 4))
    assert model.append(nn.ReLU()) is model
    assert model.extend([nn.Tanh(), nn.Linear(4, 3)]) is model
    model.insert(1, nn.Sigmoid)
    assert [type(m).__name__ for m in model] == ["Linear", "Sigmoid", "ReLU", "Tanh", "Linear"]
    assert list(model.state_dict()) == ["0.weight", "0.bias", "4.weight", "4.bias"]


def test_sequential_errors():
    model = nn.Sequential(nn.Linear(4, 4))
    with pytest.raises(
        IndexError, match=r"axon\.nn\.Sequential: index 3 is out of range for 1 modules\."
    ):
        model[3]
    with pytest.raises(IndexError, match=r"index -2 is out of range for 1 modules"):
        model[-2]
    with pytest.raises(
        TypeError, match=r"axon\.nn\.Sequential: indices must be ints or slices, got 'a'\."
    ):
        model["a"]
    with pytest.raises(
        TypeError, match=r"expected a Module \(or a Module class such as ReLU\), got int\."
    ):
        model.add(3)
    with pytest.raises(
        TypeError, match=r"expected a Module \(or a Module class such as ReLU\), got function\."
    ):
        nn.Sequential(lambda x: x)
    with pytest.raises(ValueError, match=r"axon\.nn\.Sequential: invalid child name 'a\.b'\."):
        model.add_named("a.b", nn.ReLU())


# ----------------------------------------------------------------------------- ModuleList / Dict
def test_module_list_methods():
    layers = nn.ModuleList([nn.Linear(4, 4), nn.ReLU()])
    assert len(layers) == 2
    assert layers.append(nn.Linear(4, 3)) is layers
    layers.extend([nn.Tanh()])
    layers += [nn.Identity()]
    layers.insert(0, nn.Sigmoid())
    assert [type(m).__name__ for m in layers] == [
        "Sigmoid",
        "Linear",
        "ReLU",
        "Linear",
        "Tanh",
        "Identity",
    ]
    assert layers[-1] is layers[5]
    assert isinstance(layers[1:3], nn.ModuleList) and len(layers[1:3]) == 2
    layers[0] = nn.ReLU
    assert isinstance(layers[0], nn.ReLU)
    del layers[0]
    assert list(layers.state_dict()) == ["0.weight", "0.bias", "2.weight", "2.bias"]
    assert layers(jnp.ones((4, 4))).shape == (4, 3)  # the seed's ModuleList::forward chains
    with pytest.raises(
        IndexError, match=r"axon\.nn\.ModuleList: index 9 is out of range for 5 modules\."
    ):
        layers[9]

    class Holder(nn.Module):
        def __init__(self):
            super().__init__()
            self.blocks = nn.ModuleList([nn.Linear(4, 4) for _ in range(2)])

    class TorchHolder(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.blocks = torch.nn.ModuleList([torch.nn.Linear(4, 4) for _ in range(2)])

    assert list(Holder().state_dict()) == list(TorchHolder().state_dict())
    assert Holder().num_parameters() == 40


def test_module_dict_methods():
    heads = nn.ModuleDict({"a": nn.Linear(5, 3), "b": nn.ReLU()})
    assert list(heads) == ["a", "b"] and list(heads.keys()) == ["a", "b"]
    assert "a" in heads and "z" not in heads
    assert [type(m).__name__ for m in heads.values()] == ["Linear", "ReLU"]
    heads["c"] = nn.Tanh
    heads.update([("d", nn.Linear(4, 4))])
    assert len(heads) == 4
    assert [k for k, _ in heads.items()] == ["a", "b", "c", "d"]
    assert isinstance(heads.pop("c"), nn.Tanh) and "c" not in heads
    del heads["b"]
    assert list(heads.state_dict()) == ["a.weight", "a.bias", "d.weight", "d.bias"]
    assert heads.a is heads["a"]
    with pytest.raises(KeyError, match=r"axon\.nn\.ModuleDict: no module named 'zz'"):
        heads["zz"]
    heads.clear()
    assert len(heads) == 0 and heads.state_dict() == {}
    ref = torch.nn.ModuleDict({"x": torch.nn.Linear(5, 3)})
    ours = nn.ModuleDict({"x": nn.Linear(5, 3)})
    assert list(ours.state_dict()) == list(ref.state_dict())
    assert repr(ours) == repr(ref)


def test_slicing_keeps_the_models_paths():
    body = nn.Sequential(nn.Linear(2, 3), nn.ReLU(), nn.Linear(3, 4))
    model = nn.Sequential().add_named("body", body)
    tail = body[1:]
    assert list(tail.state_dict()) == ["2.weight", "2.bias"]
    assert body[2]._axon_path == "body.2"  # the slice did not rename the model's layers
    expected = r"axon\.nn\.Linear \(body\.2\): expected input of shape \(\*, 3\)"
    with pytest.raises(ValueError, match=expected):
        tail(jnp.ones((1, 5)))
    assert model(jnp.ones((1, 2))).shape == (1, 4)
    head = nn.ModuleList([nn.Linear(1, 1), nn.Linear(1, 2), nn.Linear(2, 2)])[1:]
    assert list(head.state_dict()) == ["0.weight", "0.bias", "1.weight", "1.bias"]
