"""Graph convolutions: pure jax on arrays, one tape op on Variables.

`gcn_conv` and `gat_conv` follow torch_geometric's `GCNConv` and `GATConv`. A graph is given in
one of two forms, picked by dtype:

- a dense adjacency, float or bool, `(N, N)` or batched `(B, N, N)`: `adjacency[i, j]` is the
  weight of the edge j → i, so node i aggregates over the non-zeros of row i and the GCN output is
  `Â X W` (Kipf & Welling's formula, torch_geometric's `DenseGCNConv`/`DenseGATConv`);
- an integer edge index `(2, E)`: row 0 holds sources, row 1 targets (torch_geometric's default
  `flow="source_to_target"`). Messages are gathered per edge and summed per target with
  `jax.ops.segment_sum`, so shapes are fixed and the op compiles once per (N, E).

An edge index describes the dense matrix `A[dst, src] += weight` (duplicate edges add up in GCN;
in GAT each duplicate is one more term of the softmax, as in torch_geometric). Out-of-range
indices raise in eager mode; under a trace they cannot be checked and such edges are ignored.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np

from axon import _errors
from axon.autograd.tape import op
from axon.autograd.variable import Variable
from axon.functional.dropout import draw_key


# ----------------------------------------------------------------------------- checks
def _data(x):
    return x.data if isinstance(x, Variable) else x


def graph_kind(where, input, adjacency, edge_weight=None) -> str:  # noqa: A002
    """Check node features against the graph; "dense" or "edges" by the adjacency's dtype."""
    x_shape, adj = tuple(input.shape), _data(adjacency)
    if not hasattr(adj, "shape") or not hasattr(adj, "dtype"):
        raise _errors.type_error(
            where, f"expected the adjacency as an array, got {type(adjacency).__name__}."
        )
    adj_shape = tuple(adj.shape)
    if len(x_shape) not in (2, 3):
        raise _errors.value_error(
            where,
            "expected node features of shape (N, F) or (B, N, F), "
            f"got {_errors.shape_str(x_shape)}.",
        )
    n = x_shape[-2]
    if jnp.issubdtype(adj.dtype, jnp.integer):
        if len(adj_shape) != 2 or adj_shape[0] != 2:
            raise _errors.value_error(
                where,
                f"an integer adjacency is read as an edge index of shape (2, E), "
                f"got {_errors.shape_str(adj_shape)}.",
                "Pass a dense adjacency as floats or bools.",
            )
        if edge_weight is not None:
            w_shape = tuple(_data(edge_weight).shape)
            if w_shape != (adj_shape[1],):
                raise _errors.value_error(
                    where,
                    f"expected edge_weight of shape ({adj_shape[1]},) (one per edge), "
                    f"got {_errors.shape_str(w_shape)}.",
                )
        if not isinstance(adj, jax.core.Tracer) and adj_shape[1] > 0:
            idx = np.asarray(adj)
            low, high = int(idx.min()), int(idx.max())
            if low < 0 or high >= n:
                bad = low if low < 0 else high
                raise _errors.value_error(
                    where,
                    f"edge index {bad} is out of range for {n} nodes (valid: 0 to {n - 1}).",
                )
        return "edges"
    if edge_weight is not None:
        raise _errors.value_error(
            where,
            "edge_weight applies to an edge index only.",
            "A dense adjacency carries the edge weights as its values.",
        )
    batched = len(x_shape) == 3
    ok = adj_shape[-2:] == (n, n) and (
        len(adj_shape) == 2 or (len(adj_shape) == 3 and batched and adj_shape[0] == x_shape[0])
    )
    if not ok:
        expected = f"({n}, {n})" + (f" or ({x_shape[0]}, {n}, {n})" if batched else "")
        raise _errors.value_error(
            where,
            f"expected a dense adjacency of shape {expected} for node features "
            f"{_errors.shape_str(x_shape)}, got {_errors.shape_str(adj_shape)}.",
            "Or pass an integer edge index of shape (2, E).",
        )
    return "dense"


# ----------------------------------------------------------------------------- shared pieces
def _inv_sqrt_degree(deg):
    """deg^-1/2, 0 where deg is 0 (torch_geometric's gcn_norm), with a finite gradient."""
    positive = deg > 0
    return jnp.where(positive, jax.lax.rsqrt(jnp.where(positive, deg, 1)), 0)


