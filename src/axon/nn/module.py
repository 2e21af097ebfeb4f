"""`Module`: PyTorch's stateful layer API, as a JAX pytree.

A Module keeps its Parameters, buffers and sub-modules as ordinary attributes (containers keep
their children in `self._modules`). Registration therefore works whether or not a subclass calls
`super().__init__()`: whatever a Module holds is found by looking at its attributes, in the order
they were first assigned, which is also PyTorch's state-dict order.

Every Module class is registered as a JAX pytree: Parameters, buffers and any other arrays are the
leaves; hyper-parameters, the training flag and the class are static. So `jax.jit`, `jax.grad` and
`jax.vmap` work on functions of modules, and `jax.grad` of a loss with respect to a module returns a
module-shaped gradient.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Iterator
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from axon import _errors, _structure
from axon.autograd.variable import Variable, as_array
from axon.nn.parameter import Parameter


def _bump_structure_version() -> None:
    _structure.bump()


class IncompatibleKeys(NamedTuple):
    missing_keys: list[str]
    unexpected_keys: list[str]


class Module:
    """Base class of every layer and model.

    Subclasses assign Parameters, buffers (`register_buffer`) and sub-modules as attributes in
    `__init__` and implement `forward`; calling the module runs `forward`.

    Example:
        >>> import axon
        >>> from axon import nn
        >>> class TwoLayer(nn.Module):
        ...     def __init__(self):
        ...         super().__init__()
        ...         self.fc1 = nn.Linear(4, 8)
        ...         self.fc2 = nn.Linear(8, 2)
        ...     def forward(self, x):
        ...         return self.fc2(self.fc1(x).relu())
        >>> model = TwoLayer()
        >>> list(model.state_dict())
        ['fc1.weight', 'fc1.bias', 'fc2.weight', 'fc2.bias']
        >>> model(axon.Tensor.randn([3, 4])).shape
        (3, 2)
    """

    training: bool = True  # class default: subclasses that skip super().__init__() still work
    _axon_path: str | None = None

    def __init__(self) -> None:
        object.__setattr__(self, "training", True)

    def __init_subclass__(cls, **kwargs):
        super().__init_subclass__(**kwargs)
        _register_pytree(cls)

    # ------------------------------------------------------------------ attribute registration
    def __setattr__(self, name: str, value: Any) -> None:
        old = self.__dict__.get(name)
        if isinstance(old, Parameter) and value is not None and not isinstance(value, Parameter):
            raise TypeError(
                f"{_errors.describe(self)}: cannot assign {type(value).__name__} as parameter "
                f"'{name}' (a Parameter or None expected). To change its value, assign "
                f"`{name}.data = new_array`."
            )
        if isinstance(value, Module):
            _set_path(value, _child_path(self, name))
        if not (isinstance(value, jax.Array) and isinstance(old, jax.Array)):
            # anything but one array replacing another (a buffer update) is a change that
            # compiled programs depend on: a sub-module, Parameter, hyper-parameter or mode
            _bump_structure_version()
        object.__setattr__(self, name, value)

    def __delattr__(self, name: str) -> None:
        # `del model.fc` / `del model.running_mean` unregisters, as in PyTorch.
        if name not in self.__dict__ and name in self.__dict__.get("_modules", {}):
            del self._modules[name]
        else:
            object.__delattr__(self, name)
        self.__dict__.get("_buffer_names", {}).pop(name, None)
        _bump_structure_version()

    def __getattr__(self, name: str) -> Any:
        # Only reached when normal lookup fails: children of containers, by name ("0", "fc").
        modules = self.__dict__.get("_modules")
        if modules is not None and name in modules:
            return modules[name]
        raise AttributeError(f"'{type(self).__name__}' object has no attribute '{name}'")

    def register_buffer(self, name: str, tensor, persistent: bool = True) -> None:
        """Add a buffer: state that is not trained (e.g. running statistics).

        Persistent buffers appear in `state_dict()`. Assign a new array to the attribute to
        update it.
        """
        if tensor is not None and not isinstance(tensor, (jax.Array, np.ndarray)):
            raise TypeError(
                f"{_errors.describe(self)}: buffer '{name}' must be an array or None, "
                f"got {type(tensor).__name__}."
            )
        names = self.__dict__.get("_buffer_names")
        if names is None:
            names = {}
            object.__setattr__(self, "_buffer_names", names)
        names[name] = persistent
        _bump_structure_version()
        object.__setattr__(self, name, None if tensor is None else as_array(tensor))

    def register_parameter(self, name: str, param: Parameter | None) -> None:
        if param is not None and not isinstance(param, Parameter):
            raise TypeError(
                f"{_errors.describe(self)}: cannot register {type(param).__name__} as parameter "
                f"'{name}' (a Parameter or None expected)."
            )
        setattr(self, name, param)

    def register_module(self, name: str, module: Module | None) -> None:
        setattr(self, name, module)

    add_module = register_module

    def _items(self) -> Iterator[tuple[str, Any]]:
        """(name, value) of every attribute, container children in place of `_modules`."""
        for name, value in self.__dict__.items():
            if name == "_modules":
                yield from value.items()
            else:
                yield name, value

    # ------------------------------------------------------------------ traversal
    def _child_items(self) -> Iterator[tuple[str, Module]]:
        """Every (name, sub-module) attribute, a shared sub-module under each of its names."""
        for name, value in self._items():
            if isinstance(value, Module):
                yield name, value

    def named_children(self) -> dict[str, Module]:
        """Direct sub-modules by attribute name; one held twice is listed once (as PyTorch)."""
        out: dict[str, Module] = {}
        seen: set[int] = set()
        for name, child in self._child_items():
            if id(child) not in seen:
                seen.add(id(child))
                out[name] = child
        return out

    def children(self) -> list[Module]:
        return list(self.named_children().values())

    def named_modules(self, prefix: str = "") -> dict[str, Module]:
        """Every module in the tree, this one first (key ""), with dotted paths as keys."""
        out: dict[str, Module] = {}
        seen: set[int] = set()

        def visit(module: Module, path: str) -> None:
            if id(module) in seen:
                return
            seen.add(id(module))
            out[path] = module
            for name, child in module.named_children().items():
                visit(child, f"{path}.{name}" if path else name)

        visit(self, prefix)
        return out

    def modules(self) -> list[Module]:
        return list(self.named_modules().values())

    def named_parameters(self, prefix: str = "", recurse: bool = True) -> dict[str, Parameter]:
        """Parameters with PyTorch's dotted keys ("fc1.weight", "0.bias"); shared ones once."""
        out: dict[str, Parameter] = {}
        seen: set[int] = set()
        modules = self.named_modules(prefix) if recurse else {prefix: self}
        for path, module in modules.items():
            for name, value in module._items():
                if isinstance(value, Parameter) and id(value) not in seen:
                    seen.add(id(value))
                    out[f"{path}.{name}" if path else name] = value
        return out

    def parameters(self, recurse: bool = True) -> list[Parameter]:
        return list(self.named_parameters(recurse=recurse).values())

    def named_buffers(self, prefix: str = "", recurse: bool = True) -> dict[str, jax.Array]:
        out: dict[str, jax.Array] = {}
        modules = self.named_modules(prefix) if recurse else {prefix: self}
        for path, module in modules.items():
            for name in module.__dict__.get("_buffer_names", ()):
                value = module.__dict__.get(name)
                if value is not None:
                    out[f"{path}.{name}" if path else name] = value
        return out

    def buffers(self, recurse: bool = True) -> list[jax.Array]:
        return list(self.named_buffers(recurse=recurse).values())

    def num_parameters(self) -> int:
        """Number of elements in the parameters that require grad."""
        return sum(int(p.data.size) for p in self.parameters() if p.requires_grad)

    # ------------------------------------------------------------------ modes and grads
    def set_training(self, training: bool) -> None:
        """Set the mode of this module and (by default) of all its children."""
        self.training = bool(training)
        for child in self.children():
            child.set_training(training)

    def train(self, mode: bool = True) -> Module:
        self.set_training(mode)
        return self

    def eval(self) -> Module:
        self.set_training(False)
        return self

    def is_training(self) -> bool:
        return self.training

    def zero_grad(self, set_to_none: bool = True) -> None:
        for p in self.parameters():
            if set_to_none:  # write without reading: axon.jit then needs no incoming .grad
                p.grad = None
            elif p.grad is not None:
                p.grad = jnp.zeros_like(p.grad)

    def requires_grad_(self, requires_grad: bool = True) -> Module:
        for p in self.parameters():
            p.requires_grad_(requires_grad)
        return self

    # ------------------------------------------------------------------ calling
    def forward(self, *inputs, **kwargs):
        raise NotImplementedError(
            f"{_errors.describe(self)}: Module subclasses must implement forward(...)."
        )

    def __call__(self, *inputs, **kwargs):
        hooks = self.__dict__.get("_forward_hooks")
        out = self.forward(*inputs, **kwargs)
        if hooks:
            for hook in list(hooks.values()):
                result = hook(self, inputs, out)
                if result is not None:
                    out = result
        return out

    def register_forward_hook(self, hook: Callable) -> HookHandle:
        """Call `hook(module, inputs, output)` after every forward; a non-None result replaces
        the output. Returns a handle whose `remove()` unregisters it."""
        hooks = self.__dict__.get("_forward_hooks")
        if hooks is None:
            hooks = {}
            object.__setattr__(self, "_forward_hooks", hooks)
        handle = HookHandle(hooks)
        hooks[handle.id] = hook
        return handle

    # ------------------------------------------------------------------ state dict
    def state_dict(self, prefix: str = "", keep_vars: bool = False) -> dict[str, Any]:
        """Parameters and persistent buffers as arrays, with PyTorch's keys, order and layouts.

        As in PyTorch, each module lists its own parameters, then its persistent buffers, then its
        children's entries; a sub-module held under two names appears under both.
        """
        return {
            key: (value if keep_vars else value.data) if isinstance(value, Parameter) else value
            for key, (_, _, value) in self._state_entries(prefix).items()
        }

    def load_state_dict(self, state_dict, strict: bool = True) -> IncompatibleKeys:
        """Copy arrays from `state_dict` (axon or PyTorch) into parameters and buffers.

        Every missing, unexpected and mis-shaped key is reported in one error, and on any error
        nothing is changed. With `strict=False`, missing and unexpected keys are returned instead.
        """
        targets = self._state_targets()
        incoming = {k: as_array(v) for k, v in dict(state_dict).items()}
        missing = [k for k in targets if k not in incoming]
        unexpected = [k for k in incoming if k not in targets]
        mis_shaped = [
            f"{k}: expected {_errors.shape_str(targets[k][2].shape)}, "
            f"got {_errors.shape_str(incoming[k].shape)}"
            for k in targets
            if k in incoming and tuple(incoming[k].shape) != tuple(targets[k][2].shape)
        ]
        problems = []
        if strict and missing:
            problems.append("missing keys: " + ", ".join(missing))
        if strict and unexpected:
            problems.append("unexpected keys: " + ", ".join(unexpected))
        if mis_shaped:
            problems.append("shape mismatches: " + "; ".join(mis_shaped))
        if problems:
            raise ValueError(
                f"{_errors.describe(self)}: load_state_dict failed and changed nothing.\n  "
                + "\n  ".join(problems)
            )
        for key, (module, name, current) in targets.items():
            if key not in incoming:
                continue
            value = jnp.asarray(incoming[key], dtype=current.dtype)
            held = module.__dict__[name]
            if isinstance(held, Parameter):
                held.data = value
            else:
                object.__setattr__(module, name, value)
        return IncompatibleKeys(missing, unexpected)

    def _state_entries(self, prefix: str = "") -> dict[str, tuple[Module, str, Any]]:
        """key -> (owning module, attribute name, Parameter or buffer), in state-dict order."""
        out: dict[str, tuple[Module, str, Any]] = {}

        def visit(module: Module, path: str) -> None:
            persistent = module.__dict__.get("_buffer_names", {})
            items = list(module._items())
            for name, value in items:
                if isinstance(value, Parameter):
                    out[f"{path}{name}"] = (module, name, value)
            for name, value in items:
                if persistent.get(name) and value is not None and not isinstance(value, Parameter):
                    out[f"{path}{name}"] = (module, name, value)
            for name, child in module._child_items():
                visit(child, f"{path}{name}.")

        visit(self, f"{prefix}." if prefix else "")
        return out

    def _state_targets(self) -> dict[str, tuple[Module, str, jax.Array]]:
        return {
            key: (module, name, value.data if isinstance(value, Parameter) else value)
            for key, (module, name, value) in self._state_entries().items()
        }

    # ------------------------------------------------------------------ misc
    def apply(self, fn: Callable[[Module], None]) -> Module:
        """Call `fn` on every sub-module (children first) and then on this module."""
        for child in self.children():
            child.apply(fn)
        fn(self)
        return self

    def to(self, device_or_dtype) -> Module:
        """Move parameters and buffers to a device ("cpu", "gpu", a jax Device) or cast floats."""
        if isinstance(device_or_dtype, (str, jax.Device)):
            device = _device(device_or_dtype)
            convert = lambda a: jax.device_put(a, device)  # noqa: E731
        else:
            dtype = jnp.dtype(device_or_dtype)
            convert = lambda a: a.astype(dtype) if jnp.issubdtype(a.dtype, jnp.inexact) else a  # noqa: E731
        for module in self.modules():
            for name, value in module._items():
                if isinstance(value, Parameter):
                    value.data = convert(value.data)
                    if value.grad is not None:
                        value.grad = convert(value.grad)
                elif name in module.__dict__.get("_buffer_names", {}) and value is not None:
                    object.__setattr__(module, name, convert(value))
        return self

    def extra_repr(self) -> str:
        return ""

    def __repr__(self) -> str:
        # PyTorch's layout: extra_repr lines, then "(name): child" lines, indented by two.
        extra = self.extra_repr()
        extra_lines = extra.split("\n") if extra else []
        child_lines = [f"({name}): " + _indent(repr(child)) for name, child in self._child_items()]
        if len(extra_lines) == 1 and not child_lines:
            return f"{type(self).__name__}({extra_lines[0]})"
        lines = extra_lines + child_lines
        if not lines:
            return f"{type(self).__name__}()"
        return f"{type(self).__name__}(\n  " + "\n  ".join(lines) + "\n)"

    def summary(
        self, input_shape, dtype=jnp.float32, print_fn: Callable[[str], None] | None = print
    ):
        """Print (and return) a table of every sub-module's output shape and parameter count.

        Runs one forward pass on zeros of `input_shape` (with a leading batch dimension included)
        without recording gradients; the global random stream is left untouched.
        """
        from axon import _random
        from axon.autograd.tape import no_grad

        rows: list[tuple[str, str, str, int]] = []

        def record(module, inputs, out):
            own = sum(int(p.data.size) for p in module.parameters(recurse=False))
            rows.append((module._summary_path, type(module).__name__, _shape_of(out), own))

        handles = []
        for path, module in self.named_modules().items():
            if path:
                object.__setattr__(module, "_summary_path", path)
                handles.append(module.register_forward_hook(record))
        rng = _random.get_rng_state()
        try:
            with no_grad():
                out = self(jnp.zeros(tuple(input_shape), dtype))
        finally:
            _random.set_rng_state(rng)
            for handle in handles:
                handle.remove()
            for module in self.modules():
                module.__dict__.pop("_summary_path", None)
        rows.append(("", type(self).__name__ + " (total)", _shape_of(out), self.num_parameters()))
        return _print_summary(rows, self, print_fn)


