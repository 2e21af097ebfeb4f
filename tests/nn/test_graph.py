"""`GCNConv`, `GATConv` and `F.gcn_conv`/`F.gat_conv` vs. their formulas written out densely here.

torch_geometric is not a dependency, so the references below spell out its definitions as dense
matrix algebra in jnp: GCN's D̂^-1/2 Â D̂^-1/2 X Wᵀ + b and GAT's per-head masked softmax. The
layers are checked against them in both graph forms (dense adjacency and edge index), forward
and gradients (of the input and every parameter), in float32 and float64.
"""

from __future__ import annotations

import math

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from helpers import assert_close, tol, x64

import axon
from axon import functional as F
from axon import nn, optim

jax.config.update("jax_default_matmul_precision", "highest")
N, C_IN = 6, 5


@pytest.fixture(autouse=True)
def numpy_init(request, monkeypatch):
    """Draw the Glorot weights with numpy instead of `jax.random` (which compiles a program per
    weight shape, the slowest part of these tests); the init test checks the real initialiser."""
    if request.node.originalname == "test_state_dict_names_shapes_and_init":
        return
    rng = np.random.default_rng(0)

    def glorot(param):
        bound = math.sqrt(6.0 / (param.shape[-2] + param.shape[-1]))
        param.data = jax.device_put(rng.uniform(-bound, bound, param.shape).astype(param.dtype))

    monkeypatch.setattr(nn.graph, "_glorot", glorot)


def _tol(dtype):
    return dict(rtol=2e-5, atol=2e-6) if np.dtype(dtype) == np.float32 else tol(dtype)


# ------------------------------------------------------------------------------ the references
def ref_gcn(x, adj, weight, bias, add_self_loops=True, normalize=True):
    """One graph: x (N, F), adj (N, N) with adj[i, j] the weight of edge j -> i."""
    a = adj.astype(x.dtype)
    if add_self_loops:  # torch_geometric's add_remaining_self_loops
        a = a + jnp.diag((jnp.diagonal(a) == 0).astype(x.dtype))
    if normalize:
        deg = a.sum(axis=1)
        d = jnp.diag(jnp.where(deg > 0, 1 / jnp.sqrt(jnp.where(deg > 0, deg, 1.0)), 0.0))
        a = d @ a @ d
    out = a @ (x @ weight.T)
    return out if bias is None else out + bias


def ref_gat(x, adj, weight, att_src, att_dst, bias, heads, concat, slope, add_self_loops):
    """One graph, head by head: softmax over row i's edges of LeakyReLU(a_d·h_i + a_s·h_j)."""
    n = adj.shape[0]
    mask = adj != 0
    if add_self_loops:
        mask = mask | jnp.eye(n, dtype=bool)
    h = x @ weight.T
    c = h.shape[1] // heads
    outs = []
    for k in range(heads):
        hk = h[:, k * c : (k + 1) * c]
        scores = (hk @ att_dst[0, k])[:, None] + (hk @ att_src[0, k])[None, :]  # [i, j]
        scores = jnp.where(scores > 0, scores, slope * scores)
        p = jnp.where(mask, jnp.exp(scores), 0.0)
        total = p.sum(axis=1, keepdims=True)
        outs.append((p / jnp.where(total > 0, total, 1.0)) @ hk)
    out = jnp.concatenate(outs, axis=1) if concat else sum(outs) / heads
    return out if bias is None else out + bias


def batched(ref, x, adj, *args):
    """Apply a one-graph reference per sample: adj shared (N, N) or per sample (B, N, N)."""
    if x.ndim == 2:
        return ref(x, adj, *args)
    return jnp.stack([ref(x[b], adj if adj.ndim == 2 else adj[b], *args) for b in range(len(x))])