def _edges(edge_index, n: int):
    """Sources, targets and a validity mask; invalid edges are pointed at node 0."""
    src, dst = edge_index[0], edge_index[1]
    valid = (src >= 0) & (src < n) & (dst >= 0) & (dst < n)
    return jnp.where(valid, src, 0), jnp.where(valid, dst, 0), valid


def _along(mask, like):
    """A per-edge (E,) array reshaped to broadcast against (E, ...) `like`."""
    return mask.reshape(mask.shape + (1,) * (like.ndim - 1))


def _nodes_first(t, batched: bool):
    """(B, N, ...) -> (N, B, ...), so segment ops run over the leading node axis."""
    return jnp.moveaxis(t, 1, 0) if batched else t


def _nodes_back(t, batched: bool):
    return jnp.moveaxis(t, 0, 1) if batched else t


# ----------------------------------------------------------------------------- GCN
@op(static=("add_self_loops", "normalize"), name="gcn_conv")
def _gcn_conv(input, adjacency, weight, bias, edge_weight, add_self_loops, normalize):  # noqa: A002
    h = jnp.matmul(input, weight.T)  # (*, N, C_out): weight first, as torch_geometric
    n = input.shape[-2]
    if not jnp.issubdtype(adjacency.dtype, jnp.integer):
        a = adjacency.astype(h.dtype)  # (*, N, N), a[i, j]: edge j -> i
        if add_self_loops:  # "remaining" self-loops: an existing weight is kept
            a = jnp.where(jnp.eye(n, dtype=bool) & (a == 0), jnp.ones((), h.dtype), a)
        if normalize:
            d = _inv_sqrt_degree(jnp.sum(a, axis=-1))  # (*, N) in-degree
            a = d[..., :, None] * a * d[..., None, :]
        out = jnp.matmul(a, h)  # (*, N, C_out)
    else:
        src, dst, valid = _edges(adjacency, n)
        w = jnp.ones(src.shape, h.dtype) if edge_weight is None else edge_weight.astype(h.dtype)
        w = jnp.where(valid, w, 0)
        if add_self_loops:
            loop = src == dst
            loop_w = jax.ops.segment_sum(jnp.where(loop, w, 0), dst, n)  # (N,)
            nodes = jnp.arange(n, dtype=src.dtype)
            src, dst = jnp.concatenate([src, nodes]), jnp.concatenate([dst, nodes])
            w = jnp.concatenate([jnp.where(loop, 0, w), jnp.where(loop_w == 0, 1, loop_w)])
        if normalize:
            d = _inv_sqrt_degree(jax.ops.segment_sum(w, dst, n))  # (N,) in-degree
            w = d[src] * w * d[dst]
        batched = h.ndim == 3
        hn = _nodes_first(h, batched)  # (N, [B,] C_out)
        messages = hn[src] * _along(w, hn)  # (E', [B,] C_out)
        out = _nodes_back(jax.ops.segment_sum(messages, dst, n), batched)
    return out if bias is None else out + bias


def gcn_conv(
    input,  # noqa: A002
    adjacency,
    weight,
    bias=None,
    edge_weight=None,
    add_self_loops: bool = True,
    normalize: bool = True,
):
    """Graph convolution (Kipf & Welling): X' = D̂^-1/2 Â D̂^-1/2 X Wᵀ + b, Â = A + I.

    torch_geometric's `GCNConv`: the weight is applied before propagation and the bias after;
    D̂ holds Â's in-degrees (row sums), and a node of degree 0 gets 0 instead of ∞. Self-loops
    are added only where a node has none (an existing self-loop keeps its weight).

    Args:
        adjacency: a dense float/bool adjacency, `adjacency[i, j]` the weight of edge j → i, or
            an integer edge index `(2, E)` of (source, target) rows (see the module docstring).
        weight: `(C_out, C_in)`; bias: `(C_out,)` or None.
        edge_weight: `(E,)` weights of an edge index (ones by default).
        add_self_loops: add Â = A + I (the remaining self-loops).
        normalize: apply the symmetric normalisation D̂^-1/2 · D̂^-1/2.

    Shape:
        - input: (N, C_in) or (B, N, C_in)
        - adjacency: (N, N), (B, N, N), or (2, E) integers (shared by the whole batch)
        - output: (N, C_out) or (B, N, C_out)

    Note:
        torch_geometric rejects `add_self_loops=True` with `normalize=False`; axon computes
        (A + I) X Wᵀ + b then. Pass `add_self_loops=False` for torch_geometric's unnormalised
        layer.

    Example:
        >>> import jax.numpy as jnp
        >>> from axon import functional as F
        >>> edges = jnp.array([[0, 1, 1, 2], [1, 0, 2, 1]])
        >>> F.gcn_conv(jnp.ones((3, 4)), edges, jnp.ones((2, 4))).shape
        (3, 2)
    """
    graph_kind("axon.functional.gcn_conv", input, adjacency, edge_weight)
    return _gcn_conv(
        input, adjacency, weight, bias, edge_weight, bool(add_self_loops), bool(normalize)
    )


