"""Finding the state reachable from `axon.jit`'s arguments, and swapping it in and out.

A *slot* is one place that holds state: a Parameter's `.data` or `.grad`, a module's buffer (or
any other array attribute), an optimizer's per-parameter state and numeric hyper-parameters,
and the global random stream. Slots are found once per argument structure (a walk over the
modules) and cached; each call then reads them into a flat list, which is all the compiled
function sees.
"""

from __future__ import annotations

import operator

import jax
import numpy as np

from axon import _random
from axon.autograd.variable import Variable
from axon.nn.module import Module, _freeze, _same, _Static
from axon.nn.parameter import Parameter


class Slot:
    """A place holding state: `get()` and `set(value)` without side effects."""

    __slots__ = ("owner", "name", "label")

    def __init__(self, owner, name, label: str):
        self.owner, self.name, self.label = owner, name, label

    def get(self):
        return getattr(self.owner, self.name)

    def set(self, value) -> None:
        object.__setattr__(self.owner, self.name, value)


class ItemSlot(Slot):
    """An entry of a dict (an optimizer param group's hyper-parameter)."""

    __slots__ = ()

    def get(self):
        return self.owner[self.name]

    def set(self, value) -> None:
        self.owner[self.name] = value


class RngSlot(Slot):
    """The global random stream."""

    __slots__ = ()

    def __init__(self):
        super().__init__(None, None, "rng")

    def get(self):
        return _random.get_key_data()

    def set(self, value) -> None:
        _random.set_key_data(value)


def _is_number(value) -> bool:
    return isinstance(value, (int, float, np.number)) and not isinstance(value, bool)


def _is_array(value) -> bool:
    return isinstance(value, (jax.Array, np.ndarray))


def _is_numbers(value) -> bool:
    """A number, a numeric array, or a tuple/list of numbers (Adam's betas)."""
    if _is_number(value) or _is_array(value):
        return True
    return isinstance(value, (tuple, list)) and bool(value) and all(map(_is_number, value))


def _dynamic_keys(opt, group: dict) -> list[str]:
    """The hyper-parameters of a param group that enter a compiled step as inputs: numbers,
    except zeros that the optimizer builds a different chain for (`static_when_zero`)."""
    from axon.optim.optimizer import is_zero

    zeros = getattr(type(opt), "static_when_zero", ())
    return [
        key
        for key, value in group.items()
        if key not in ("params", "param_names")
        and _is_numbers(value)
        and not (key in zeros and is_zero(value))
    ]


def optimizer_statics(opt) -> tuple:
    """Everything about an optimizer's groups that a compiled step bakes in."""
    out = []
    for group in opt.param_groups:
        dynamic = set(_dynamic_keys(opt, group))
        out.append(
            tuple(
                (key, _freeze(value))
                for key, value in group.items()
                if key not in dynamic and key not in ("params", "param_names")
            )
            + (len(group["params"]),)
        )
    return tuple(out)


_EQUAL, _LENGTH, _ZERO, _SAME, _ITEMS = range(5)


def optimizer_checks(opt) -> list[tuple]:
    """Cheap checks that `optimizer_statics(opt)` and the slots `collect` found still hold:
    `(container, key, kind, expected)` rows comparing a fixed setting by value, a list by
    length, an object by identity, a list's items by identity, or a traced hyper-parameter by
    whether it is zero (where the optimizer's chain depends on that). `axon.jit` runs them
    before a call unless no param group changed since they last held (`_structure.settings`)."""
    from axon.optim.optimizer import is_zero

    zeros = getattr(type(opt), "static_when_zero", ())
    groups = opt.param_groups
    checks = [(opt.__dict__, "_param_groups", _SAME, groups), (groups, None, _ITEMS, list(groups))]
    for group in groups:
        dynamic = set(_dynamic_keys(opt, group))
        checks.append((group, None, _LENGTH, len(group)))
        for key, value in group.items():
            if key == "params":  # the very Parameters the slots hold
                checks.append((group, key, _SAME, value))
                checks.append((value, None, _ITEMS, list(value)))
            elif key == "param_names":
                checks.append((group, key, _LENGTH, len(value)))
            elif key not in dynamic:
                checks.append((group, key, _EQUAL, value))
            elif key in zeros:
                checks.append((group, key, _ZERO, is_zero(value)))
    return checks


def checks_hold(checks: list[tuple]) -> bool:
    """Whether every row of `optimizer_checks` still holds. It runs on the calls after a param
    group changed, so the import that only the rare zero rows need is made in their branch."""
    for container, key, kind, expected in checks:
        value = container if key is None else container.get(key)
        if kind == _EQUAL:
            if value is not expected and not _same(value, expected):
                return False
        elif kind == _LENGTH:
            if value is None or len(value) != expected:
                return False
        elif kind == _SAME:
            if value is not expected:
                return False
        elif kind == _ITEMS:
            if len(value) != len(expected) or not all(map(operator.is_, value, expected)):
                return False
        else:
            from axon.optim.optimizer import is_zero  # optim imports nn: not at module level

            if is_zero(value) != expected:
                return False
    return True


def collect(stateful: list) -> tuple[list[Slot], tuple]:
    """Slots of every Module, Optimizer and Variable in `stateful` (shared objects once), and a
    hashable signature of everything static about them (module hyper-parameters and modes,
    optimizer settings, which Parameters require grad)."""
    from axon.optim.optimizer import Optimizer  # optim imports nn; keep this module light

    slots: list[Slot] = []
    signature: list = []
    seen: set[int] = set()

    def add_variable(var: Variable, label: str) -> None:
        if id(var) in seen:
            return
        seen.add(id(var))
        slots.append(Slot(var, "data", f"{label}.data"))
        slots.append(Slot(var, "_grad", f"{label}.grad"))  # not the property: no watch
        signature.append((type(var).__name__, var.requires_grad))

    def add_module(module: Module, label: str) -> None:
        for path, sub in module.named_modules().items():
            if id(sub) in seen:
                continue
            seen.add(id(sub))
            where = f"{label}.{path}" if path else label
            static = []
            for name, value in sub.__dict__.items():
                if isinstance(value, Parameter):
                    add_variable(value, f"{where}.{name}")
                elif _is_array(value):
                    slots.append(Slot(sub, name, f"{where}.{name}"))
                elif not isinstance(value, Module) and name != "_modules":
                    static.append((name, value))
            signature.append((type(sub), _Static(tuple(static))))

    def add_optimizer(opt: Optimizer, label: str) -> None:
        if id(opt) in seen:
            return
        seen.add(id(opt))
        if hasattr(opt, "init_state"):
            opt.init_state()
        for i, group in enumerate(opt.param_groups):
            for j, p in enumerate(group["params"]):
                add_variable(p, f"{label}.param_groups[{i}].params[{j}]")
            for key in _dynamic_keys(opt, group):
                slots.append(ItemSlot(group, key, f"{label}.param_groups[{i}]['{key}']"))
        signature.append((type(opt), optimizer_statics(opt)))
        slots.append(Slot(opt, "_state", f"{label}.state"))

    for index, obj in enumerate(stateful):
        label = f"argument {index} ({type(obj).__name__})"
        if isinstance(obj, Module):
            add_module(obj, label)
        elif isinstance(obj, Variable):
            add_variable(obj, label)
        elif isinstance(obj, Optimizer):
            add_optimizer(obj, label)
    slots.append(RngSlot())
    return slots, tuple(signature)
