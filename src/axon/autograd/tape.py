"""The tape: differentiable ops on Variables, `backward()`, and `no_grad`.

A tape op is a pure jax function of arrays wrapped by `@op`. Called on plain arrays it is that jax
function, untouched (so `jax.jit`/`grad`/`vmap` see ordinary jax). Called with at least one
`Variable`, it runs as one compiled kernel that returns the output and its VJP (`jax.vjp`'s
function is a pytree of residuals, so it can leave `jax.jit`), and the output Variable keeps a
`Node(vjp, parents)`. `backward()` walks the nodes in reverse topological order and applies each
VJP through one jitted applier.

Eagerly, kernels are cached per (op, static arguments, which inputs need gradients) and `jax.jit`
caches per shapes and dtypes, so a steady-state op costs one compiled dispatch. When the inputs are
tracers (inside `jax.jit` or `axon.jit`), the same code calls `jax.vjp` directly: forward and
backward trace into the surrounding program and `backward()` gives exactly `jax.grad`'s gradients.
"""

from __future__ import annotations

import functools
import inspect
import threading

import jax
import jax.numpy as jnp
import numpy as np

from axon.autograd.variable import Node, Variable

_Tracer = jax.core.Tracer
_ARRAY_TYPES = (jax.Array, np.ndarray, np.generic)
_SCALAR_TYPES = (int, float, complex)


# ----------------------------------------------------------------------------- grad mode
class _GradMode(threading.local):
    enabled = True


_grad_mode = _GradMode()


def is_grad_enabled() -> bool:
    return _grad_mode.enabled


class _SetGradEnabled:
    """Context manager and decorator that switches recording on or off, restoring it after."""

    def __init__(self, mode: bool):
        self.mode = mode

    def __enter__(self):
        self.prev = _grad_mode.enabled
        _grad_mode.enabled = self.mode
        return self

    def __exit__(self, *exc):
        _grad_mode.enabled = self.prev
        return False

    def __call__(self, fn):
        @functools.wraps(fn)
        def wrapped(*args, **kwargs):
            with type(self)(*self._args()):
                return fn(*args, **kwargs)

        return wrapped

    def _args(self):
        return (self.mode,)


class _NoArgs(_SetGradEnabled):
    """Usable as `with f():`, `@f()` and, as PyTorch allows, bare `@f`."""

    _MODE = True

    def __new__(cls, fn=None):
        self = super().__new__(cls)
        if fn is not None:  # bare decorator: @axon.no_grad
            self.__init__()
            return self(fn)
        return self

    def __init__(self, fn=None):
        super().__init__(self._MODE)

    def _args(self):
        return ()


class no_grad(_NoArgs):
    """`with axon.no_grad(): ...` records nothing for backward inside (also a decorator)."""

    _MODE = False


class enable_grad(_NoArgs):
    """Re-enable recording inside a `no_grad` block."""

    _MODE = True


class set_grad_enabled(_SetGradEnabled):
    """`axon.set_grad_enabled(flag)` switches recording now, as PyTorch's; used as a context
    manager (`with axon.set_grad_enabled(flag): ...`) or decorator it restores the mode after."""

    def __init__(self, mode: bool):
        super().__init__(bool(mode))
        self.prev = _grad_mode.enabled
        _grad_mode.enabled = self.mode

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        _grad_mode.enabled = self.prev
        return False

    def __call__(self, fn):
        _grad_mode.enabled = self.prev  # decorating must not switch the mode
        return super().__call__(fn)


# ----------------------------------------------------------------------------- ops
class _Static:
    """Marks a static argument inside a kernel's argument template."""

    __slots__ = ("value",)

    def __init__(self, value):
        self.value = value


_DYN = object()  # template slot filled from the dynamic-array list


def _hashable(value, op_name, arg_name):
    if isinstance(value, list):
        value = tuple(value)
    try:
        hash(value)
    except TypeError:
        raise TypeError(
            f"axon.functional.{op_name}: argument '{arg_name}' must be hashable (an int, float, "
            f"str, tuple or None), got {type(value).__name__}."
        ) from None
    return value


