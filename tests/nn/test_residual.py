"""`ResidualBlock`: the seed's builders, and the ResNet basic block against a torchvision twin."""

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

jax.config.update("jax_default_matmul_precision", "highest")
pytestmark = pytest.mark.usefixtures("numpy_init")
TOL = dict(rtol=1e-4, atol=1e-5)


class TorchBasicBlock(torch.nn.Module):
    """torchvision.models.resnet.BasicBlock (torchvision is not installed), line for line."""

    def __init__(self, inplanes: int, planes: int, stride: int = 1):
        super().__init__()
        self.conv1 = torch.nn.Conv2d(inplanes, planes, 3, stride, 1, bias=False)
        self.bn1 = torch.nn.BatchNorm2d(planes)
        self.relu = torch.nn.ReLU(inplace=True)
        self.conv2 = torch.nn.Conv2d(planes, planes, 3, 1, 1, bias=False)
        self.bn2 = torch.nn.BatchNorm2d(planes)
        self.downsample = None
        if stride != 1 or inplanes != planes:
            self.downsample = torch.nn.Sequential(
                torch.nn.Conv2d(inplanes, planes, 1, stride, bias=False),
                torch.nn.BatchNorm2d(planes),
            )

    def forward(self, x):
        identity = x
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        if self.downsample is not None:
            identity = self.downsample(x)
        out += identity
        return self.relu(out)


def _axon_key(torch_key: str) -> str:
    return torch_key if torch_key.startswith("downsample.") else f"main_path.{torch_key}"


def test_basic_block_matches_torchvision():
    """With a downsample path (stride 2, 3 -> 6 channels); the identity skip is covered below."""
    inplanes, planes, stride = 3, 6, 2
    ref = TorchBasicBlock(inplanes, planes, stride)
    block = nn.ResidualBlock.basic_block(inplanes, planes, stride)
    # the same entries in the same order, torchvision's keys behind "main_path."
    assert list(block.state_dict()) == [_axon_key(k) for k in ref.state_dict()]
    with torch.no_grad():  # non-trivial BN affine parameters
        for m in ref.modules():
            if isinstance(m, torch.nn.BatchNorm2d):
                m.weight.uniform_(0.5, 1.5)
                m.bias.uniform_(-0.5, 0.5)
    block.load_state_dict({_axon_key(k): v.numpy() for k, v in ref.state_dict().items()})

    rng = np.random.default_rng(0)
    x = rng.standard_normal((2, inplanes, 6, 6)).astype(np.float32)
    xa = axon.Variable(jnp.asarray(x), requires_grad=True)
    xt = torch.tensor(x, requires_grad=True)
    out, tout = block(xa), ref(xt)  # training mode: batch statistics
    assert_close(out, tout, **TOL)
    cot = rng.standard_normal(tuple(tout.shape)).astype(np.float32)
    (out * jnp.asarray(cot)).sum().backward()
    (tout * torch.tensor(cot)).sum().backward()
    assert_close(xa.grad, xt.grad, **TOL)
    params = block.named_parameters()
    for name, p in ref.named_parameters():
        assert_close(params[_axon_key(name)].grad, p.grad, **TOL)
    state = block.state_dict()
    for name, value in ref.state_dict().items():  # running statistics updated alike
        assert_close(state[_axon_key(name)], value, **TOL)

    block.eval(), ref.eval()
    assert all(not m.training for m in block.modules())
    assert_close(block(jnp.asarray(x)), ref(torch.tensor(x)).detach(), **TOL)
    no_down = nn.ResidualBlock.basic_block(6, 6)
    assert no_down.downsample is None and list(no_down.state_dict()) == [
        _axon_key(k) for k in TorchBasicBlock(6, 6).state_dict()
    ]


def test_basic_block_grads_jit_and_training():
    rng = np.random.default_rng(1)
    x = jnp.asarray(rng.standard_normal((2, 3, 6, 6)).astype(np.float32))
    y = jnp.asarray(rng.standard_normal((2, 6, 3, 3)).astype(np.float32))
    block = nn.ResidualBlock.basic_block(3, 6, stride=2)
    assert_grads_reach_every_parameter(block, x)
    assert_jit_matches_eager(
        lambda: nn.ResidualBlock.basic_block(3, 6, stride=2),
        (x, y),
        lambda m, x, y: nn.MSELoss()(m(x), y),
    )


def test_seed_builders_and_names():
    main = nn.Sequential(nn.Linear(4, 4), nn.Tanh(), nn.Linear(4, 4))
    block = nn.ResidualBlock.new(main)
    assert isinstance(block.activation, nn.ReLU) and block.downsample is None
    assert list(block.named_parameters()) == [
        "main_path.0.weight", "main_path.0.bias", "main_path.2.weight", "main_path.2.bias",
    ]  # fmt: skip
    x = jnp.asarray(np.random.default_rng(0).standard_normal((3, 4)).astype(np.float32))
    assert_close(block(x), jax.nn.relu(main(x).data + x))

    assert block.without_activation() is block and block.activation is None
    assert_close(block(x), main(x).data + x)
    assert block.with_activation(nn.Sigmoid) is block  # a class is instantiated
    assert_close(block(x), jax.nn.sigmoid(main(x).data + x))

    wide = nn.ResidualBlock(nn.Linear(4, 6), activation=None).with_downsample(nn.Linear(4, 6))
    assert "downsample.weight" in wide.state_dict()
    assert_close(wide(x), wide.main_path(x).data + wide.downsample(x).data)
    wide.eval()
    assert not wide.main_path.training and not wide.downsample.training
    assert "(downsample): Linear(in_features=4, out_features=6" in repr(wide)


def test_errors():
    block = nn.ResidualBlock(nn.Linear(4, 6))
    with pytest.raises(ValueError, match=r"ResidualBlock: the main path gives shape \(2, 6\) but "
                                         r"the skip path gives \(2, 4\).*downsample"):  # fmt: skip
        block(jnp.zeros((2, 4)))
    with pytest.raises(TypeError, match="ResidualBlock: expected a Module"):
        nn.ResidualBlock(lambda x: x)
    with pytest.raises(TypeError, match="ResidualBlock: expected a Module"):
        nn.ResidualBlock(nn.Linear(4, 4)).with_downsample("conv")
