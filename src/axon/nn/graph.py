"""Graph layers: `GCNConv` and `GATConv`, as torch_geometric defines them.

`forward(x, adjacency)` takes node features `(N, F)` or `(B, N, F)` and either a dense adjacency
(float or bool, `(N, N)` or `(B, N, N)`, `adjacency[i, j]` the weight of the edge j → i) or an
integer edge index `(2, E)` of (source, target) rows; see `axon.functional.graph`. Parameter names
are torch_geometric's (`lin.weight`, `att_src`, `att_dst`, `bias`), with its initialisation:
Glorot-uniform weights and attention vectors, zero bias.
"""

from __future__ import annotations

import math

import jax
import jax.numpy as jnp
import numpy as np

from axon import _errors
from axon.autograd.variable import Variable
from axon.functional.graph import _gcn_conv, gat_forward, graph_kind
from axon.nn import init
from axon.nn.linear import Linear
from axon.nn.module import Module
from axon.nn.parameter import Parameter


def _check_size(where, name: str, value) -> int:
    if not isinstance(value, int) or isinstance(value, bool) or value < 1:
        raise _errors.value_error(where, f"{name} must be a positive int, got {value!r}.")
    return value


def _check_input(module: Module, x, in_channels: int) -> None:
    if not isinstance(x, (Variable, jax.Array)) and not hasattr(x, "__array__"):
        raise _errors.type_error(
            module, f"expected node features as a Variable or array, got {type(x).__name__}."
        )
    shape = tuple(x.shape)
    if len(shape) not in (2, 3) or shape[-1] != in_channels:
        raise _errors.value_error(
            module,
            f"expected node features of shape (N, {in_channels}) or (B, N, {in_channels}), "
            f"got {_errors.shape_str(shape)}.",
            f"The last dimension must equal in_channels={in_channels}.",
        )


def _zeros(shape, dtype) -> jax.Array:
    """Zeros for `reset_parameters` to overwrite (built in numpy: no compile per shape)."""
    return jax.device_put(np.zeros(shape, jnp.dtype(dtype)))


def _glorot(param: Parameter) -> None:
    """torch_geometric's `glorot`: U(±√(6 / (size(-2) + size(-1))))."""
    bound = math.sqrt(6.0 / (param.shape[-2] + param.shape[-1]))
    init.uniform_(param, -bound, bound)


class GCNConv(Module):
    """Graph convolution (Kipf & Welling): X' = D̂^-1/2 Â D̂^-1/2 X Wᵀ + b with Â = A + I.

    torch_geometric's `GCNConv`: the weight is applied before propagation, the bias after, and
    D̂ holds Â's in-degrees (a node of degree 0 gets 0, not ∞). Self-loops are added where a node
    has none; an existing self-loop keeps its weight.

    Args:
        in_channels: node feature size C_in.
        out_channels: output feature size C_out.
        bias: learn an additive bias.
        add_self_loops: use Â = A + I instead of A.
        normalize: apply the symmetric normalisation D̂^-1/2 Â D̂^-1/2.
        dtype: parameter dtype (float32 by default).

    Shape:
        - x: (N, C_in) or (B, N, C_in)
        - adjacency: (N, N) or (B, N, N) float/bool, or (2, E) integer edge index
        - edge_weight (edge index only): (E,)
        - output: (N, C_out) or (B, N, C_out)

    Attributes:
        lin.weight: (C_out, C_in), Glorot-uniform U(±√(6 / (C_in + C_out))).
        bias: (C_out,), zeros.

    Note:
        torch_geometric rejects `add_self_loops=True` with `normalize=False`; axon computes
        (A + I) X Wᵀ + b then. For torch_geometric's unnormalised layer pass
        `add_self_loops=False`. A torch_geometric `GCNConv` state dict loads unchanged.

    Example:
        >>> import jax.numpy as jnp
        >>> from axon import nn
        >>> edges = jnp.array([[0, 1, 1, 2], [1, 0, 2, 1]])  # (source, target) rows
        >>> nn.GCNConv(8, 4)(jnp.ones((3, 8)), edges).shape
        (3, 4)
    """

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        bias: bool = True,
        add_self_loops: bool = True,
        normalize: bool = True,
        *,
        dtype=jnp.float32,
    ):
        super().__init__()
        self.in_channels = _check_size(self, "in_channels", in_channels)
        self.out_channels = _check_size(self, "out_channels", out_channels)
        self.add_self_loops = bool(add_self_loops)
        self.normalize = bool(normalize)
        self.lin = Linear.from_weights(_zeros((out_channels, in_channels), dtype))
        self.bias = Parameter(_zeros((out_channels,), dtype)) if bias else None
        self.reset_parameters()

    def reset_parameters(self) -> None:
        _glorot(self.lin.weight)
        if self.bias is not None:
            self.bias.data = _zeros(self.bias.shape, self.bias.dtype)

    # the seed's constructors
    @classmethod
    def new(cls, in_channels: int, out_channels: int) -> GCNConv:
        return cls(in_channels, out_channels)

    @classmethod
    def without_bias(cls, in_channels: int, out_channels: int) -> GCNConv:
        return cls(in_channels, out_channels, bias=False)

    def forward(self, x, adjacency, edge_weight=None):
        """`adjacency`: dense (N, N)/(B, N, N) or an integer edge index (2, E)."""
        _check_input(self, x, self.in_channels)
        graph_kind(self, x, adjacency, edge_weight)
        with jax.named_scope("axon.nn.GCNConv"):
            return _gcn_conv(
                x, adjacency, self.lin.weight, self.bias, edge_weight, self.add_self_loops,
                self.normalize,
            )  # fmt: skip

    def forward_graph(self, x, adjacency, edge_weight=None):
        """The seed's name for `forward(x, adjacency)`."""
        return self.forward(x, adjacency, edge_weight)

    def extra_repr(self) -> str:
        s = f"{self.in_channels}, {self.out_channels}"
        if self.bias is None:
            s += ", bias=False"
        if not self.add_self_loops:
            s += ", add_self_loops=False"
        if not self.normalize:
            s += ", normalize=False"
        return s