def op(
    fn=None, *, static: tuple[str, ...] = (), differentiable: bool = True, name: str | None = None
):
    """Turn a pure jax function of arrays into a tape op.

    Args:
        static: names of arguments that are hyper-parameters (dims, flags, strings); they are
            part of the kernel cache key. Every other argument that is an array, a Variable or a
            Python number is a dynamic input of the kernel (numbers are weakly typed, so a new
            value does not recompile).
        differentiable: False for ops whose outputs carry no gradient (comparisons, argmax).
    """
    if fn is None:
        return functools.partial(op, static=static, differentiable=differentiable, name=name)

    op_name = name or fn.__name__
    arg_names = list(inspect.signature(fn).parameters)
    static_set = frozenset(static)
    unknown = static_set - set(arg_names)
    if unknown:
        raise TypeError(f"op {op_name}: static names {sorted(unknown)} are not parameters")
    kernels: dict = {}

    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        for a in args:
            if isinstance(a, Variable):
                break
        else:
            for a in kwargs.values():
                if isinstance(a, Variable):
                    break
            else:
                return fn(*args, **kwargs)
        return _run(fn, op_name, arg_names, static_set, differentiable, kernels, args, kwargs)

    wrapper.raw = fn
    return wrapper


def _run(fn, op_name, arg_names, static_set, differentiable, kernels, args, kwargs):
    record = differentiable and _grad_mode.enabled
    dyn, parents, diff_pos = [], [], []
    template, key = [], []

    def classify(value, arg_name):
        if isinstance(value, Variable):
            if record and value.requires_grad:
                diff_pos.append(len(dyn))
                parents.append(value)
                key.append("d")
            else:
                key.append("v")
            dyn.append(value.data)
            return _DYN
        if arg_name in static_set or value is None or isinstance(value, bool):
            value = _hashable(value, op_name, arg_name)
            key.append(("s", value))
            return _Static(value)
        if isinstance(value, _ARRAY_TYPES) or isinstance(value, _SCALAR_TYPES):
            key.append("a")
            dyn.append(value)
            return _DYN
        if isinstance(value, (list, tuple)) and any(
            isinstance(v, (Variable, *_ARRAY_TYPES)) for v in value
        ):
            key.append(("seq", type(value), len(value)))
            return type(value)(classify(v, arg_name) for v in value)
        value = _hashable(value, op_name, arg_name)
        key.append(("s", value))
        return _Static(value)

    for i, a in enumerate(args):
        template.append(classify(a, arg_names[i] if i < len(arg_names) else None))
    kw_template = {}
    for k, v in kwargs.items():
        key.append(k)
        kw_template[k] = classify(v, k)

    tracing = False
    for d in dyn:
        if isinstance(d, _Tracer):
            tracing = True
            break
    cache_key = (tuple(key), tracing)
    kernel = kernels.get(cache_key)
    if kernel is None:
        kernel = _make_kernel(fn, template, kw_template, tuple(diff_pos), jit=not tracing)
        kernels[cache_key] = kernel

    if not parents:
        return Variable(kernel(*dyn))
    out, vjp = kernel(*dyn)
    if not _is_inexact(out.dtype):
        return Variable(out)
    return Variable._from_op(out, Node(vjp, tuple(parents), op_name, tracing))


_INEXACT: dict = {}


def _is_inexact(dtype) -> bool:
    """`jnp.issubdtype(dtype, jnp.inexact)`, memoized: it costs ~0.7 µs per op otherwise."""
    try:
        return _INEXACT[dtype]
    except KeyError:
        result = _INEXACT[dtype] = bool(jnp.issubdtype(dtype, jnp.inexact))
        return result


def _make_kernel(fn, template, kw_template, diff_pos, jit):
    def fill(slot, it):
        if slot is _DYN:
            return next(it)
        if isinstance(slot, _Static):
            return slot.value
        return type(slot)(fill(s, it) for s in slot)

    def call(dyn):
        it = iter(dyn)
        args = [fill(s, it) for s in template]
        kwargs = {k: fill(s, it) for k, s in kw_template.items()}
        return fn(*args, **kwargs)

    if not diff_pos:

        def forward(*dyn):
            return call(dyn)
    else:

        def forward(*dyn):
            def f(*diff):
                full = list(dyn)
                for pos, value in zip(diff_pos, diff, strict=True):
                    full[pos] = value
                return call(full)

            return jax.vjp(f, *(dyn[p] for p in diff_pos))

    return jax.jit(forward) if jit else forward