class HookHandle:
    """Returned by `register_forward_hook`; `remove()` unregisters the hook."""

    _ids = itertools.count()

    def __init__(self, hooks: dict):
        self.hooks, self.id = hooks, next(HookHandle._ids)

    def remove(self) -> None:
        self.hooks.pop(self.id, None)


# ---------------------------------------------------------------------- pytree registration
class _Static:
    """Hashable, comparable wrapper of a module's non-array attributes (the pytree aux data)."""

    __slots__ = ("items", "_hash")

    def __init__(self, items: tuple):
        self.items = items
        self._hash = hash(tuple((k, _freeze(v)) for k, v in items))

    def __hash__(self):
        return self._hash

    def __eq__(self, other):
        if not isinstance(other, _Static) or len(self.items) != len(other.items):
            return False
        for (k1, v1), (k2, v2) in zip(self.items, other.items, strict=True):
            if k1 != k2 or not _same(v1, v2):
                return False
        return True


def _freeze(value):
    if isinstance(value, (list, tuple)):
        return tuple(_freeze(v) for v in value)
    if isinstance(value, dict):
        return tuple((k, _freeze(v)) for k, v in value.items())
    try:
        hash(value)
        return value
    except TypeError:
        return id(value)


def _same(a, b) -> bool:
    if a is b:
        return True
    try:
        return bool(a == b)
    except Exception:
        return False