# ------------------------------------------------------------------------------------ graphs
def make_graph(rng, kind: str, dtype):
    """A dense (N, N) float adjacency: a directed random graph in which node 4 has outgoing
    edges only and node 5 no edges at all; `weighted` adds weights and a self-loop (on node 1)."""
    a = (rng.random((N, N)) < 0.45).astype(dtype)
    np.fill_diagonal(a, 0)
    a[4, :] = 0  # nothing flows into node 4
    a[:, 4] = 0
    a[[0, 2], 4] = 1  # ... but it sends to 0 and 2
    a[5, :] = a[:, 5] = 0  # node 5 is isolated
    if kind == "weighted":
        a = a * rng.uniform(0.5, 2.0, a.shape).astype(dtype)
        a[1, 1] = 3.0
    return a


def edges_of(adj):
    """The edge index (source, target) and weights of a dense adjacency adj[target, source]."""
    dst, src = np.nonzero(adj)
    return np.stack([src, dst]).astype(np.int32), adj[dst, src]


def params_of(module) -> dict:
    return {k: p.data for k, p in module.named_parameters().items()}


def case_program(layer, reference, forms, x, adj, cot, edge_weight=None):
    """One jitted program (one compile per case) that runs `layer` on every graph form in
    `forms` ("dense", "bool", "edges") and the reference, each with its VJP of `cot`:
    returns {form or "ref": (output, input gradient, {parameter: gradient})}."""

    @jax.jit
    def run(layer, x, adj, ei, w, cot):
        graphs = {"dense": (adj,), "bool": (adj != 0,), "edges": (ei,) if w is None else (ei, w)}
        results = {}
        for form in forms:
            args = graphs[form]
            out, vjp = jax.vjp(lambda m, x: m(x, *args).data, layer, x)  # noqa: B023
            g_layer, g_x = vjp(cot)
            results[form] = (out, g_x, params_of(g_layer))
        names = list(params_of(layer))

        def ref(x, *ps):
            return batched(reference, x, adj, dict(zip(names, ps, strict=True)))

        out, vjp = jax.vjp(ref, x, *params_of(layer).values())
        g_x, *g_ps = vjp(cot)
        results["ref"] = (out, g_x, dict(zip(names, g_ps, strict=True)))
        return results

    ei, w = (None, None) if adj.ndim == 3 else edges_of(adj)
    if edge_weight is None:
        w = None
    return run(layer, jnp.asarray(x), jnp.asarray(adj), ei, w, jnp.asarray(cot))


def check_results(results, dtype):
    out, g_x, g_ps = results.pop("ref")
    for form, (a_out, a_gx, a_gps) in results.items():
        try:
            assert_close(a_out, out, dtype, **_tol(dtype))
            assert_close(a_gx, g_x, dtype, **_tol(dtype))
            assert sorted(a_gps) == sorted(g_ps)
            for name, g in g_ps.items():
                assert_close(a_gps[name], g, dtype, **_tol(dtype), err_msg=name)
        except AssertionError as e:
            raise AssertionError(f"{form} form: {e}") from None
        for name, g in a_gps.items():  # every parameter takes part (a zero can only be exact)
            assert float(jnp.abs(g).max()) > 0 or float(jnp.abs(g_ps[name]).max()) == 0, name
        assert float(jnp.abs(a_gx).max()) > 0


def _inputs(rng, kind, batch, dtype):
    x = rng.standard_normal((2, N, C_IN) if batch else (N, C_IN)).astype(dtype)
    adj = make_graph(rng, kind, dtype)
    if batch == "per_sample":
        adj = np.stack([adj, make_graph(rng, kind, dtype)])
    return x, adj


def _forms(batch, bool_too):
    forms = ["dense"] + (["bool"] if bool_too else [])
    return forms + ([] if batch == "per_sample" else ["edges"])  # an edge index is shared


def _cases(table):
    """The first case (the defaults) in float32, the others in float64, where a wrong formula
    cannot hide behind roundoff."""
    first = pytest.param(*table[0][1:], np.float32, id=f"{table[0][0]}-f32")
    return [first] + [pytest.param(*c[1:], np.float64, id=f"{c[0]}-f64") for c in table[1:]]


