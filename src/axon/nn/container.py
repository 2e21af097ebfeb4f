"""Containers: `Sequential`, `ModuleList`, `ModuleDict`. Children live in `self._modules`."""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping

from axon import _errors
from axon.nn.module import Module, _bump_structure_version, _child_path, _indent, _set_path


def _as_module(owner: Module, module) -> Module:
    """Accept a Module or a Module class (the seed's bare `ReLU`), instantiating the class."""
    if isinstance(module, type) and issubclass(module, Module):
        module = module()
    if not isinstance(module, Module):
        raise TypeError(
            f"{_errors.describe(owner)}: expected a Module (or a Module class such as ReLU), "
            f"got {type(module).__name__}."
        )
    return module


class _Container(Module):
    def __init__(self) -> None:
        super().__init__()
        object.__setattr__(self, "_modules", {})

    def __setattr__(self, name: str, value) -> None:
        # As in PyTorch, a Module assigned as an attribute is a child: `setattr(seq, "1", m)`
        # replaces child "1" (which the forward then runs), `seq.extra = m` appends one.
        modules = self.__dict__.get("_modules")
        if modules is not None and (name in modules or isinstance(value, Module)):
            self._put(name, value)
        else:
            super().__setattr__(name, value)

    def _put(self, name: str, module) -> None:
        module = _as_module(self, module)
        if "." in name or name == "":
            raise ValueError(f"{_errors.describe(self)}: invalid child name {name!r}.")
        _set_path(module, _child_path(self, name))
        self._modules[name] = module
        _bump_structure_version()

    def _view(self, items) -> _Container:
        """A new container of the same kind holding `(name, module)` items. The modules keep
        their paths: they still belong to this model (slicing must not rename them)."""
        view = type(self)()
        view._modules.update(items)
        return view

    def _renumber(self, modules: list[Module]) -> None:
        self._modules.clear()
        for i, m in enumerate(modules):
            self._put(str(i), m)

    def __len__(self) -> int:
        return len(self._modules)


class Sequential(_Container):
    """Runs its children in order, each on the previous one's output.

    `Sequential(m1, m2, ...)`, `Sequential(OrderedDict(name=m, ...))`, or the seed's builder
    `Sequential().add(Linear(784, 256)).add(ReLU)` (a Module class is instantiated).

    Example:
        >>> from axon import nn
        >>> model = nn.Sequential().add(nn.Linear(4, 8)).add(nn.ReLU).add(nn.Linear(8, 2))
        >>> model
        Sequential(
          (0): Linear(in_features=4, out_features=8, bias=True)
          (1): ReLU()
          (2): Linear(in_features=8, out_features=2, bias=True)
        )
    """

    def __init__(self, *modules) -> None:
        super().__init__()
        if len(modules) == 1 and isinstance(modules[0], Mapping):
            for name, module in modules[0].items():
                self._put(str(name), module)
        else:
            for module in modules:
                self._put(str(len(self._modules)), module)

    def add(self, module) -> Sequential:
        """Append a module (the seed's builder); returns self for chaining."""
        self._put(str(len(self._modules)), module)
        return self

    def add_named(self, name: str, module) -> Sequential:
        """Append a module under `name`; returns self."""
        self._put(name, module)
        return self

    def append(self, module) -> Sequential:
        return self.add(module)

    def push(self, module) -> None:
        self._put(str(len(self._modules)), module)

    def push_named(self, name: str, module) -> None:
        self._put(name, module)

    def extend(self, modules: Iterable) -> Sequential:
        for module in modules:
            self.add(module)
        return self

    def insert(self, index: int, module) -> Sequential:
        items = list(self._modules.values())
        items.insert(index, _as_module(self, module))
        self._renumber(items)
        return self

    def forward(self, x):
        for module in self._modules.values():
            x = module(x)
        return x

    def __getitem__(self, index):
        items = list(self._modules.items())
        if isinstance(index, slice):
            return self._view(items[index])
        return items[_index(self, index, len(items))][1]

    def __setitem__(self, index: int, module) -> None:
        name = list(self._modules)[_index(self, index, len(self))]
        self._put(name, module)

    def __delitem__(self, index) -> None:
        items = list(self._modules.values())
        del items[index]
        self._renumber(items)

    def __iter__(self) -> Iterator[Module]:
        return iter(self._modules.values())


