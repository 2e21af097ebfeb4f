"""`TernaryLinear` (BitNet b1.58) against a torch twin with a straight-through estimator, and the
2-bit packed export."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest
import torch
from helpers import assert_close
from module_checks import (  # noqa: F401 - numpy_init is a fixture
    assert_grads_reach_every_parameter,
    assert_jit_matches_eager,
    numpy_init,
)

import axon
from axon import nn
from axon.nn import PackedTernaryWeights

jax.config.update("jax_default_matmul_precision", "highest")
pytestmark = pytest.mark.usefixtures("numpy_init")
TOL = dict(rtol=1e-5, atol=1e-6)
X = np.random.default_rng(0).standard_normal((4, 6)).astype(np.float32)


def torch_bitnet(x, w, b):
    """BitNet b1.58's reference: absmean scale, round-clip, straight-through via detach."""
    scale = w.abs().mean().clamp(min=1e-5)
    quantized = (w / scale).round().clamp(-1, 1) * scale
    return torch.nn.functional.linear(x, w + (quantized - w).detach(), b)


def test_matches_torch_bitnet_forward_and_ste_gradients():
    layer = nn.TernaryLinear(6, 5)
    t = {k: torch.tensor(np.asarray(v), requires_grad=True) for k, v in layer.state_dict().items()}
    xt = torch.tensor(X, requires_grad=True)
    ref = torch_bitnet(xt, t["weight"], t["bias"])
    xa = axon.Variable(jnp.asarray(X), requires_grad=True)
    out = layer(xa)
    assert_close(out, ref, **TOL)
    cot = np.random.default_rng(1).standard_normal((4, 5)).astype(np.float32)
    (out * jnp.asarray(cot)).sum().backward()
    (ref * torch.tensor(cot)).sum().backward()
    assert_close(xa.grad, xt.grad, **TOL)  # through the quantised weights
    for name, p in layer.named_parameters().items():  # straight through to the shadow weights
        assert_close(p.grad, t[name].grad, **TOL)
    assert_close(layer.weight.grad, jnp.asarray(cot).T @ jnp.asarray(X), **TOL)
    ternary, scale = layer.quantize_weights()
    assert ternary.dtype == np.int8 and set(np.unique(ternary)) <= {-1, 0, 1}
    assert scale == pytest.approx(float(np.abs(np.asarray(layer.weight.data)).mean()))
    assert_close(out.data, X @ (ternary * scale).T.astype(np.float32) + layer.bias.data, **TOL)
    layer.zero_grad()
    assert_grads_reach_every_parameter(layer, jnp.asarray(X))


def test_trains_eager_equals_jit():
    y = jnp.asarray(np.sign(X[:, :5]) * 0.5)
    losses = assert_jit_matches_eager(
        lambda: nn.TernaryLinear(6, 5),
        (jnp.asarray(X), y),
        lambda m, x, y: nn.MSELoss()(m(x), y),
        steps=5,
        lr=0.5,
    )
    assert losses[-1] < 0.9 * losses[0]


@pytest.mark.parametrize("shape", [(5, 6), (3, 7), (1, 1)], ids=["30", "21", "1"])
def test_pack_unpack_round_trips(shape):
    ternary = np.random.default_rng(2).integers(-1, 2, size=shape).astype(np.int8)
    packed = PackedTernaryWeights.pack(ternary, 0.25)
    n = ternary.size
    assert packed.data.dtype == np.uint8 and packed.storage_bytes() == -(-n // 4)
    np.testing.assert_array_equal(packed.unpack(), ternary)
    assert packed.count_zeros() == (ternary == 0).sum()
    assert_close(packed.dequantize(), ternary.astype(np.float32) * 0.25, rtol=0, atol=0)
    # the seed's codes: 00 = 0, 01 = +1, 10 = -1, first weight in the low bits
    first = PackedTernaryWeights.pack(np.array([1, -1, 0, 1]), 1.0).data
    assert first.tolist() == [0b01_00_10_01]


def test_layer_export_and_statistics():
    layer = nn.TernaryLinear.with_bias(6, 4, False)
    assert layer.bias is None and nn.TernaryLinear.new(6, 4).bias is not None
    packed = layer.packed_weights()
    ternary, scale = layer.quantize_weights()
    np.testing.assert_array_equal(packed.unpack(), ternary)
    assert packed.scale == pytest.approx(scale)
    assert layer.weight_sparsity() == pytest.approx((ternary == 0).mean())
    assert layer.compression_ratio() == 16.0  # float32 (4 bytes) vs 2 bits
    restored = nn.Linear.from_weights(packed.dequantize())
    assert_close(restored(X), layer(X), **TOL)  # the export computes what the layer does


def test_errors():
    with pytest.raises(ValueError, match="TernaryLinear: out_features must be a positive int"):
        nn.TernaryLinear(4, 0)
    with pytest.raises(ValueError, match=r"TernaryLinear: expected input of shape \(\*, 4\)"):
        nn.TernaryLinear(4, 2)(jnp.zeros((3, 5)))
    with pytest.raises(ValueError, match="pack_ternary: values must be -1, 0 or \\+1"):
        PackedTernaryWeights.pack(np.array([2, 0]), 1.0)
