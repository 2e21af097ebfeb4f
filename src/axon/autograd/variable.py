"""`Variable`: a jax array, a gradient slot, and the tape node that made it."""

from __future__ import annotations

import functools

import jax
import jax.numpy as jnp
import numpy as np

from axon import _structure


class Node:
    """How a non-leaf Variable was made: its op's VJP and the Variables it differentiates into."""

    __slots__ = ("vjp", "parents", "name", "traced")

    def __init__(self, vjp, parents, name, traced=False):
        self.vjp, self.parents, self.name, self.traced = vjp, parents, name, traced


def as_array(data) -> jax.Array:
    """`data` (a Variable, jax/numpy array, torch tensor, number or nested list) as a jax array
    that shares no memory with the caller's: numpy and torch arrays are mutable, and jax may
    alias host memory without copying."""
    if isinstance(data, Variable):
        return data.data
    if isinstance(data, jax.Array):
        return data
    if type(data).__module__.startswith("torch"):  # a torch tensor, without importing torch
        data = data.detach().cpu().numpy()
    if isinstance(data, np.ndarray):
        # device_put (not jnp.asarray, which compiles a conversion per new shape and dtype)
        return jax.device_put(np.array(data, copy=True))
    return jnp.asarray(data)


class Variable:
    """A jax array with a gradient slot, recorded on the tape when it requires grad.

    Args:
        data: a jax array, numpy array, Python number or nested list.
        requires_grad: track operations on this Variable so `backward()` can fill `.grad`.

    Attributes:
        data: the `jax.Array` value.
        grad: the accumulated gradient (`jax.Array` of `data`'s shape) or None.
        requires_grad: whether backward() computes a gradient for it.

    Example:
        >>> import axon
        >>> x = axon.Variable([1.0, 2.0, 3.0], requires_grad=True)
        >>> (x * x).sum().backward()
        >>> x.grad.tolist()
        [2.0, 4.0, 6.0]
    """

    __slots__ = ("_data", "_grad", "requires_grad", "_node", "__weakref__")
    __array_priority__ = 1000  # numpy defers `ndarray + Variable` to Variable.__radd__
    # No `__jax_array__`: jax.Array's operators would call it and return a plain array, so
    # `jax_array * variable` would silently leave the tape. Without it they defer to __rmul__.

    def __init__(self, data, requires_grad: bool = False):
        data = as_array(data)
        if requires_grad and not jnp.issubdtype(data.dtype, jnp.inexact):
            raise TypeError(
                f"axon.Variable: only floating point (or complex) data can require gradients, "
                f"got dtype {data.dtype}. Convert with .astype(jnp.float32) first."
            )
        self._data = data
        self._grad = None
        self.requires_grad = bool(requires_grad)
        self._node = None

    @classmethod
    def _from_op(cls, data, node):
        v = object.__new__(Variable)
        v._data, v._grad, v.requires_grad, v._node = data, None, True, node
        return v

    # ------------------------------------------------------------------ basics
    @property
    def data(self) -> jax.Array:
        """The `jax.Array` value."""
        data = self._data
        if type(data) is Held:  # axon.jit's last call wrote it: its value sits in a StateCell
            cell = data.cell
            if not cell.lent:
                cell.lend()
            return cell.values[data.index]
        return data

    @data.setter
    def data(self, value) -> None:
        old = self._data
        if type(old) is Held:
            old.cell.spoil()  # the cell no longer holds all of its slots' values
        self._data = value

    def __getstate__(self):
        """For copy and pickle: the value itself, never a `Held` handle into a StateCell."""
        return None, {
            "data": self.data,
            "_grad": unpacked(self._grad),
            "requires_grad": self.requires_grad,
            "_node": self._node,
        }

    def __setstate__(self, state) -> None:
        _, slots = state
        self._data = slots["data"]
        self._grad = slots.get("_grad")
        self.requires_grad = slots.get("requires_grad", False)
        self._node = slots.get("_node")

    @property
    def grad(self):
        """The accumulated gradient (a jax array of `data`'s shape) or None."""
        if GRAD_WATCH is not None:
            GRAD_WATCH.read(self)
        grad = self._grad
        if type(grad) is tuple:  # a slice of a GradPack, as axon.jit left it
            return unpacked(grad)
        return grad

    @grad.setter
    def grad(self, value) -> None:
        if GRAD_WATCH is not None:
            GRAD_WATCH.write(self)
        old = self._grad
        if type(old) is tuple:
            old[0].intact = False  # axon.jit may no longer refill this pack in place
            _structure.changed()
        self._grad = value

    @property
    def shape(self) -> tuple[int, ...]:
        return tuple(self.data.shape)

    @property
    def dtype(self):
        return self.data.dtype

    @property
    def ndim(self) -> int:
        return self.data.ndim

    @property
    def is_leaf(self) -> bool:
        return self._node is None

    @property
    def grad_fn(self) -> str | None:
        """The name of the op that made this Variable (None for a leaf)."""
        return None if self._node is None else self._node.name

    def size(self, dim: int | None = None):
        return self.shape if dim is None else self.shape[dim]

    def dim(self) -> int:
        return self.data.ndim

    def numel(self) -> int:
        return int(self.data.size)

    def __len__(self) -> int:
        if self.data.ndim == 0:
            raise TypeError("len() of a 0-d Variable")
        return self.data.shape[0]

    def __iter__(self):
        """Rows along the first dimension, each a differentiable view (as iterating a tensor).

        The row number is passed as an array, so every row runs the same compiled kernel.
        """
        if self.data.ndim == 0:
            raise TypeError("iteration over a 0-d Variable")
        return (self[jnp.asarray(i)] for i in range(self.data.shape[0]))

    def item(self):
        return self.data.item()

    def tolist(self):
        return self.data.tolist()

    def numpy(self) -> np.ndarray:
        return np.asarray(self.data)

    def __array__(self, dtype=None, copy=None):
        out = np.asarray(self.data)
        return out.astype(dtype) if dtype is not None else out

    def __float__(self):
        return float(self.data)

    def __int__(self):
        return int(self.data)

    def __bool__(self):
        return bool(self.data)

    def __hash__(self):
        return id(self)

    def __repr__(self) -> str:
        body = np.array2string(np.asarray(self.data), separator=", ", prefix="Variable(")
        extra = ""
        if self._node is not None:
            extra = f", grad_fn={self._node.name}"
        elif self.requires_grad:
            extra = ", requires_grad=True"
        return f"{type(self).__name__}({body}{extra})"

    # ------------------------------------------------------------------ autograd
    def backward(self, grad=None, retain_graph: bool = False) -> None:
        """Accumulate d(self)/d(leaf) into `.grad` of every leaf that requires grad.

        A non-scalar output needs `grad`, the cotangent of the same shape.
        """
        from axon.autograd.tape import backward

        backward(self, grad, retain_graph)

    def detach(self) -> Variable:
        """The same data as a new leaf that does not require grad."""
        return Variable(self.data)

    def requires_grad_(self, requires_grad: bool = True) -> Variable:
        if self._node is not None and not requires_grad:
            raise RuntimeError(
                "axon.Variable.requires_grad_: only leaves can stop requiring grad; use .detach()."
            )
        if requires_grad and not jnp.issubdtype(self.data.dtype, jnp.inexact):
            raise TypeError(
                f"axon.Variable: only floating point data can require gradients, "
                f"got dtype {self.data.dtype}."
            )
        self.requires_grad = bool(requires_grad)
        _structure.bump()  # compiled steps differentiate only what requires grad
        return self

    def zero_grad(self) -> None:
        """Drop the gradient (sets `.grad` to None, as PyTorch's `set_to_none=True`)."""
        self.grad = None

    def _accumulate(self, g) -> None:
        if g.dtype != self.data.dtype:
            g = g.astype(self.data.dtype)
        self.grad = g if self.grad is None else self.grad + g

    # ------------------------------------------------------------------ operators
    def __add__(self, other):
        return _ops.add(self, other)

    def __radd__(self, other):
        return _ops.add(other, self)

    def __sub__(self, other):
        return _ops.sub(self, other)

    def __rsub__(self, other):
        return _ops.sub(other, self)

    def __mul__(self, other):
        return _ops.mul(self, other)

    def __rmul__(self, other):
        return _ops.mul(other, self)

    def __truediv__(self, other):
        return _ops.div(self, other)

    def __rtruediv__(self, other):
        return _ops.div(other, self)

    def __matmul__(self, other):
        return _ops.matmul(self, other)

    def __rmatmul__(self, other):
        return _ops.matmul(other, self)

    def __pow__(self, exponent):
        return _ops.pow(self, exponent)

    def __rpow__(self, base):
        return _ops.pow(base, self)

    def __neg__(self):
        return _ops.neg(self)

    def __pos__(self):
        return self

    def __abs__(self):
        return _ops.abs(self)

    def __getitem__(self, index):
        return _ops.getitem(self, index)

    def __lt__(self, other):
        return _ops.lt(self, other)

    def __le__(self, other):
        return _ops.le(self, other)

    def __gt__(self, other):
        return _ops.gt(self, other)

    def __ge__(self, other):
        return _ops.ge(self, other)

    def __eq__(self, other):
        return _ops.eq(self, other)

    def __ne__(self, other):
        return _ops.ne(self, other)

    # ------------------------------------------------------------------ methods (PyTorch names)
    def add(self, other):
        return _ops.add(self, other)

    def sub(self, other):
        return _ops.sub(self, other)

    def mul(self, other):
        return _ops.mul(self, other)

    def div(self, other):
        return _ops.div(self, other)

    def neg(self):
        return _ops.neg(self)

    def matmul(self, other):
        return _ops.matmul(self, other)

    def pow(self, exponent):
        return _ops.pow(self, exponent)

    def sum(self, dim=None, keepdim: bool = False):
        return _ops.sum(self, dim, keepdim)

    def mean(self, dim=None, keepdim: bool = False):
        return _ops.mean(self, dim, keepdim)

    def var(self, dim=None, unbiased: bool = True, keepdim: bool = False):
        return _ops.var(self, dim, unbiased, keepdim)

    def std(self, dim=None, unbiased: bool = True, keepdim: bool = False):
        return _ops.std(self, dim, unbiased, keepdim)

    def max(self, dim=None, keepdim: bool = False):
        """`x.max()` is the largest element; `x.max(dim)` returns `(values, indices)` as PyTorch."""
        return _ops.max_with_indices(self, dim, keepdim)

    def min(self, dim=None, keepdim: bool = False):
        """`x.min()` is the smallest element; `x.min(dim)` returns `(values, indices)`."""
        return _ops.min_with_indices(self, dim, keepdim)

    def argmax(self, dim=None, keepdim: bool = False):
        return _ops.argmax(self, dim, keepdim)

    def argmin(self, dim=None, keepdim: bool = False):
        return _ops.argmin(self, dim, keepdim)

    def reshape(self, *shape):
        return _ops.reshape(self, _shape_args(shape))

    def view(self, *shape):
        return _ops.reshape(self, _shape_args(shape))

    def transpose(self, dim0: int, dim1: int):
        return _ops.transpose(self, dim0, dim1)

    def permute(self, *dims):
        return _ops.permute(self, _shape_args(dims))

    def flatten(self, start_dim: int = 0, end_dim: int = -1):
        return _ops.flatten(self, start_dim, end_dim)

    def squeeze(self, dim=None):
        return _ops.squeeze(self, dim)

    def unsqueeze(self, dim: int):
        return _ops.unsqueeze(self, dim)

    def expand(self, *shape):
        return _ops.expand(self, _shape_args(shape))

    @property
    def T(self):
        return _ops.permute(self, tuple(reversed(range(self.ndim))))

    def exp(self):
        return _ops.exp(self)

    def log(self):
        return _ops.log(self)

    def sqrt(self):
        return _ops.sqrt(self)

    def abs(self):
        return _ops.abs(self)

    def sin(self):
        return _ops.sin(self)

    def cos(self):
        return _ops.cos(self)

    def clamp(self, min=None, max=None):
        return _ops.clamp(self, min, max)

    clip = clamp

    def relu(self):
        return _act.relu(self)

    def sigmoid(self):
        return _act.sigmoid(self)

    def tanh(self):
        return _act.tanh(self)

    def gelu(self, approximate: str = "none"):
        return _act.gelu(self, approximate)

    def silu(self):
        return _act.silu(self)

    def mish(self):
        return _act.mish(self)

    def softmax(self, dim: int = -1):
        return _act.softmax(self, dim)

    def log_softmax(self, dim: int = -1):
        return _act.log_softmax(self, dim)

    def leaky_relu(self, negative_slope: float = 0.01):
        return _act.leaky_relu(self, negative_slope)

    def elu(self, alpha: float = 1.0):
        return _act.elu(self, alpha)

    def astype(self, dtype):
        return _ops.astype(self, jnp.dtype(dtype))

    to = astype

    def float(self):
        return _ops.astype(self, jnp.dtype(jnp.float32))


