"""`axon.grad` and `axon.value_and_grad`: functional gradients of functions of modules.

    loss, grads = axon.value_and_grad(loss_of)(model, x, y)
    opt.step(grads)

The gradient is taken with respect to the Parameters (that require grad) of the argument(s) at
`argnums`: a Module, a Variable, or a tuple/list of them. It comes back as a dict keyed like
`named_parameters()` (a bare Variable argument is keyed "argument {i}"), and is also written to the
Parameters' `.grad` slots (replacing what was there: it is the gradient of this call). Other state
the function changes (BatchNorm statistics, the random stream) is written back as in eager mode.

Called eagerly, the computation runs compiled through `axon.jit` (cached per argument
structure); inside `axon.jit` or a jax transform it traces into the surrounding program.
"""

from __future__ import annotations

import functools
from collections import OrderedDict
from collections.abc import Callable, Sequence

import jax

from axon.autograd.variable import Variable
from axon.nn.module import Module
from axon.transforms.jit import _detach, _is_stateful, jit
from axon.transforms.state import Slot, collect

_Tracer = jax.core.Tracer


def _targets(args, argnums) -> tuple[list[str], list[Variable]]:
    """Names and Parameters to differentiate with respect to."""
    numbers = (argnums,) if isinstance(argnums, int) else tuple(argnums)
    names, params, seen = [], [], set()
    for n in numbers:
        if n >= len(args):
            raise ValueError(
                f"axon.value_and_grad: argnums={argnums} but only {len(args)} arguments."
            )
        target = args[n]
        items = target if isinstance(target, (list, tuple)) else [target]
        for k, item in enumerate(items):
            prefix = f"{k}." if isinstance(target, (list, tuple)) and len(numbers) == 1 else ""
            if isinstance(item, Module):
                for name, p in item.named_parameters().items():
                    if p.requires_grad and id(p) not in seen:
                        seen.add(id(p))
                        names.append(prefix + name)
                        params.append(p)
            elif isinstance(item, Variable):
                if id(item) not in seen:
                    seen.add(id(item))
                    names.append(f"argument {n}" + (f".{k}" if prefix else ""))
                    params.append(item)
            else:
                raise TypeError(
                    f"axon.value_and_grad: argument {n} must be a Module, a Variable or a "
                    f"list/tuple of them, got {type(item).__name__}."
                )
    return names, params


def _traced(leaf) -> bool:
    """Whether an argument holds tracers (a Module's Parameters, a Variable's data, an array)."""
    if isinstance(leaf, Module):
        return any(isinstance(p.data, _Tracer) for p in leaf.parameters())
    return isinstance(leaf.data if isinstance(leaf, Variable) else leaf, _Tracer)


def _scalar(value, fn) -> jax.Array:
    data = value.data if isinstance(value, Variable) else value
    if not hasattr(data, "shape") or data.shape != ():
        shape = getattr(data, "shape", type(data).__name__)
        raise ValueError(
            f"axon.value_and_grad({getattr(fn, '__name__', 'fn')}): the function must return a "
            f"scalar loss (or (loss, aux) with has_aux=True), got {shape}."
        )
    return data


def value_and_grad(fn: Callable, argnums: int | Sequence[int] = 0, has_aux: bool = False):
    """`fn`'s value and its gradient with respect to the Parameters of `args[argnums]`.

    Returns a function returning `(value, grads)`, or `((value, aux), grads)` with `has_aux`.

    Example:
        >>> import axon
        >>> from axon import nn
        >>> model = nn.Linear(3, 1)
        >>> x = axon.Tensor.ones([2, 3])
        >>> loss, grads = axon.value_and_grad(lambda m, x: m(x).sum())(model, x)
        >>> sorted(grads), grads["weight"].shape
        (['bias', 'weight'], (1, 3))
    """

    def direct(*args, **kwargs):
        names, params = _targets(args, argnums)
        stateful = [
            a for a in jax.tree.leaves((args, kwargs), is_leaf=_is_stateful) if _is_stateful(a)
        ]
        slots, _ = collect(stateful)
        differentiated = {id(p) for p in params}
        side = [
            s
            for s in slots
            if not (type(s) is Slot and id(s.owner) in differentiated and s.name == "data")
        ]

        def pure(arrays):
            saved = [p.data for p in params], [s.get() for s in side]
            for p, a in zip(params, arrays, strict=True):
                p.data = a
            try:
                out = fn(*args, **kwargs)
                value, aux = out if has_aux else (out, None)
                return _scalar(value, fn), (_detach(aux), [s.get() for s in side], value)
            finally:
                for p, a in zip(params, saved[0], strict=True):
                    p.data = a
                for s, v in zip(side, saved[1], strict=True):
                    s.set(v)

        (value, (aux, side_state, raw_value)), grads = jax.value_and_grad(pure, has_aux=True)(
            [p.data for p in params]
        )
        for s, v in zip(side, side_state, strict=True):
            s.set(v)
        for p, g in zip(params, grads, strict=True):
            p.grad = g
        value = Variable(value) if isinstance(raw_value, Variable) else value
        # an OrderedDict keeps named_parameters() order through jax.jit (a dict comes out sorted)
        grads = OrderedDict(zip(names, grads, strict=True))
        return ((value, aux), grads) if has_aux else (value, grads)

    compiled = jit(direct)

    @functools.wraps(fn)
    def wrapped(*args, **kwargs):
        leaves = jax.tree.leaves((args, kwargs), is_leaf=_is_stateful)
        if any(map(_traced, leaves)):  # inside axon.jit or a jax transform: trace inline
            return direct(*args, **kwargs)
        out, grads = compiled(*args, **kwargs)
        return out, dict(grads)

    wrapped.compiled = compiled
    return wrapped


def grad(fn: Callable, argnums: int | Sequence[int] = 0, has_aux: bool = False):
    """Like `value_and_grad`, returning only the gradient dict (and aux with `has_aux`)."""
    vg = value_and_grad(fn, argnums, has_aux)

    @functools.wraps(fn)
    def wrapped(*args, **kwargs):
        out, grads = vg(*args, **kwargs)
        return (grads, out[1]) if has_aux else grads

    return wrapped