# (id, kwargs, graph kind, batch: None | "shared" (x batched, one graph) | "per_sample")
GCN_CASES = [
    ("default", {}, "plain", None),
    ("no_self_loops", dict(add_self_loops=False), "plain", None),
    ("not_normalized_no_bias", dict(normalize=False, bias=False), "plain", None),
    ("raw", dict(add_self_loops=False, normalize=False), "weighted", None),
    ("weighted_with_self_loop", {}, "weighted", None),
    ("shared_graph_batch", {}, "plain", "shared"),
    ("per_sample_graphs", {}, "weighted", "per_sample"),
]


@pytest.mark.parametrize("kwargs, kind, batch, dtype", _cases(GCN_CASES))
def test_gcn_matches_formula(kwargs, kind, batch, dtype):
    rng = np.random.default_rng(0)
    with x64(dtype):
        x, adj = _inputs(rng, kind, batch, dtype)
        layer = nn.GCNConv(C_IN, 3, dtype=dtype, **kwargs)
        if layer.bias is not None:  # a non-zero bias, so that a missing one shows
            layer.bias.data = jnp.asarray(rng.standard_normal(3).astype(dtype))
        loops, norm = kwargs.get("add_self_loops", True), kwargs.get("normalize", True)

        def reference(x, adj, p):
            return ref_gcn(x, adj, p["lin.weight"], p.get("bias"), loops, norm)

        cot = rng.standard_normal(x.shape[:-1] + (3,)).astype(dtype)
        weights = True if kind == "weighted" else None
        forms = _forms(batch, bool_too=kind == "plain" and not kwargs and batch is None)
        results = case_program(layer, reference, forms, x, adj, cot, weights)
        out = results["dense"][0]
        check_results(results, dtype)
        if not loops:  # node 5 has no edges: the bias alone
            bias = 0 if layer.bias is None else layer.bias.data
            assert_close(out[..., 5, :], jnp.broadcast_to(bias, out[..., 5, :].shape))


GAT_CASES = [
    ("default", {}, None),
    (
        "no_self_loops_no_bias_slope",
        dict(heads=2, add_self_loops=False, bias=False, negative_slope=0.5),
        None,
    ),
    ("shared_graph_batch", dict(heads=2), "shared"),
    ("per_sample_graphs_mean", dict(heads=3, concat=False), "per_sample"),
]


@pytest.mark.parametrize("kwargs, batch, dtype", _cases(GAT_CASES))
def test_gat_matches_formula(kwargs, batch, dtype):
    rng = np.random.default_rng(1)
    with x64(dtype):
        x, adj = _inputs(rng, "weighted", batch, dtype)  # the weights are ignored: a mask
        layer = nn.GATConv(C_IN, 4, dtype=dtype, **kwargs)
        if layer.bias is not None:
            layer.bias.data = jnp.asarray(rng.standard_normal(layer.bias.shape).astype(dtype))
        heads, concat = kwargs.get("heads", 1), kwargs.get("concat", True)
        slope, loops = kwargs.get("negative_slope", 0.2), kwargs.get("add_self_loops", True)

        def reference(x, adj, p):
            return ref_gat(
                x, adj, p["lin.weight"], p["att_src"], p["att_dst"], p.get("bias"), heads,
                concat, slope, loops,
            )  # fmt: skip

        cot = rng.standard_normal(x.shape[:-1] + (layer.total_out_features(),)).astype(dtype)
        forms = _forms(batch, bool_too=not kwargs)
        results = case_program(layer, reference, forms, x, adj, cot)
        out = results["dense"][0]
        check_results(results, dtype)
        if not loops:  # node 5 has no edges: zeros (no bias here), not NaN
            np.testing.assert_array_equal(out[..., 5, :], 0)


