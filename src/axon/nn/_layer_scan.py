"""Run a stack of structurally identical layers as one `jax.lax.scan` over their stacked weights.

The layers stay the storage: each keeps its own Parameters, so state-dict keys, `.grad` slots and
optimizers see them per layer. Only the forward changes. Each leaf (Parameter or buffer) is
stacked across the layers along a new leading axis (`jnp.stack`, cheap inside a compiled
program), and the scan's body rebuilds one layer from that layer's slice of every leaf
(`tree_unflatten` of the first layer's pytree structure) and calls its `forward` on raw arrays.
XLA then compiles one layer body instead of `num_layers` copies.

On Variables the whole stack is one tape op (`axon.autograd.op`): one compiled kernel forward, one
VJP backward, and the VJP of `jnp.stack` hands each layer's Parameters their own gradients. On
arrays (inside `jax.jit`/`jax.grad` of a function of the model) it is plain jax.

Randomness: in training mode with a positive dropout probability, one key is drawn from the
global stream per call and split into one key per layer; while the body runs, that layer's key
is the stream, so every dropout in layer i draws from it. The masks therefore differ from layer to
layer and are reproducible under `axon.manual_seed`, but are not bit-identical to the unrolled
loop's (which draws each mask from the global stream in turn).
"""

from __future__ import annotations

import contextlib
from collections.abc import Sequence

import jax
import jax.numpy as jnp
import numpy as np

from axon import _errors, _random
from axon.autograd.tape import no_grad, op
from axon.autograd.variable import Variable, as_array
from axon.functional.dropout import draw_key
from axon.nn.module import Module, _flatten_with_keys, _same

# Static attributes that name or instrument a module rather than define its computation.
_IGNORED = frozenset({"_axon_path", "_forward_hooks", "_summary_path"})


def _is_variable(x) -> bool:
    return isinstance(x, Variable)


def has_hooks(layers: Sequence[Module]) -> bool:
    """Whether any module in `layers` has a forward hook (they need one call per layer)."""
    return any(m.__dict__.get("_forward_hooks") for layer in layers for m in layer.modules())


def check_identical(where, layers: Sequence[Module], name: str = "layers") -> None:
    """Raise if a layer differs from `layers[0]` in anything the compiled body depends on."""
    for i, layer in enumerate(layers[1:], start=1):
        diff = _difference(layers[0], layer, "")
        if diff is not None:
            raise _errors.value_error(
                where,
                f"scan=True runs every layer with the structure of {name}.0, but {name}.{i} "
                f"differs: {diff}.",
                "Give every layer the same structure (they are clones unless replaced), or "
                "construct the stack with scan=False.",
            )


def _difference(a, b, path: str) -> str | None:
    """The first difference between two layer trees, in words, or None."""
    where = path or "the layer"
    if type(a) is not type(b):
        return f"{where} is a {type(b).__name__}, not a {type(a).__name__}"
    if isinstance(a, Module):
        children_a, (_, names_a, static_a) = _flatten_with_keys(a)
        children_b, (_, names_b, static_b) = _flatten_with_keys(b)
        if names_a != names_b:
            keys_a = [n[1] if isinstance(n, tuple) else n for n in names_a]
            keys_b = [n[1] if isinstance(n, tuple) else n for n in names_b]
            return f"{where} holds {keys_b} instead of {keys_a}"
        sa = {k: v for k, v in static_a.items if k not in _IGNORED}
        sb = {k: v for k, v in static_b.items if k not in _IGNORED}
        for key in sorted(sa.keys() | sb.keys()):
            if key not in sa or key not in sb or not _same(sa[key], sb[key]):
                attr = f"{path}.{key}" if path else key
                return f"{attr} is {sb.get(key, '<unset>')!r} instead of {sa.get(key, '<unset>')!r}"
        for (key, ca), (_, cb) in zip(children_a, children_b, strict=True):
            diff = _difference(ca, cb, f"{path}.{key.name}" if path else key.name)
            if diff is not None:
                return diff
        return None
    if isinstance(a, (Variable, jax.Array, np.ndarray)):
        sa, sb = (tuple(a.shape), a.dtype), (tuple(b.shape), b.dtype)
        if sa != sb:
            return (
                f"{where} has shape {_errors.shape_str(sb[0])} and dtype {sb[1]}, not "
                f"{_errors.shape_str(sa[0])} and {sa[1]}"
            )
        return None
    if isinstance(a, (list, tuple, dict)):
        if len(a) != len(b) or (isinstance(a, dict) and list(a) != list(b)):
            return f"{where} has {len(b)} entries, not {len(a)}"
        keys = list(a) if isinstance(a, dict) else range(len(a))
        for k in keys:
            diff = _difference(a[k], b[k], f"{where}[{k!r}]")
            if diff is not None:
                return diff
        return None
    return None if _same(a, b) else f"{where} is {b!r} instead of {a!r}"


def _uses_dropout(layer: Module) -> bool:
    """A training-mode sub-module with a positive drop probability (`p` or `dropout`)."""
    for m in layer.modules():
        if m.training:
            for name in ("p", "dropout"):
                value = m.__dict__.get(name)
                if isinstance(value, float) and value > 0.0:
                    return True
    return False


@contextlib.contextmanager
def _stream(key):
    """Make `key` the global random stream for the duration of the block."""
    saved = _random.get_key_data()
    _random.set_key_data(jax.random.key_data(key))
    try:
        yield
    finally:
        _random.set_key_data(saved)


@op(static=("treedef", "num_layers", "options"), name="layer_scan")
def _layer_scan(treedef, num_layers, options, x, args, key, *leaves):
    """`x` through `num_layers` layers of structure `treedef` (layer-major `leaves`), one scan."""
    per_layer = len(leaves) // num_layers
    # (L, ...) per leaf: leaf j of layer i is leaves[i * per_layer + j]
    stacked = [jnp.stack(leaves[j::per_layer]) for j in range(per_layer)]
    floats = [leaf for leaf in leaves if jnp.issubdtype(leaf.dtype, jnp.inexact)]
    x = x.astype(jnp.result_type(x, *floats))  # the carry keeps the dtype a layer returns
    keys = None if key is None else jax.random.split(key, num_layers)  # (L,) keys
    kwargs = dict(options)

    def body(h, xs):
        layer_leaves, layer_key = xs
        layer = jax.tree_util.tree_unflatten(treedef, layer_leaves)
        stream = contextlib.nullcontext() if layer_key is None else _stream(layer_key)
        with no_grad(), stream:
            out = layer(h, *args, **kwargs)
        return as_array(out), None

    out, _ = jax.lax.scan(body, x, (stacked, keys), length=num_layers)
    return out


def scan_layers(where, layers: Sequence[Module], x, args: tuple, **options):
    """`layer(x, *args, **options)` for each layer in turn, run as one scan.

    `args` are passed unchanged to every layer (masks, the decoder's memory: scan constants);
    `options` must be hashable (flags). The caller checks `check_identical` and `has_hooks`.
    """
    leaves: list = []
    for layer in layers:
        leaves.extend(jax.tree_util.tree_leaves(layer, is_leaf=_is_variable))
    treedef = jax.tree_util.tree_structure(layers[0])
    key = None
    if _uses_dropout(layers[0]):
        # refuse a constant key in a traced program: look for a tracer among x and the weights
        arrays = (as_array(a) for a in (x, *leaves))
        traced = next((a for a in arrays if isinstance(a, jax.core.Tracer)), x)
        key = draw_key(_errors.describe(where), traced)
    return _layer_scan(treedef, len(layers), tuple(options.items()), x, tuple(args), key, *leaves)
