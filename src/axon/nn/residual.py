"""`ResidualBlock`: y = activation(main_path(x) + skip(x)), and the ResNet basic block from it.

The skip path is the identity, or `downsample(x)` when the shapes of the two paths differ (a
strided or channel-changing main path): there is no automatic projection, as in the seed and in
torchvision, so the block says so when the shapes disagree.
"""

from __future__ import annotations

from collections import OrderedDict

from axon import _errors
from axon.nn.activation import ReLU
from axon.nn.container import Sequential, _as_module
from axon.nn.conv import Conv2d
from axon.nn.module import Module
from axon.nn.norm import BatchNorm2d


class ResidualBlock(Module):
    """y = activation(main_path(x) + skip(x)), where skip is `downsample` or the identity.

    Args:
        main_path: the residual branch (any Module; the seed passes a `Sequential`).
        downsample: optional Module for the skip path; needed when `main_path` changes the shape.
        activation: applied after the sum: a Module, a Module class (instantiated, as in
            `Sequential.add(ReLU)`), or None for none. Default: a new `ReLU()`.

    The seed's builder forms work too: `ResidualBlock.new(main).with_downsample(down)`,
    `.with_activation(GELU())`, `.without_activation()` (each returns the block).
    `ResidualBlock.basic_block(in_channels, out_channels, stride)` builds torchvision's ResNet
    `BasicBlock` from it.

    Shape:
        - input: whatever `main_path` accepts
        - output: the shape of `main_path(x)`, which must equal that of `skip(x)`

    Example:
        >>> import axon
        >>> from axon import nn
        >>> block = nn.ResidualBlock(nn.Sequential(nn.Linear(8, 8), nn.ReLU(), nn.Linear(8, 8)))
        >>> block(axon.Tensor.randn([4, 8])).shape
        (4, 8)
    """

    def __init__(self, main_path: Module, downsample: Module | None = None, activation=ReLU):
        super().__init__()
        self.main_path = _as_module(self, main_path)
        self.downsample = None if downsample is None else _as_module(self, downsample)
        self.activation = None if activation is None else _as_module(self, activation)

    # the seed's constructor and builders
    @classmethod
    def new(cls, main_path: Module) -> ResidualBlock:
        """`ReLU(main_path(x) + x)`."""
        return cls(main_path)

    def with_downsample(self, downsample: Module) -> ResidualBlock:
        """Make the skip path `downsample(x)`; returns the block."""
        self.downsample = _as_module(self, downsample)
        return self

    def with_activation(self, activation) -> ResidualBlock:
        """Apply `activation` after the sum; returns the block."""
        self.activation = _as_module(self, activation)
        return self

    def without_activation(self) -> ResidualBlock:
        """Return main_path(x) + skip(x) with no activation; returns the block."""
        self.activation = None
        return self

    @classmethod
    def basic_block(cls, in_channels: int, out_channels: int, stride: int = 1) -> ResidualBlock:
        """torchvision's ResNet `BasicBlock(in_channels, out_channels, stride)`.

        main_path = conv3x3(stride)-bn-relu-conv3x3-bn, and when the stride or channel count
        changes, downsample = conv1x1(stride)-bn; the convolutions have no bias. State-dict keys
        are torchvision's with `main_path.` in front of `conv1`, `bn1`, `conv2`, `bn2`
        (`downsample.0.weight`, `downsample.1.running_mean`, ... are the same).

        Example:
            >>> import axon
            >>> from axon import nn
            >>> block = nn.ResidualBlock.basic_block(16, 32, stride=2)
            >>> block(axon.Tensor.randn([2, 16, 8, 8])).shape
            (2, 32, 4, 4)
        """
        main = Sequential(
            OrderedDict(
                conv1=Conv2d(in_channels, out_channels, 3, stride, 1, bias=False),
                bn1=BatchNorm2d(out_channels),
                relu=ReLU(),
                conv2=Conv2d(out_channels, out_channels, 3, 1, 1, bias=False),
                bn2=BatchNorm2d(out_channels),
            )
        )
        downsample = None
        if stride != 1 or in_channels != out_channels:
            downsample = Sequential(
                Conv2d(in_channels, out_channels, 1, stride, bias=False),
                BatchNorm2d(out_channels),
            )
        return cls(main, downsample)

    def forward(self, x):
        main = self.main_path(x)
        skip = x if self.downsample is None else self.downsample(x)
        if tuple(main.shape) != tuple(skip.shape):
            raise _errors.value_error(
                self,
                f"the main path gives shape {_errors.shape_str(main.shape)} but the "
                f"skip path gives {_errors.shape_str(skip.shape)}.",
                "Pass a downsample module (ResidualBlock(main, downsample=...) or "
                ".with_downsample(...)) that maps the input to the main path's shape.",
            )
        out = main + skip
        return out if self.activation is None else self.activation(out)