def test_functional_forms_equal_the_layers():
    """`F.gcn_conv`/`F.gat_conv`: plain jax on arrays (jit-able), one tape op on Variables."""
    rng = np.random.default_rng(5)
    x = rng.standard_normal((N, C_IN)).astype(np.float32)
    adj = make_graph(rng, "plain", np.float32)
    ei = jnp.asarray(edges_of(adj)[0])
    gcn, gat = nn.GCNConv(C_IN, 3), nn.GATConv(C_IN, 2, heads=2)
    gcn.bias.data = jnp.ones(3)

    @jax.jit
    def run(gcn, gat, x):
        p, q = params_of(gcn), params_of(gat)
        functional = (
            F.gcn_conv(x, ei, p["lin.weight"], p["bias"]),
            F.gat_conv(x, ei, q["lin.weight"], q["att_src"], q["att_dst"], q["bias"]),
        )
        return functional, (gcn(x, ei).data, gat(x, ei).data)

    functional, layers = run(gcn, gat, jnp.asarray(x))
    for f, m in zip(functional, layers, strict=True):
        assert isinstance(f, jax.Array)
        assert_close(f, m)
    xv = axon.Variable(jnp.asarray(x), requires_grad=True)
    wv = axon.Variable(gcn.lin.weight.data, requires_grad=True)
    out = F.gcn_conv(xv, ei, wv, gcn.bias.data)
    assert isinstance(out, axon.Variable) and out.grad_fn == "gcn_conv"
    assert_close(out, layers[0])


def test_gcn_duplicate_edges_add_up():
    rng = np.random.default_rng(3)
    x = jnp.asarray(rng.standard_normal((N, C_IN)).astype(np.float32))
    adj = make_graph(rng, "plain", np.float32)
    ei, _ = edges_of(adj)
    doubled = jnp.asarray(np.concatenate([ei, ei[:, :2]], axis=1))  # the first two edges twice
    twice = adj.copy()
    twice[ei[1, :2], ei[0, :2]] = 2.0
    run = jax.jit(lambda m, x: (m(x, doubled).data, m(x, jnp.asarray(twice)).data))
    a, b = run(nn.GCNConv(C_IN, 3), x)
    assert_close(a, b, rtol=1e-5, atol=1e-6)


# ----------------------------------------------------------------------------------- dropout
def test_gat_attention_dropout():
    rng = np.random.default_rng(6)
    x = jnp.asarray(rng.standard_normal((N, C_IN)).astype(np.float32))
    graph = jnp.asarray(make_graph(rng, "plain", np.float32))
    layer = nn.GATConv(C_IN, 3, heads=2, dropout=0.5)
    layer.bias.data = jnp.arange(6, dtype=jnp.float32)
    axon.manual_seed(3)
    a = layer(x, graph).data
    axon.manual_seed(3)
    b = layer(x, graph).data
    c = layer(x, graph).data
    np.testing.assert_array_equal(a, b)  # seeded by the global stream
    assert not np.allclose(b, c)  # a fresh mask per call
    layer.eval()  # no dropout in eval mode: the plain layer
    plain = nn.GATConv(C_IN, 3, heads=2)
    plain.load_state_dict(layer.state_dict())
    evaluated = layer(x, graph).data
    assert_close(evaluated, plain(x, graph))
    assert not np.allclose(a, evaluated)
    layer.dropout = 1.0  # p = 1 drops every coefficient: only the bias is left
    layer.train()
    assert_close(layer(x, graph), jnp.broadcast_to(layer.bias.data, (N, 6)))


def test_gat_dropout_inside_axon_jit_draws_per_call():
    """On an edge index, inside axon.jit: seeded by the global stream, a fresh mask per call."""
    rng = np.random.default_rng(7)
    x = jnp.asarray(rng.standard_normal((N, C_IN)).astype(np.float32))
    graph = jnp.asarray(edges_of(make_graph(rng, "plain", np.float32))[0])
    layer = nn.GATConv(C_IN, 3, heads=2, dropout=0.5)
    fast = axon.jit(lambda m, x, g: m(x, g))
    axon.manual_seed(1)
    first, second = fast(layer, x, graph).data, fast(layer, x, graph).data
    axon.manual_seed(1)
    np.testing.assert_array_equal(fast(layer, x, graph).data, first)
    assert not np.allclose(first, second)
    layer.eval()
    assert not np.allclose(first, fast(layer, x, graph).data)
    assert fast.num_compiles == 2  # training and eval