# ----------------------------------------------------------------------------- GAT
def _drop(alpha, p: float, key):
    if p == 0.0 or key is None:
        return alpha
    if p == 1.0:
        return jnp.zeros_like(alpha)
    keep = jax.random.bernoulli(key, 1.0 - p, alpha.shape)
    return jnp.where(keep, alpha / (1.0 - p), jnp.zeros((), alpha.dtype))


@op(static=("concat", "negative_slope", "dropout_p", "add_self_loops"), name="gat_conv")
def _gat_conv(
    input, adjacency, weight, att_src, att_dst, bias, key, concat, negative_slope, dropout_p,
    add_self_loops,
):  # fmt: skip
    heads, c = att_src.shape[-2], att_src.shape[-1]
    n = input.shape[-2]
    h = jnp.matmul(input, weight.T)  # (*, N, H·C)
    h = h.reshape(h.shape[:-1] + (heads, c))  # (*, N, H, C)
    wide = jnp.promote_types(h.dtype, jnp.float32)  # scores and softmax in float32 or wider
    a_src = jnp.sum(h * att_src.reshape(heads, c), axis=-1).astype(wide)  # (*, N, H)
    a_dst = jnp.sum(h * att_dst.reshape(heads, c), axis=-1).astype(wide)  # (*, N, H)
    if not jnp.issubdtype(adjacency.dtype, jnp.integer):
        mask = adjacency != 0  # (*, N, N), mask[i, j]: edge j -> i
        if add_self_loops:
            mask = mask | jnp.eye(n, dtype=bool)
        e = a_dst[..., :, None, :] + a_src[..., None, :, :]  # (*, N_i, N_j, H)
        e = jnp.where(e > 0, e, negative_slope * e)
        mask = mask[..., None]  # (*, N, N, 1)
        top = jnp.max(jnp.where(mask, e, -jnp.inf), axis=-2, keepdims=True)
        top = jax.lax.stop_gradient(jnp.where(jnp.isfinite(top), top, 0))
        p = jnp.where(mask, jnp.exp(jnp.where(mask, e - top, 0)), 0)
        total = jnp.sum(p, axis=-2, keepdims=True)
        alpha = p / jnp.where(total == 0, 1, total)  # a node with no edges gets zeros
        alpha = _drop(alpha, dropout_p, key).astype(h.dtype)
        out = jnp.einsum("...ijh,...jhc->...ihc", alpha, h)  # (*, N, H, C)
    else:
        src, dst, keep = _edges(adjacency, n)
        if add_self_loops:  # torch_geometric: remove the self-loops, then add one per node
            nodes = jnp.arange(n, dtype=src.dtype)
            keep = jnp.concatenate([keep & (src != dst), jnp.ones((n,), bool)])
            src, dst = jnp.concatenate([src, nodes]), jnp.concatenate([dst, nodes])
        batched = h.ndim == 4
        hn = _nodes_first(h, batched)  # (N, [B,] H, C)
        a_src, a_dst = _nodes_first(a_src, batched), _nodes_first(a_dst, batched)
        e = a_src[src] + a_dst[dst]  # (E', [B,] H)
        e = jnp.where(e > 0, e, negative_slope * e)
        kept = _along(keep, e)
        top = jax.ops.segment_max(jnp.where(kept, e, -jnp.inf), dst, n)  # (N, [B,] H)
        top = jax.lax.stop_gradient(jnp.where(jnp.isfinite(top), top, 0))
        p = jnp.where(kept, jnp.exp(jnp.where(kept, e - top[dst], 0)), 0)
        total = jax.ops.segment_sum(p, dst, n)
        alpha = p / jnp.where(total == 0, 1, total)[dst]  # softmax over each target's edges
        alpha = _drop(alpha, dropout_p, key).astype(h.dtype)
        messages = alpha[..., None] * hn[src]  # (E', [B,] H, C)
        out = _nodes_back(jax.ops.segment_sum(messages, dst, n), batched)  # (*, N, H, C)
    out = out.reshape(out.shape[:-2] + (heads * c,)) if concat else jnp.mean(out, axis=-2)
    return out if bias is None else out + bias