def _shape_args(shape):
    """`x.reshape(2, 3)` and `x.reshape((2, 3))` alike."""
    if len(shape) == 1 and isinstance(shape[0], (tuple, list)):
        return tuple(shape[0])
    return tuple(shape)


def _flatten_variable(v):
    return (v.data,), v.requires_grad


def _unflatten_variable(cls, requires_grad, children):
    v = _new(cls)
    v._data, v._grad, v.requires_grad, v._node = children[0], None, requires_grad, None
    return v


_new = object.__new__


def detached(data) -> Variable:
    """A Variable of `data` that needs no grad, made without `__init__`'s checks: how
    `axon.jit` hands back a result that was a Variable inside the compiled function."""
    v = _new(Variable)
    v._data, v._grad, v.requires_grad, v._node = data, None, False, None
    return v


def register_variable_pytree(cls) -> None:
    """Variables are pytrees with one leaf, their data; gradients and graph stay behind."""
    jax.tree_util.register_pytree_node(
        cls, _flatten_variable, lambda aux, ch: _unflatten_variable(cls, aux, ch)
    )


register_variable_pytree(Variable)


class StateCell:
    """The state `axon.jit`'s last call returned, held for the slots it was read from.

    Writing back into every slot after each call costs Python work per slot, so instead the
    slots get `Held(cell, index)` handles once and each call swaps `values`. Any other write to
    such a slot replaces its handle and sets `dirty`: the next call then reads every slot again.
    `holders` lists the objects given handles, so that the cell can be emptied (see
    `axon.transforms.jit._release`). `lent`: a value was read through a handle since `values`
    was set, so something outside may hold it (before donating, the next call checks). Both
    are set through `spoil` and `lend`, which also bump `_structure.changes`: a compiled step
    that sees that count unchanged since its last call knows neither happened.
    """

    __slots__ = ("values", "dirty", "holders", "lent")

    def __init__(self, values: list, holders: list):
        self.values, self.dirty, self.holders, self.lent = values, False, holders, False

    def spoil(self) -> None:
        """A slot no longer holds its handle: the next call reads every slot again."""
        self.dirty = True
        _structure.changed()

    def lend(self) -> None:
        """A value went out through a handle: the next call checks before donating it."""
        self.lent = True
        _structure.changed()