# ---------------------------------------------------------------------------- jit, grad, vmap
class _Net(nn.Module):
    """conv1 -> ReLU -> conv2, on one graph or on two forms of it (conv2 on `graph2`)."""

    def __init__(self, conv1=None, conv2=None):
        super().__init__()
        self.conv1 = conv1 if conv1 is not None else nn.GCNConv(C_IN, 8)
        self.conv2 = conv2 if conv2 is not None else nn.GATConv(8, 3, heads=2, concat=False)

    def forward(self, x, graph, graph2=None):
        graph2 = graph if graph2 is None else graph2
        return self.conv2(self.conv1(x, graph).relu(), graph2)


def test_vmap_over_graphs_and_unchecked_edges_under_jit():
    """vmap of one-graph calls equals the batched call; under a trace an out-of-range edge cannot
    be checked, so it is ignored."""
    rng = np.random.default_rng(8)
    xb = jnp.asarray(rng.standard_normal((3, N, C_IN)).astype(np.float32))
    adj = np.stack([make_graph(rng, "plain", np.float32) for _ in range(3)])
    ei = edges_of(adj[0])[0]
    bad = jnp.asarray(np.concatenate([ei, [[0, 7], [N, 1]]], axis=1))  # 2 invalid edges

    @jax.jit
    def run(gcn, gat, xb, adj, bad):
        out = {}
        for name, m in (("gcn", gcn), ("gat", gat)):
            out[name] = (
                jax.vmap(lambda x, a: m(x, a).data)(xb, adj),  # noqa: B023
                m(xb, adj).data,
                m(xb[0], bad).data,
                m(xb[0], jnp.asarray(ei)).data,
            )
        return out

    results = run(nn.GCNConv(C_IN, 4), nn.GATConv(C_IN, 2, heads=2), xb, jnp.asarray(adj), bad)
    for mapped, batched_, unchecked, valid in results.values():
        assert_close(mapped, batched_, atol=1e-6)
        assert_close(unchecked, valid, atol=1e-6)