class ModuleList(_Container):
    """A list of modules, registered so their parameters are found. Calling it chains them
    (the seed's `ModuleList::forward`)."""

    def __init__(self, modules: Iterable | None = None) -> None:
        super().__init__()
        for module in modules or ():
            self.append(module)

    def append(self, module) -> ModuleList:
        self._put(str(len(self._modules)), module)
        return self

    push = append

    def extend(self, modules: Iterable) -> ModuleList:
        for module in modules:
            self.append(module)
        return self

    def insert(self, index: int, module) -> None:
        items = list(self._modules.values())
        items.insert(index, _as_module(self, module))
        self._renumber(items)

    def __getitem__(self, index):
        items = list(self._modules.values())
        if isinstance(index, slice):
            return self._view((str(i), m) for i, m in enumerate(items[index]))
        return items[_index(self, index, len(items))]

    def __setitem__(self, index: int, module) -> None:
        self._put(str(_index(self, index, len(self))), module)

    def __delitem__(self, index) -> None:
        items = list(self._modules.values())
        del items[index]
        self._renumber(items)

    def __iter__(self) -> Iterator[Module]:
        return iter(self._modules.values())

    def __iadd__(self, modules: Iterable) -> ModuleList:
        return self.extend(modules)

    def __repr__(self) -> str:
        """PyTorch's repr: a run of equal children collapses to "(0-2): 3 x Linear(...)"."""
        reprs = [repr(m) for m in self._modules.values()]
        if not reprs:
            return f"{type(self).__name__}()"
        blocks: list[list] = []  # [start, end, repr]
        for i, r in enumerate(reprs):
            if blocks and blocks[-1][2] == r:
                blocks[-1][1] = i
            else:
                blocks.append([i, i, r])
        lines = [
            _indent(f"({a}): {r}" if a == b else f"({a}-{b}): {b - a + 1} x {r}")
            for a, b, r in blocks
        ]
        return f"{type(self).__name__}(\n  " + "\n  ".join(lines) + "\n)"

    def forward(self, x):
        for module in self._modules.values():
            x = module(x)
        return x


class ModuleDict(_Container):
    """A dict of named modules, registered so their parameters are found."""

    def __init__(self, modules: Mapping | Iterable | None = None) -> None:
        super().__init__()
        if modules is not None:
            self.update(modules)

    def __getitem__(self, key: str) -> Module:
        try:
            return self._modules[key]
        except KeyError:
            raise KeyError(f"{_errors.describe(self)}: no module named {key!r}") from None

    def __setitem__(self, key: str, module) -> None:
        self._put(key, module)

    def __delitem__(self, key: str) -> None:
        del self._modules[key]
        _bump_structure_version()

    def __contains__(self, key: str) -> bool:
        return key in self._modules

    def __iter__(self) -> Iterator[str]:
        return iter(self._modules)

    def keys(self):
        return self._modules.keys()

    def values(self):
        return self._modules.values()

    def items(self):
        return self._modules.items()

    def update(self, modules: Mapping | Iterable) -> None:
        pairs = modules.items() if isinstance(modules, Mapping) else modules
        for key, module in pairs:
            self._put(key, module)

    def pop(self, key: str) -> Module:
        module = self[key]
        del self[key]
        return module

    def clear(self) -> None:
        self._modules.clear()
        _bump_structure_version()


def _index(owner: Module, index: int, length: int) -> int:
    if not isinstance(index, int):
        raise TypeError(
            f"{_errors.describe(owner)}: indices must be ints or slices, got {index!r}."
        )
    if not -length <= index < length:
        raise IndexError(
            f"{_errors.describe(owner)}: index {index} is out of range for {length} modules."
        )
    return index % length