class GATConv(Module):
    """Graph attention (Veličković et al.), torch_geometric's `GATConv`.

    With h = x Wᵀ split into `heads` heads of `out_channels` channels, for each edge j → i and
    head k: e_ij = LeakyReLU(att_dst·h_i + att_src·h_j), α_ij = softmax over the edges into i,
    h'_i = Σ_j α_ij h_j. Heads are concatenated (or averaged when `concat=False`), then the bias
    is added. In training mode attention coefficients are dropped with probability `dropout`,
    masks drawn from the global stream (`axon.manual_seed`); inside `axon.jit` each call draws
    afresh.

    Args:
        in_channels: node feature size C_in.
        out_channels: channels per head C.
        heads: number of attention heads H.
        concat: concatenate the heads (output H·C); average them when False (output C).
        negative_slope: LeakyReLU's slope for negative scores.
        dropout: drop probability of an attention coefficient in training mode.
        add_self_loops: give every node exactly one self-loop (existing ones are replaced).
        bias: learn an additive bias.
        dtype: parameter dtype (float32 by default).

    Shape:
        - x: (N, C_in) or (B, N, C_in)
        - adjacency: (N, N) or (B, N, N) (non-zero = edge), or (2, E) integer edge index
        - output: (*, N, H·C) when `concat`, else (*, N, C)

    Attributes:
        lin.weight: (H·C, C_in), Glorot-uniform U(±√(6 / (C_in + H·C))).
        att_src, att_dst: (1, H, C), Glorot-uniform U(±√(6 / (H + C))).
        bias: (H·C,) when `concat`, else (C,); zeros.

    Note:
        A node without incoming edges (only possible with `add_self_loops=False`) gets zeros
        before the bias, where torch_geometric's dense layer gives NaN.

    Example:
        >>> import jax.numpy as jnp
        >>> from axon import nn
        >>> adj = jnp.array([[0., 1., 0.], [1., 0., 1.], [0., 1., 0.]])
        >>> nn.GATConv(8, 4, heads=2)(jnp.ones((3, 8)), adj).shape
        (3, 8)
    """

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        heads: int = 1,
        concat: bool = True,
        negative_slope: float = 0.2,
        dropout: float = 0.0,
        add_self_loops: bool = True,
        bias: bool = True,
        *,
        dtype=jnp.float32,
    ):
        super().__init__()
        self.in_channels = _check_size(self, "in_channels", in_channels)
        self.out_channels = _check_size(self, "out_channels", out_channels)
        self.heads = _check_size(self, "heads", heads)
        if (
            isinstance(dropout, bool)
            or not isinstance(dropout, (int, float))
            or not 0 <= dropout <= 1
        ):
            raise _errors.value_error(self, f"dropout must be a number in [0, 1], got {dropout!r}.")
        if isinstance(negative_slope, bool) or not isinstance(negative_slope, (int, float)):
            raise _errors.value_error(
                self, f"negative_slope must be a number, got {negative_slope!r}."
            )
        self.concat = bool(concat)
        self.negative_slope = float(negative_slope)
        self.dropout = float(dropout)
        self.add_self_loops = bool(add_self_loops)
        self.lin = Linear.from_weights(_zeros((heads * out_channels, in_channels), dtype))
        self.att_src = Parameter(_zeros((1, heads, out_channels), dtype))
        self.att_dst = Parameter(_zeros((1, heads, out_channels), dtype))
        width = heads * out_channels if concat else out_channels
        self.bias = Parameter(_zeros((width,), dtype)) if bias else None
        self.reset_parameters()

    def reset_parameters(self) -> None:
        _glorot(self.lin.weight)
        _glorot(self.att_src)
        _glorot(self.att_dst)
        if self.bias is not None:
            self.bias.data = _zeros(self.bias.shape, self.bias.dtype)

    # the seed's constructors
    @classmethod
    def new(cls, in_channels: int, out_per_head: int, num_heads: int) -> GATConv:
        return cls(in_channels, out_per_head, heads=num_heads)

    def total_out_features(self) -> int:
        """The output width: heads·out_channels when concatenating, else out_channels."""
        return self.heads * self.out_channels if self.concat else self.out_channels

    def forward(self, x, adjacency):
        """`adjacency`: dense (N, N)/(B, N, N) (non-zero = edge) or an edge index (2, E)."""
        _check_input(self, x, self.in_channels)
        with jax.named_scope("axon.nn.GATConv"):
            return gat_forward(
                self, x, adjacency, self.lin.weight, self.att_src, self.att_dst, self.bias,
                self.concat, self.negative_slope, self.dropout, self.add_self_loops,
                self.training,
            )  # fmt: skip

    def forward_graph(self, x, adjacency):
        """The seed's name for `forward(x, adjacency)`."""
        return self.forward(x, adjacency)

    def extra_repr(self) -> str:
        s = f"{self.in_channels}, {self.out_channels}, heads={self.heads}"
        if not self.concat:
            s += ", concat=False"
        if self.negative_slope != 0.2:
            s += f", negative_slope={self.negative_slope}"
        if self.dropout:
            s += f", dropout={self.dropout}"
        if not self.add_self_loops:
            s += ", add_self_loops=False"
        if self.bias is None:
            s += ", bias=False"
        return s