# ----------------------------------------------------------------------------- backward
@jax.jit
def _apply_vjp(vjp, cotangent):
    return vjp(cotangent)


@functools.lru_cache(maxsize=64)
def _ones(shape, dtype):
    """The implied seed of an eager backward(); cached, since arrays are immutable and an eager
    `ones_like` costs more than the rest of a small backward pass. Never called while tracing
    (it would cache a tracer)."""
    return jnp.ones(shape, dtype)


@jax.jit
def _add(a, b):
    return a + b


def _check_cotangent(root: Variable, grad):
    if isinstance(grad, Variable):
        grad = grad.data
    grad = jnp.asarray(grad, dtype=root.data.dtype)
    if grad.shape != root.data.shape:
        raise ValueError(
            f"axon.Variable.backward: grad has shape {tuple(grad.shape)} but the output has shape "
            f"{tuple(root.data.shape)}; they must match."
        )
    return grad


def backward(root: Variable, grad=None, retain_graph: bool = False) -> None:
    """Fill `.grad` of every leaf that requires grad and leads to `root`, accumulating."""
    if not root.requires_grad:
        raise RuntimeError(
            "axon.Variable.backward: this Variable does not require grad and has no graph. Make a "
            "leaf with Variable(x, requires_grad=True) (or use Parameters), and do not compute "
            "the loss under axon.no_grad()."
        )
    if grad is None:
        if root.data.size != 1:
            raise RuntimeError(
                f"axon.Variable.backward: grad can be implied only for a scalar output, but this "
                f"output has shape {tuple(root.data.shape)}. Reduce it first (loss.sum() or "
                f"loss.mean()), or pass grad= of the same shape."
            )
        if isinstance(root.data, _Tracer):
            grad = jnp.ones_like(root.data)
        else:
            grad = _ones(root.data.shape, root.data.dtype)
    else:
        grad = _check_cotangent(root, grad)

    if root._node is None:  # backward on a leaf
        root._accumulate(grad)
        return

    order = _topological_order(root)
    cotangents = {id(root): grad}
    leaf_grads: dict[int, tuple[Variable, jax.Array]] = {}
    for var in order:
        g = cotangents.pop(id(var), None)
        node = var._node
        if node.vjp is None:
            raise RuntimeError(
                f"axon.Variable.backward: trying to backward through the graph a second time "
                f"(at op '{node.name}'); its saved values were freed after the first backward. "
                f"Pass retain_graph=True to the first backward() to keep them."
            )
        if g is None:  # no gradient reached this node
            continue
        traced = node.traced or isinstance(g, _Tracer)
        parent_grads = node.vjp(g) if traced else _apply_vjp(node.vjp, g)
        if not retain_graph:
            node.vjp = None
        for parent, pg in zip(node.parents, parent_grads, strict=True):
            if parent._node is None:
                if id(parent) in leaf_grads:
                    pg = _sum(leaf_grads[id(parent)][1], pg)
                leaf_grads[id(parent)] = (parent, pg)
            elif id(parent) in cotangents:
                cotangents[id(parent)] = _sum(cotangents[id(parent)], pg)
            else:
                cotangents[id(parent)] = pg
    for leaf, g in leaf_grads.values():
        leaf._accumulate(g)


def _sum(a, b):
    if isinstance(a, _Tracer) or isinstance(b, _Tracer):
        return a + b
    return _add(a, b)


def _topological_order(root: Variable) -> list[Variable]:
    """Non-leaf Variables reachable from root, each before the Variables it was computed from."""
    order, visited = [], set()
    stack = [(root, False)]
    while stack:
        var, expanded = stack.pop()
        if expanded:
            order.append(var)
            continue
        if id(var) in visited:
            continue
        visited.add(id(var))
        stack.append((var, True))
        for parent in var._node.parents:
            if parent._node is not None and id(parent) not in visited:
                stack.append((parent, False))
    order.reverse()
    return order