def gat_conv(
    input,  # noqa: A002
    adjacency,
    weight,
    att_src,
    att_dst,
    bias=None,
    concat: bool = True,
    negative_slope: float = 0.2,
    dropout: float = 0.0,
    add_self_loops: bool = True,
    training: bool = True,
    *,
    key=None,
):
    """Graph attention (Veličković et al.), torch_geometric's `GATConv`.

    Per head, with h = x Wᵀ split into H heads of C channels:
    e_ij = LeakyReLU(a_dst·h_i + a_src·h_j) for each edge j → i, α_ij = softmax_j(e_ij) over the
    edges into i, h'_i = Σ_j α_ij h_j; heads are concatenated (or averaged when `concat=False`),
    then the bias is added. In training, attention coefficients are dropped with probability
    `dropout` (the kept ones scaled by 1/(1-p)). A node with no incoming edge (possible only
    without self-loops) gets zeros before the bias.

    Args:
        adjacency: a dense adjacency (non-zero = edge j → i at [i, j]) or an integer edge index
            `(2, E)` (see the module docstring).
        weight: `(H·C, C_in)`; att_src, att_dst: `(1, H, C)`; bias: `(H·C,)` when concatenating,
            `(C,)` when averaging, or None.
        negative_slope: LeakyReLU's slope for negative scores.
        dropout: drop probability of an attention coefficient (only when `training`).
        add_self_loops: give every node exactly one self-loop (existing ones are replaced).
        key: a jax PRNG key for the dropout mask; by default drawn from the global stream.

    Shape:
        - input: (N, C_in) or (B, N, C_in)
        - adjacency: (N, N), (B, N, N), or (2, E) integers
        - output: (*, N, H·C) when `concat`, else (*, N, C)

    Example:
        >>> import jax.numpy as jnp
        >>> from axon import functional as F
        >>> adj = jnp.array([[0., 1., 0.], [1., 0., 1.], [0., 1., 0.]])
        >>> F.gat_conv(jnp.ones((3, 4)), adj, jnp.ones((6, 4)), jnp.ones((1, 2, 3)),
        ...            jnp.ones((1, 2, 3))).shape
        (3, 6)
    """
    return gat_forward(
        "axon.functional.gat_conv", input, adjacency, weight, att_src, att_dst, bias, concat,
        negative_slope, dropout, add_self_loops, training, key,
    )  # fmt: skip


def gat_forward(
    where, input, adjacency, weight, att_src, att_dst, bias, concat, negative_slope, dropout,
    add_self_loops, training, key=None,
):  # fmt: skip
    """`gat_conv` on behalf of `where` (a layer or a function name, named in errors)."""
    graph_kind(where, input, adjacency)
    if isinstance(dropout, bool) or not isinstance(dropout, (int, float)) or not 0 <= dropout <= 1:
        raise _errors.value_error(where, f"dropout must be a number in [0, 1], got {dropout!r}.")
    p = float(dropout) if training else 0.0
    if p > 0.0 and key is None:
        key = draw_key(_errors.describe(where), input)
    return _gat_conv(
        input, adjacency, weight, att_src, att_dst, bias, key if p > 0.0 else None,
        bool(concat), float(negative_slope), p, bool(add_self_loops),
    )  # fmt: skip