# ---------------------------------------------------------------------------------- training
def _two_communities(rng, n=24):
    """Two dense communities with a few edges between; features are the label plus noise on
    half of the nodes and pure noise on the rest, so a node needs its neighbours."""
    labels = np.arange(n) % 2
    same = labels[:, None] == labels[None, :]
    adj = (rng.random((n, n)) < np.where(same, 0.4, 0.03)).astype(np.float32)
    adj = np.maximum(adj, adj.T)
    np.fill_diagonal(adj, 0)
    x = rng.standard_normal((n, 4)).astype(np.float32)
    x[: n // 2, 0] += np.where(labels[: n // 2] == 1, 2.0, -2.0)
    return jnp.asarray(x), adj, jnp.asarray(labels)


def test_node_classification_training_eager_equals_axon_jit_and_learns():
    """A GCN layer on the dense adjacency, then a GAT layer on the edge index. Eager steps (one
    tape op per layer, backward()) equal axon.jit's compiled ones; trained on, the network
    learns the communities."""
    rng = np.random.default_rng(10)
    x, adj, y = _two_communities(rng)
    dense, edges = jnp.asarray(adj), jnp.asarray(edges_of(adj)[0])

    def make():
        return _Net(nn.GCNConv(4, 8), nn.GATConv(8, 2, heads=2, concat=False))

    def step(net, opt, x, dense, edges, y):
        opt.zero_grad()
        loss = nn.CrossEntropyLoss()(net(x, dense, edges), y)
        loss.backward()
        opt.step()
        return loss

    eager_net, net = make(), make()
    net.load_state_dict(eager_net.state_dict())
    eager_opt = optim.Adam(eager_net.parameters(), lr=0.05)
    opt = optim.Adam(net.parameters(), lr=0.05)
    fast = axon.jit(step)
    eager = [float(step(eager_net, eager_opt, x, dense, edges, y)) for _ in range(2)]
    losses = [float(fast(net, opt, x, dense, edges, y)) for _ in range(40)]
    np.testing.assert_allclose(losses[:2], eager, rtol=1e-5)
    assert fast.num_compiles <= 2  # the first call has no .grad or Adam moments yet
    assert losses[-1] < 0.5 * losses[0], losses[::8]
    accuracy = float((net(x, dense, edges).data.argmax(-1) == y).mean())
    assert accuracy >= 0.9


# ------------------------------------------------------------------------- parameters, repr
def test_state_dict_names_shapes_and_init():
    """torch_geometric's names and init: Glorot-uniform weights and attention vectors, zero bias
    (the real initialiser: the numpy stand-in is off here)."""
    gcn = nn.GCNConv(16, 8)
    assert {k: v.shape for k, v in gcn.state_dict().items()} == {
        "lin.weight": (8, 16), "bias": (8,),
    }  # fmt: skip
    gat = nn.GATConv(16, 2, heads=4)
    assert {k: v.shape for k, v in gat.state_dict().items()} == {
        "lin.weight": (8, 16), "att_src": (1, 4, 2), "att_dst": (1, 4, 2), "bias": (8,),
    }  # fmt: skip
    assert nn.GATConv(16, 2, heads=4, concat=False).bias.shape == (2,)
    assert nn.GATConv(16, 2, heads=4, bias=False).bias is None
    for p, bound in (
        (gcn.lin.weight, math.sqrt(6 / 24)), (gat.lin.weight, math.sqrt(6 / 24)),
        (gat.att_src, math.sqrt(6 / 6)), (gat.att_dst, math.sqrt(6 / 6)),
    ):  # fmt: skip
        values = np.asarray(p.data)
        assert np.abs(values).max() <= bound and np.abs(values).max() > 0.7 * bound
    np.testing.assert_array_equal(gcn.bias.data, 0)
    np.testing.assert_array_equal(gat.bias.data, 0)
    before = np.array(gat.att_src.data)
    gat.bias.data = jnp.ones(8)
    gat.reset_parameters()
    assert not np.array_equal(before, gat.att_src.data)
    np.testing.assert_array_equal(gat.bias.data, 0)
    axon.manual_seed(5)
    a = nn.GATConv(16, 2, heads=4)
    axon.manual_seed(5)
    np.testing.assert_array_equal(a.att_dst.data, nn.GATConv(16, 2, heads=4).att_dst.data)


def test_repr_and_seed_forms():
    gcn = nn.GCNConv(16, 8, bias=False, normalize=False)
    assert repr(gcn).startswith("GCNConv(\n  16, 8, bias=False, normalize=False\n  (lin): Linear(")
    gat = nn.GATConv(8, 4, heads=2, concat=False, dropout=0.1, add_self_loops=False)
    assert gat.extra_repr() == "8, 4, heads=2, concat=False, dropout=0.1, add_self_loops=False"
    assert nn.GCNConv.new(4, 3).bias is not None
    assert nn.GCNConv.without_bias(4, 3).bias is None
    gat = nn.GATConv.new(4, 3, 2)
    assert (gat.heads, gat.out_channels, gat.total_out_features()) == (2, 3, 6)
    x, adj = jnp.ones((2, 5, 4)), jnp.ones((5, 5))
    assert_close(gat.forward_graph(x, adj), gat(x, adj))
    gcn = nn.GCNConv.new(4, 3)
    assert_close(gcn.forward_graph(x, adj), gcn(x, adj))


# ------------------------------------------------------------------------------------ errors
ERRORS = [
    (
        "features_width",
        lambda: nn.GCNConv(5, 3)(jnp.ones((6, 4)), jnp.ones((6, 6))),
        r"axon\.nn\.GCNConv: expected node features of shape \(N, 5\) or \(B, N, 5\), "
        r"got \(6, 4\)\. The last dimension must equal in_channels=5",
    ),
    (
        "features_rank",
        lambda: nn.GATConv(5, 3)(jnp.ones((5,)), jnp.ones((1, 1))),
        r"GATConv: expected node features of shape \(N, 5\) or \(B, N, 5\), got \(5,\)",
    ),
    (
        "adjacency_size",
        lambda: nn.GCNConv(5, 3)(jnp.ones((6, 5)), jnp.ones((5, 5))),
        r"GCNConv: expected a dense adjacency of shape \(6, 6\) for node features \(6, 5\), "
        r"got \(5, 5\)",
    ),
    (
        "batched_adjacency_batch",
        lambda: nn.GATConv(5, 3)(jnp.ones((2, 6, 5)), jnp.ones((3, 6, 6))),
        r"expected a dense adjacency of shape \(6, 6\) or \(2, 6, 6\) .* got \(3, 6, 6\)",
    ),
    (
        "batched_adjacency_unbatched_x",
        lambda: F.gcn_conv(jnp.ones((6, 5)), jnp.ones((2, 6, 6)), jnp.ones((3, 5))),
        r"axon\.functional\.gcn_conv: expected a dense adjacency of shape \(6, 6\) for",
    ),
    (
        "edge_out_of_range",
        lambda: nn.GCNConv(5, 3)(jnp.ones((6, 5)), jnp.array([[0, 1, 6], [1, 0, 2]])),
        r"GCNConv: edge index 6 is out of range for 6 nodes \(valid: 0 to 5\)",
    ),
    (
        "edge_negative",
        lambda: nn.GATConv(5, 3)(jnp.ones((6, 5)), jnp.array([[0, 1], [-1, 0]])),
        r"GATConv: edge index -1 is out of range for 6 nodes",
    ),
    (
        "edge_index_shape",
        lambda: nn.GCNConv(5, 3)(jnp.ones((6, 5)), jnp.zeros((3, 4), jnp.int32)),
        r"an integer adjacency is read as an edge index of shape \(2, E\), got \(3, 4\)\. "
        r"Pass a dense adjacency as floats or bools",
    ),
    (
        "edge_weight_dense",
        lambda: nn.GCNConv(5, 3)(jnp.ones((6, 5)), jnp.ones((6, 6)), jnp.ones(4)),
        r"edge_weight applies to an edge index only",
    ),
    (
        "edge_weight_shape",
        lambda: nn.GCNConv(5, 3)(jnp.ones((6, 5)), jnp.array([[0, 1], [1, 0]]), jnp.ones(3)),
        r"expected edge_weight of shape \(2,\) \(one per edge\), got \(3,\)",
    ),
    (
        "adjacency_type",
        lambda: nn.GCNConv(5, 3)(jnp.ones((6, 5)), [[0, 1], [1, 0]]),
        r"expected the adjacency as an array, got list",
    ),
    ("in_channels", lambda: nn.GCNConv(0, 3), r"GCNConv: in_channels must be a positive int"),
    ("heads", lambda: nn.GATConv(4, 3, heads=0), r"GATConv: heads must be a positive int, got 0"),
    (
        "dropout",
        lambda: nn.GATConv(4, 3, dropout=1.5),
        r"GATConv: dropout must be a number in \[0, 1\], got 1\.5",
    ),
    (
        "functional_dropout",
        lambda: F.gat_conv(
            jnp.ones((3, 4)),
            jnp.ones((3, 3)),
            jnp.ones((2, 4)),
            jnp.ones((1, 1, 2)),
            jnp.ones((1, 1, 2)),
            dropout=-0.1,
        ),  # fmt: skip
        r"axon\.functional\.gat_conv: dropout must be a number in \[0, 1\]",
    ),
]


@pytest.mark.parametrize("fn, match", [e[1:] for e in ERRORS], ids=[e[0] for e in ERRORS])
def test_errors(fn, match):
    with pytest.raises((ValueError, TypeError), match=match):
        fn()