class Held:
    """A slot's value as `StateCell.values[index]` (see `StateCell`)."""

    __slots__ = ("cell", "index")

    def __init__(self, cell: StateCell, index: int):
        self.cell, self.index = cell, index


class HeldTree:
    """A slot's value as a pytree of `StateCell.values` (an optimizer's state; see `StateCell`).
    `take()` builds the tree; its holder stores that in place of the handle, so the cell is
    then dirty: the tree's containers can be changed in place, which no handle would notice."""

    __slots__ = ("cell", "treedef", "indices")

    def __init__(self, cell: StateCell, treedef, indices: tuple):
        self.cell, self.treedef, self.indices = cell, treedef, indices

    def take(self):
        self.cell.spoil()
        values = self.cell.values
        return self.treedef.unflatten([values[j] for j in self.indices])


class GradPack:
    """The `.grad`s of several Variables in one flat buffer, as `axon.jit` returns them for small
    models: each result of a compiled call costs the runtime microseconds, so one buffer is
    cheaper than one array per parameter. The buffer is cut into arrays (one dispatch for all)
    the first time any of them is read. Until then each Variable's `_grad` holds the pair
    `(pack, index)`: a plain tuple, so that `axon.jit` hands out a whole pack's pairs with one
    `zip` and no Python code per parameter (no `.grad` is ever a tuple otherwise).

    While every one of its Variables still holds its pair (`intact`), the next call of the same
    compiled step refills the pack with `refill` instead of handing out new pairs. A `.grad`
    write that breaks a pack bumps `_structure.changes`, so that call need not look."""

    __slots__ = ("buffer", "layout", "arrays", "intact")

    def __init__(self, buffer: jax.Array, layout: tuple):
        self.buffer, self.layout, self.arrays = buffer, layout, None  # layout: (start, size, shape)
        self.intact = True

    def refill(self, buffer: jax.Array) -> None:
        self.buffer, self.arrays = buffer, None

    def unpack(self) -> list[jax.Array]:
        if self.arrays is None:
            with jax.ensure_compile_time_eval():  # concrete arrays even when read inside a trace
                self.arrays = _unpack(self.buffer, self.layout)
            self.buffer = None
        return self.arrays


def unpacked(grad):
    """A `_grad` value, with a pending `(pack, index)` pair cut out of its `GradPack`."""
    if type(grad) is tuple:
        pack, index = grad
        return pack.unpack()[index]
    return grad


@functools.partial(jax.jit, static_argnums=1)
def _unpack(buffer, layout):
    return [
        jax.lax.slice(buffer, (start,), (start + size,)).reshape(shape)
        for start, size, shape in layout
    ]


class GradWatch:
    """Records which Variables' `.grad` was read before being written (while `axon.jit` traces).

    A compiled step that starts with `opt.zero_grad()` never reads the incoming gradients, so
    they need not be inputs at all: that keeps the program the same whether or not `.grad` held
    arrays when the step was called.
    """

    def __init__(self):
        self.written: set[int] = set()
        self.read_first: set[int] = set()

    def read(self, var) -> None:
        if id(var) not in self.written:
            self.read_first.add(id(var))

    def write(self, var) -> None:
        self.written.add(id(var))


GRAD_WATCH: GradWatch | None = None

# Variable's operators and methods call these op modules; `axon.functional` binds them on import
# (they import the tape, which imports this file, so they cannot be imported here).
_ops = None
_act = None