def _is_dynamic(value) -> bool:
    if isinstance(value, (Variable, Module, jax.Array, np.ndarray)):
        return True
    if isinstance(value, (list, tuple, dict)):
        values = value.values() if isinstance(value, dict) else value
        return any(_is_dynamic(v) for v in values)
    return False


def _flatten_with_keys(module: Module):
    children, names, static = [], [], []
    for name, value in module.__dict__.items():
        if name == "_modules":
            for key, child in value.items():
                children.append((jax.tree_util.GetAttrKey(key), child))
                names.append(("_modules", key))
        elif _is_dynamic(value):
            children.append((jax.tree_util.GetAttrKey(name), value))
            names.append(name)
        else:
            static.append((name, value))
    return children, (type(module), tuple(names), _Static(tuple(static)))


def _flatten(module: Module):
    children, aux = _flatten_with_keys(module)
    return [c for _, c in children], aux


def _unflatten(aux, children):
    cls, names, static = aux
    module = object.__new__(cls)
    state: dict[str, Any] = {}
    for name, value in static.items:
        state[name] = value
    modules = {}
    for name, value in zip(names, children, strict=True):
        if isinstance(name, tuple):
            modules[name[1]] = value
        else:
            state[name] = value
    if modules or any(isinstance(n, tuple) for n in names):
        state["_modules"] = modules
    module.__dict__.update(state)
    return module


def _register_pytree(cls) -> None:
    jax.tree_util.register_pytree_with_keys(cls, _flatten_with_keys, _unflatten, _flatten)


_register_pytree(Module)


# ---------------------------------------------------------------------- helpers
def _child_path(parent: Module, name: str) -> str:
    return f"{parent._axon_path}.{name}" if parent._axon_path else name


def _set_path(module: Module, path: str) -> None:
    object.__setattr__(module, "_axon_path", path)
    for name, child in module.named_children().items():
        _set_path(child, f"{path}.{name}")


def _indent(text: str) -> str:
    """Indent every line after the first by two spaces, leaving blank lines empty (PyTorch)."""
    first, *rest = text.split("\n")
    return "\n".join([first] + [f"  {line}" if line.strip() else "" for line in rest])


def _device(spec):
    if isinstance(spec, jax.Device):
        return spec
    kind = {"cuda": "gpu"}.get(spec.split(":")[0], spec.split(":")[0])
    index = int(spec.split(":")[1]) if ":" in spec else 0
    try:
        return jax.devices(kind)[index]
    except RuntimeError as err:
        raise ValueError(f"axon.nn.Module.to: no '{spec}' device is available ({err}).") from None


def _shape_of(out) -> str:
    if isinstance(out, (Variable, jax.Array, np.ndarray)):
        return str(list(out.shape))
    if isinstance(out, (tuple, list)):
        return ", ".join(_shape_of(o) for o in out)
    return type(out).__name__


def _print_summary(rows, model, print_fn):
    header = ("Layer (type)", "Output shape", "Params")
    table = [
        (f"{path} ({kind})" if path else kind, shape, f"{n:,}") for path, kind, shape, n in rows
    ]
    widths = [max(len(r[i]) for r in [header, *table]) for i in range(3)]
    rule = "-" * (sum(widths) + 6)
    lines = [rule, "  ".join(h.ljust(w) for h, w in zip(header, widths, strict=True)), rule]
    lines += ["  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)) for r in table[:-1]]
    total = model.num_parameters()
    all_params = sum(int(p.data.size) for p in model.parameters())
    lines += [
        rule,
        f"Output: {table[-1][1]}",
        f"Total params: {all_params:,}",
        f"Trainable params: {total:,}",
        f"Non-trainable params: {all_params - total:,}",
        rule,
    ]
    text = "\n".join(lines)
    if print_fn is not None:
        print_fn(text)
    return text
