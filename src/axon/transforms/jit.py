"""`axon.jit`: compile a function of modules and optimizers, carrying their state in and out.

    @axon.jit
    def train_step(model, opt, x, y):
        opt.zero_grad()
        loss = loss_fn(model(x), y)
        loss.backward()
        opt.step()
        return loss

On a call, the arguments are split into stateful objects (Modules, Optimizers, Variables), arrays
and Python numbers (dynamic inputs) and everything else (static). The state of the stateful
objects (see `axon.transforms.state`) is read into one flat list and passed, with the dynamic
inputs, to a cached `jax.jit` of a pure function. While tracing, that function swaps tracers into
the very same objects, runs the user's code on them (so the tape, `backward()` and `opt.step()`
trace into one program), reads the state back out, and restores the objects. After the call the
new state is written back. Nothing blocks on the device.

The flattening is cached on the identity of the stateful arguments and the global structure
version (`axon._structure`), so a steady-state call costs a dict lookup and one pass over the
flat state list, whatever the model's depth.
"""

from __future__ import annotations

import functools
import operator
import sys
from collections import OrderedDict
from collections.abc import Callable, Sequence
from itertools import repeat

import jax
import numpy as np

from axon import _random, _structure
from axon._errors import describe
from axon.autograd import variable
from axon.autograd.variable import (
    GradPack,
    Held,
    HeldTree,
    StateCell,
    Variable,
    detached,
    unpacked,
)
from axon.nn.module import Module
from axon.transforms.state import (
    ItemSlot,
    RngSlot,
    Slot,
    checks_hold,
    collect,
    optimizer_checks,
)

_Tracer = jax.core.Tracer
_CACHE_SIZE = 64
# New .grads of one dtype come back as one flat buffer when they hold at most this many elements
# in all: per result the CPU runtime spends more than copying a few thousand numbers costs.
_PACK_LIMIT = 16384


_STATEFUL: tuple[type, ...] = ()


def _is_stateful(x) -> bool:
    global _STATEFUL
    if not _STATEFUL:
        from axon.optim.optimizer import Optimizer  # axon.optim imports this package

        _STATEFUL = (Module, Variable, Optimizer)
    return isinstance(x, _STATEFUL)


_LEAF = jax.tree_util.tree_structure(0)


def _is_optimizer(x) -> bool:
    return _is_stateful(x) and not isinstance(x, (Module, Variable))


def _is_dynamic(x) -> bool:
    if isinstance(x, (jax.Array, np.ndarray, np.generic)):
        return True
    return isinstance(x, (int, float, complex)) and not isinstance(x, bool)


class _Withheld(Exception):
    """A trace read `.grad`s that were withheld from it; the call is redone with them."""


class _Entry:
    """What one argument structure compiles against: its slots and static description."""

    __slots__ = (
        "slots",
        "static",
        "modules",
        "objects",
        "spec",
        "carried",
        "kept",
        "is_grad",
        "optimizers",
        "opt_checks",
        "treedef",
        "sharing",
        "layout",
        "cell",
        "holds",
        "direct",
        "cell_limits",
        "kept_values",
        "unread",
        "hyper_dicts",
        "hyper_keys",
        "owners",
        "names",
        "last_raw",
        "last_kept",
        "watched",
        "settings",
        "pack_owners",
        "packs",
        "changes",
        "matchers",
    )

    def __init__(self, slots, static, modules, objects, spec):
        self.slots, self.static, self.modules, self.objects = slots, static, modules, objects
        self.spec = spec
        self.is_grad = [type(s) is Slot and s.name == "_grad" for s in slots]
        # carried (donated, always returned): parameters, buffers, optimizer state.
        # kept (not donated, returned only if replaced): .grads, hyper-parameters, the stream.
        pairs = zip(slots, self.is_grad, strict=True)
        kept = [g or isinstance(s, (ItemSlot, RngSlot)) for s, g in pairs]
        self.optimizers = [o for o in objects if _is_optimizer(o)]
        self.opt_checks = [c for o in self.optimizers for c in optimizer_checks(o)]
        # Every change to the optimizers' groups bumps `_structure.settings` (see optim/_groups):
        # while it stays at `settings`, the checks still hold and `last_kept` is current.
        from axon.optim._groups import is_watched  # optim imports nn: not at module level

        self.watched = all(is_watched(o.param_groups) for o in self.optimizers)
        self.settings = None
        self.carried = [i for i, k in enumerate(kept) if not k]
        self.kept = [i for i, k in enumerate(kept) if k]
        # How the carried state was last flattened (set by the first call), and its layout id.
        self.treedef = self.sharing = self.layout = None
        # The StateCell the slots hold handles into since the last call (see `_hold`), and for
        # that call's layout: how each carried slot is held, the slots written directly (module
        # array attributes, as (owners, names, unique indices, values written)) and the
        # reference counts of the cell's values that nothing else holds (see `_copy_held`).
        self.cell = None
        self.holds: dict = {}
        self.direct: tuple | None = None
        self.cell_limits: list | None = None
        self.unread = True  # the step never reads incoming .grads (as far as traces showed)
        # (positions in `kept`, slot indices) of the kept slots read even when .grads are not:
        # param-group hyper-parameters (read as `dict[key]` by one `map`) and the stream, last.
        self.kept_values = [(k, i) for k, i in enumerate(self.kept) if not self.is_grad[i]]
        items = [slots[i] for _, i in self.kept_values[:-1]]
        if not all(type(s) is ItemSlot for s in items) or type(slots[-1]) is not RngSlot:
            raise RuntimeError("axon.jit: expected param-group entries, then the stream")
        self.hyper_dicts = [s.owner for s in items]
        self.hyper_keys = [s.name for s in items]
        # The carried slots are all attributes: read and written by `map` over these two lists,
        # so that a call runs no Python code per slot.
        self.owners = [slots[i].owner for i in self.carried]
        self.names = [slots[i].name for i in self.carried]
        # The raw values (lr, betas, the stream key) the kept inputs of a step that never reads
        # .grads were last made from, and those inputs: unchanged ones are not converted again.
        self.last_raw: list | None = None
        self.last_kept: list | None = None
        self.pack_owners: dict = {}  # layout id -> per packed buffer, the Variables it fills
        self.packs: dict = {}  # layout id -> the GradPacks the last call handed out
        self.changes: int | None = None  # `_structure.changes` when the last call settled
        self.matchers: dict = {}  # argument types -> `_matcher` for the shortest way


class CompiledFunction(functools.partial):
    """The callable `axon.jit` returns: a `functools.partial` of its `_Jit`'s `__call__`, whose
    attributes it shows as its own (`num_compiles` counts traces; each compiles once).

    Why a partial: calling an instance of a class with a Python `__call__` builds the argument
    tuple twice and goes through two more C layers; a partial passes the arguments straight on.
    Inside a training loop on the 2-core CPU that is about 3 µs a step (docs/performance.md).
    """

    def __new__(cls, fn: Callable, static_argnums=(), static_argnames=(), donate=True):
        self = super().__new__(cls, _Jit(fn, static_argnums, static_argnames, donate).__call__)
        functools.update_wrapper(self, fn)
        return self

    def __getattr__(self, name: str):
        return getattr(self.func.__self__, name)

    def __setattr__(self, name: str, value) -> None:
        if name.startswith("__"):  # what `functools.update_wrapper` sets: `__name__`, `__doc__`
            super().__setattr__(name, value)
        else:
            setattr(self.func.__self__, name, value)

    def __reduce__(self):
        """Copies and pickles are the same `axon.jit` of the same function, compiled afresh."""
        jit = self.func.__self__
        options = (sorted(jit.static_argnums), sorted(jit.static_argnames), jit.donate)
        return (CompiledFunction, (jit.fn, *options))

    def __repr__(self) -> str:
        return repr(self.func.__self__)


class _Jit:
    """All that one `axon.jit` keeps: its entries, layouts and compiled programs."""

    def __init__(
        self,
        fn: Callable,
        static_argnums: Sequence[int],
        static_argnames: Sequence[str],
        donate: bool,
    ):
        self.fn = fn
        self.static_argnums = frozenset(static_argnums)
        self.static_argnames = frozenset(static_argnames)
        self.donate = donate
        self.num_compiles = 0
        self._entries: OrderedDict = OrderedDict()
        self._tokens: dict = {}
        self._grads_unread: dict[int, bool] = {}  # token -> incoming .grads are never read
        self._layouts: dict = {}  # (token, treedef, sharing pattern) -> what jax compiles on
        self._out_layouts: dict = {}  # that -> (treedef, _Sharing, same tree as in) of new state
        self._packs: dict = {}  # that -> per packed buffer, (its .grad slots, GradPack layout)
        self._stepped: dict = {}  # that -> per optimizer, which parameters its trace stepped
        self._results: dict = {}  # that -> (treedef, which leaves were Variables, just one)
        # argument types -> how they split, for positional-only calls: (spec, objects' picker,
        # arrays' picker, objects' positions)
        self._kinds: dict = {}
        self._specs: dict = {}  # spec -> itself: equal specs are one object
        self._current = None
        # (entry, `_matcher` of the arguments, the arguments with None for each array,
        # structure version) of the last call, when the next one may take a short way.
        self._steady: tuple | None = None
        self._jitted = jax.jit(
            self._pure, static_argnums=(0,), donate_argnums=(1,) if donate else ()
        )

    # ------------------------------------------------------------------ call
    def __call__(self, *args, **kwargs):
        steady = self._steady
        if steady is not None and not kwargs:
            entry, match, _, version = steady
            dynamic = match(args)  # the array arguments, if the objects are the last call's
            if dynamic is not None and entry.changes == _structure.changes:
                # Nothing happened since the last call settled (see `_settle`): the shortest
                # way. All of it runs at every training step, much of it before the program
                # starts, with the caches cold from the last one, so it stays this short.
                static = entry.layout
                try:
                    new_unique, new_kept, packs, results = self._jitted(
                        static, entry.cell.values, entry.last_kept, dynamic
                    )
                except _Withheld:
                    self._grads_unread[entry.static] = False
                    return self._call(args, kwargs)
                if new_kept or entry.changes != _structure.changes:  # (a trace spoils the cell)
                    return self._finish(entry, static, new_unique, new_kept, packs, results, True)
                entry.cell.values = new_unique
                if packs:
                    for pack, buffer in zip(entry.packs[static], packs, strict=True):
                        pack.buffer, pack.arrays = buffer, None  # `GradPack.refill`, inlined
                tree, marks, one_variable = self._results[static]
                if one_variable:
                    return detached(results[0])
                return _variables_in(tree, marks, results)
            cell = entry.cell
            if (
                dynamic is not None
                and not cell.dirty
                and version == _structure.version
                and (entry.direct is None or _direct_hold(entry.direct))
                and (
                    entry.settings == _structure.settings  # no param group changed since
                    or not entry.opt_checks
                    or checks_hold(entry.opt_checks)
                )
            ):
                # Something happened, but the slots still hold the last call's handles: the
                # cell's values are the state once those lent out are copied, and nothing else
                # needs to be worked out.
                unique = cell.values
                if (
                    self.donate
                    and (cell.lent or entry.direct is not None)  # else nothing else has them
                    and list(map(_getrefcount, unique)) != entry.cell_limits
                ):
                    _copy_held(unique, None, entry.cell_limits)
                kept = _kept_inputs(entry)
                return self._run(entry, args, unique, kept, dynamic, args, kwargs, True)
        return self._call(args, kwargs)

    def _call(self, args, kwargs):
        """A call that finds its entry and reads its state the long way."""
        self._steady = None
        leaves, spec, stateful, dynamic = self._split(args, kwargs)
        # (specs are interned, and each entry holds its own: an id names one spec while cached)
        key = (id(spec), tuple(map(id, stateful)), _structure.version)
        entry = self._entries.get(key)
        if entry is not None and entry.opt_checks and not checks_hold(entry.opt_checks):
            entry = None  # a param group's fixed settings changed (say nesterov, or lr 0 -> x)
        if entry is None:
            entry = self._entry(spec, stateful)
            self._entries[key] = entry
            if len(self._entries) > _CACHE_SIZE:
                self._entries.popitem(last=False)
        slots = entry.slots
        # The carried state as one flat list of arrays, each distinct array once: slots that
        # share an array (say the step count of every parameter of an optimizer group) share
        # one input, and get one output back.
        cell = entry.cell
        if cell is not None and not cell.dirty and _direct_hold(entry.direct):
            # The slots still hold the handles the last call left: its results are the state.
            unique, sharing, treedef = cell.values, entry.sharing, entry.treedef
            if self.donate:
                _copy_held(unique, None, entry.cell_limits)
        else:
            # Handles into any cell (this entry's, or another compiled function's that last
            # stepped the same objects) give way to plain values before the slots are read.
            for held in _cells(entry):
                _release(held)
            entry.cell = None
            state, treedef = jax.tree.flatten(list(map(getattr, entry.owners, entry.names)))
            unique, sharing = _unique(state, entry.sharing)
            if self.donate:
                _copy_held(unique, sharing)
        if (
            entry.treedef is None
            or (treedef is not entry.treedef and treedef != entry.treedef)
            or sharing is not entry.sharing
        ):
            pattern = None if sharing is None else sharing.pattern
            layout = (entry.static, treedef, pattern)
            entry.layout = self._layouts.setdefault(layout, len(self._layouts))
            entry.treedef, entry.sharing = treedef, sharing
        # A step that overwrites .grad before reading it gets no incoming gradients at all. Until
        # a trace has shown which kind of step this is, assume that kind; a trace that then
        # reads a withheld gradient is abandoned and redone with the gradients (`_Withheld`).
        entry.unread = self._grads_unread.get(entry.static, True)
        kept = (
            _kept_inputs(entry)
            if entry.unread
            else [
                unpacked(slots[i].get()) if entry.is_grad[i] else _device(slots[i].get())
                for i in entry.kept
            ]
        )
        out = self._run(entry, leaves, unique, kept, dynamic, args, kwargs)
        entry.unread = self._grads_unread.get(entry.static, True)  # (a trace may have told)
        types = tuple(map(type, args))
        kinds = self._kinds.get(types) if not kwargs else None
        if entry.unread and entry.cell is not None and not entry.cell.dirty and kinds:
            # The next call with the same objects can skip all of the above (`__call__`).
            spec, _, _, objects = kinds
            if spec is entry.spec:
                match = entry.matchers.get(types)
                if match is None:
                    match = entry.matchers[types] = _matcher(args, objects)
                # (and what a trace in that call rebuilds the arguments from: see `_pure`)
                leaves = tuple(a if i in objects else None for i, a in enumerate(args))
                self._steady = (entry, match, leaves, _structure.version)
        return out

    def _run(self, entry: _Entry, leaves, unique, kept, dynamic, args, kwargs, steady=False):
        """Call the compiled program and write its results back. `steady`: the call took the
        short way, so the optimizers' `_live` marks are as the last call of the entry left
        them (anything that changes them also marks the cell dirty)."""
        static = entry.layout
        self._current = (entry, leaves, entry.unread)
        try:
            new_unique, new_kept, packs, results = self._jitted(static, unique, kept, dynamic)
        except _Withheld:
            self._grads_unread[entry.static] = False
            self._current = None
            return self._call(args, kwargs)
        finally:
            self._current = None
        return self._finish(entry, static, new_unique, new_kept, packs, results, steady)

    def _finish(self, entry, static, new_unique, new_kept, packs, results, steady):
        """Write a call's results back (see `_run`) and return what the function returned."""
        cell = entry.cell
        if cell is not None and not cell.dirty and static in entry.holds:
            cell.values, cell.lent = new_unique, False  # every handle now reads the new state
            direct = entry.direct
            if direct is not None:
                values = list(map(new_unique.__getitem__, direct[2]))
                list(map(_set, direct[0], direct[1], values))
                entry.direct = (direct[0], direct[1], direct[2], values)
        else:
            self._hold(entry, static, new_unique)
        if new_kept:
            slots = entry.slots
            _orphan([slots[i].owner for i in new_kept if entry.is_grad[i]])
            for i, value in new_kept.items():
                slots[i].set(value)
        if packs:
            live = entry.packs.get(static)
            if live is not None and all(map(_INTACT, live)):
                list(map(GradPack.refill, live, packs))  # the Variables hold these packs still
            else:
                _write_packs(entry, static, packs, self._packs[static])
        # Parameters that stepped now hold state PyTorch lists in state_dict(); a trace marks
        # them on the optimizer it ran with, so replay that on whichever optimizer this call got.
        for k, stepped in () if steady else self._stepped[static]:
            opt = entry.optimizers[k]
            if not all(opt._live):
                opt._live = [a or b for a, b in zip(opt._live, stepped, strict=True)]
        if entry.changes != _structure.changes:  # this call, or something before it, did
            _settle(entry)
        tree, marks, one_variable = self._results[static]
        if one_variable:  # the usual result: the loss
            return detached(results[0])
        return _variables_in(tree, marks, results)

    def _hold(self, entry: _Entry, static: int, new_unique: list) -> None:
        """Write a call's new carried state into the slots as handles into a fresh StateCell:
        each Parameter's `.data` a `Held`, each optimizer's state a `HeldTree`, module array
        attributes their values. Later calls then swap `cell.values` instead (see `__call__`),
        as long as nothing else writes a slot (which sets `cell.dirty`)."""
        holds = entry.holds.get(static)
        if holds is None:
            holds = entry.holds[static] = _holds(entry, *self._out_layouts[static])
        kinds, direct_indices, holdable = holds
        holders = [o for o, (k, _) in zip(entry.owners, kinds, strict=True) if k in _HANDLES]
        cell = StateCell(new_unique, holders)
        for owner, name, (kind, where) in zip(entry.owners, entry.names, kinds, strict=True):
            if kind is Held:
                owner.data = Held(cell, where)  # the setter marks any other cell dirty
            elif kind is HeldTree:
                owner._state = HeldTree(cell, *where)
            elif kind is _DIRECT:
                _set(owner, name, new_unique[where])
            else:  # not a single array: written whole, and read again by the next call
                _set(owner, name, kind.unflatten([new_unique[j] for j in where]))
        entry.cell = cell
        cell.dirty = not holdable
        if direct_indices:
            owners = [o for o, (k, _) in zip(entry.owners, kinds, strict=True) if k is _DIRECT]
            names = [n for n, (k, _) in zip(entry.names, kinds, strict=True) if k is _DIRECT]
            values = [new_unique[j] for j in direct_indices]
            entry.direct = (owners, names, direct_indices, values)
        else:
            entry.direct = None
        # A value written directly is also held by its module and by `entry.direct`.
        counts = [0] * len(new_unique)
        for j in direct_indices:
            counts[j] += 2
        entry.cell_limits = [_BASE_CELL + c for c in counts]

    def _split(self, args, kwargs):
        """Leaves of the arguments, a hashable spec of their structure and static values, the
        stateful objects among them and the dynamic leaves (arrays and Python numbers)."""
        if not kwargs:  # the usual call: positional Modules, Optimizers and arrays
            kinds = self._kinds.get(tuple(map(type, args)))
            if kinds is not None:
                spec, objects, arrays, _ = kinds
                return args, spec, objects(args), list(arrays(args))
        leaves, spec, stateful = [], [], []
        named = [(i, a, i in self.static_argnums) for i, a in enumerate(args)]
        named += [(k, v, k in self.static_argnames) for k, v in kwargs.items()]
        plain = not kwargs  # every argument a stateful object or an array
        for name, value, static in named:
            if static:
                plain = False
                spec.append((name, "static", _hashable(value, name)))
                continue
            if _is_stateful(value) or isinstance(value, jax.Array):  # the common cases, quickly
                stateful_leaf = not isinstance(value, jax.Array)
                if stateful_leaf:
                    stateful.append(value)
                leaves.append(value)
                spec.append((name, _LEAF, ("object" if stateful_leaf else "dynamic",)))
                continue
            plain = False
            sub, treedef = jax.tree_util.tree_flatten(value, is_leaf=_is_stateful)
            kinds = []
            for leaf in sub:
                if _is_stateful(leaf):
                    stateful.append(leaf)
                    kinds.append("object")
                elif _is_dynamic(leaf):
                    kinds.append("dynamic")
                else:
                    kinds.append(("static", _hashable(leaf, name)))
            leaves.extend(sub)
            spec.append((name, treedef, tuple(kinds)))
        spec = tuple(spec)
        if len(self._specs) >= 4 * _CACHE_SIZE:
            self._specs.clear()
        spec = self._specs.setdefault(spec, spec)
        if plain and len(self._kinds) < _CACHE_SIZE:
            # The split depends only on the argument types here: remember it by them.
            objects = [i for i, row in enumerate(spec) if row[2] == ("object",)]
            arrays = [i for i, row in enumerate(spec) if row[2] == ("dynamic",)]
            pickers = (_picker(objects), _picker(arrays))
            self._kinds[tuple(map(type, args))] = (spec, *pickers, frozenset(objects))
        return leaves, spec, stateful, [leaf for leaf in leaves if _is_dynamic(leaf)]

    def _entry(self, spec, stateful) -> _Entry:
        slots, signature = collect(stateful)
        modules = list(
            {id(s.owner): s.owner for s in slots if isinstance(s.owner, Module)}.values()
        )
        for obj in stateful:
            if isinstance(obj, Module):
                for m in obj.modules():
                    if all(m is not other for other in modules):
                        modules.append(m)
        # Entries with equal static descriptions share compiled programs; jax keys them by a
        # small int, so a call never compares the (deep) description itself.
        description = (spec, signature, tuple(type(s).__name__ for s in slots))
        token = self._tokens.setdefault(description, len(self._tokens))
        return _Entry(slots, token, modules, list(stateful), spec)

    # ------------------------------------------------------------------ trace
    def _pure(self, static, unique, kept, dynamic):
        # What the call being traced rebuilds its arguments from; the shortest way (see
        # `__call__`) leaves that to the steady description, to save a step before each call.
        current = self._current
        if current is None:
            entry, _, leaves, _ = self._steady
            current = (entry, leaves, True)
        entry, leaves, withheld = current
        slots = entry.slots
        flat = unique if entry.sharing is None else [unique[j] for j in entry.sharing.pattern]
        carried = entry.treedef.unflatten(flat)
        state = [None] * len(slots)
        for i, value in zip(entry.carried, carried, strict=True):
            state[i] = value
        for i, value in zip(entry.kept, kept, strict=True):
            state[i] = value
        saved = [slot.get() for slot in slots]
        before = [set(m.__dict__) for m in entry.modules]
        live_before = [opt._live for opt in entry.optimizers]
        for opt in entry.optimizers:  # so the trace shows exactly which parameters step
            opt._live = [False] * len(opt._live)
        for slot, value in zip(slots, state, strict=True):
            slot.set(value)
        outer_watch, variable.GRAD_WATCH = variable.GRAD_WATCH, variable.GradWatch()
        try:
            args, kwargs = self._rebuild(entry.spec, leaves, dynamic)
            try:
                out = self.fn(*args, **kwargs)
            except (
                jax.errors.ConcretizationTypeError,
                jax.errors.TracerBoolConversionError,
            ) as err:
                raise TypeError(
                    f"axon.jit({_name(self.fn)}): Python control flow (if/while/bool/float) on a "
                    f"value that is traced inside the compiled function. Arrays, Variables and "
                    f"Python numbers passed as arguments are traced; pass a value that decides a "
                    f"branch with static_argnums=/static_argnames=, or use jax.numpy.where / "
                    f"jax.lax.cond. Original error: {str(err).splitlines()[0]}"
                ) from err
            self._check_mutations(entry, before, slots)
            watch = variable.GRAD_WATCH
            grads = [i for i in entry.kept if entry.is_grad[i]]
            read = any(id(slots[i].owner) in watch.read_first for i in grads)
            if read and withheld and any(saved[i] is not None for i in grads):
                raise _Withheld  # the step reads gradients it was not given: trace again
            self._grads_unread[entry.static] = not read
            self._stepped[static] = [
                (k, list(opt._live)) for k, opt in enumerate(entry.optimizers) if any(opt._live)
            ]
            # The carried state comes back first, flat and in the order it went in, so that XLA
            # reuses each donated input buffer for its own new value (another order costs copies).
            new_state, out_treedef = jax.tree.flatten([slots[i].get() for i in entry.carried])
            new_unique, out_sharing = _unique(new_state)
            # (a layout id fixes the input, so whether the output is laid out alike is fixed)
            in_pattern = None if entry.sharing is None else entry.sharing.pattern
            out_pattern = None if out_sharing is None else out_sharing.pattern
            same = out_treedef == entry.treedef and out_pattern == in_pattern
            self._out_layouts[static] = (out_treedef, out_sharing, same)
            new_kept = {}
            for i in entry.kept:
                value = slots[i].get()
                if entry.is_grad[i]:
                    if id(slots[i].owner) in watch.written:
                        new_kept[i] = value
                elif value is not state[i]:  # e.g. an unchanged lr keeps its Python value
                    new_kept[i] = value
            packs, self._packs[static] = _pack_grads(new_kept, entry.is_grad)
            self.num_compiles += 1
            # The result crosses as arrays; `_run` makes Variables of those that were.
            leaves, tree = jax.tree.flatten(out, is_leaf=_is_variable)
            marks = [isinstance(leaf, Variable) for leaf in leaves]
            self._results[static] = (tree, marks, marks == [True] and tree.num_nodes == 1)
            leaves = [leaf.data if m else leaf for leaf, m in zip(leaves, marks, strict=True)]
            return new_unique, new_kept, packs, leaves
        finally:
            variable.GRAD_WATCH = outer_watch
            for opt, live in zip(entry.optimizers, live_before, strict=True):
                opt._live = live
            for slot, value in zip(slots, saved, strict=True):
                slot.set(value)
            for module, keys in zip(entry.modules, before, strict=True):
                for name in set(module.__dict__) - keys:
                    object.__delattr__(module, name)

    def _rebuild(self, spec, leaves, dynamic):
        """The arguments of the call `spec` describes, from its `leaves` (only those that are
        not dynamic are read) and the `dynamic` ones (tracers, in a trace)."""
        it = iter(dynamic)
        args, kwargs, pos = [], {}, 0
        for name, treedef, kinds in spec:
            if treedef == "static":
                value = kinds
            else:
                sub = [
                    next(it) if kind == "dynamic" else leaves[pos + k]
                    for k, kind in enumerate(kinds)
                ]
                value = jax.tree_util.tree_unflatten(treedef, sub)
                pos += len(kinds)
            if isinstance(name, int):
                args.append(value)
            else:
                kwargs[name] = value
        return args, kwargs

    def _check_mutations(self, entry, before, slots) -> None:
        held = {(id(s.owner), s.name) for s in slots if type(s) is Slot}
        for module, keys in zip(entry.modules, before, strict=True):
            added = set(module.__dict__) - keys
            if added:
                name = sorted(added)[0]
                raise TypeError(
                    f"axon.jit({_name(self.fn)}): {describe(module)} gained a new attribute "
                    f"'{name}' inside the compiled function. State must exist before the call "
                    f"(create it in __init__, e.g. with register_buffer), so it can be carried in "
                    f"and out."
                )
            for name, value in module.__dict__.items():
                if isinstance(value, _Tracer) and (id(module), name) not in held:
                    raise TypeError(
                        f"axon.jit({_name(self.fn)}): {describe(module)}.{name} was set to a "
                        f"traced value, but it is not state that axon.jit carries (only "
                        f"Parameters, buffers and array attributes present before the call are). "
                        f"Register it with register_buffer in __init__."
                    )

    def __repr__(self) -> str:
        return f"axon.jit({_name(self.fn)})"


def jit(
    fn: Callable | None = None,
    *,
    static_argnums: int | Sequence[int] = (),
    static_argnames: str | Sequence[str] = (),
    donate: bool = True,
):
    """Compile `fn`, carrying the state of its Module, Optimizer and Variable arguments.

    Args:
        fn: a function of Modules, Optimizers, Variables, arrays and Python values (in any
            nesting of lists, tuples and dicts).
        static_argnums / static_argnames: arguments whose values are compiled in (a new value
            recompiles); other Python numbers are traced.
        donate: let XLA reuse the input buffers of the carried state for its new values. An
            array that something else still references (say a state dict you kept) is copied
            first, so nothing you hold is invalidated.

    Returns:
        A callable with the same signature; its `num_compiles` counts compilations. Variables in
        the result come back as Variables that do not require grad.

    Example:
        >>> import axon
        >>> from axon import nn
        >>> model = nn.Linear(3, 2)
        >>> forward = axon.jit(lambda m, x: m(x))
        >>> forward(model, axon.Tensor.ones([4, 3])).shape
        (4, 2)
    """
    if isinstance(static_argnums, int):
        static_argnums = (static_argnums,)
    if isinstance(static_argnames, str):
        static_argnames = (static_argnames,)
    if fn is None:
        return functools.partial(
            jit, static_argnums=static_argnums, static_argnames=static_argnames, donate=donate
        )
    return CompiledFunction(fn, static_argnums, static_argnames, donate)


# ---------------------------------------------------------------------- helpers
_set = object.__setattr__  # writes a slot without Module.__setattr__'s registration logic


_DIRECT = object()  # how `_hold` writes a module's array attribute: its value itself
_HANDLES = (Held, HeldTree)


def _holds(entry: _Entry, out_treedef, out_sharing, same_tree: bool) -> tuple:
    """How `_hold` writes each carried slot of a call with this output layout: `(kinds,
    direct indices, holdable)`. A kind is `(Held, unique index)` for a Variable's data,
    `(HeldTree, (treedef, unique indices))` for an optimizer's state, `(_DIRECT, unique index)`
    for another single array and `(treedef, unique indices)` for anything else. `holdable`:
    the next call may take its state from the cell, since it is laid out as this call's input
    was (same tree, same sharing) and every slot is held by a handle or written directly."""
    pattern = range(out_treedef.num_leaves) if out_sharing is None else out_sharing.pattern
    kinds, direct, start, holdable = [], [], 0, same_tree
    for owner, name, child in zip(entry.owners, entry.names, out_treedef.children(), strict=True):
        indices = tuple(pattern[start : start + child.num_leaves])
        start += child.num_leaves
        leaf = child.num_nodes == 1 and child.num_leaves == 1
        if leaf and isinstance(owner, Variable) and name == "data":
            kinds.append((Held, indices[0]))
        elif name == "_state" and _is_optimizer(owner):
            kinds.append((HeldTree, (child, indices)))
        elif leaf:
            kinds.append((_DIRECT, indices[0]))
            direct.append(indices[0])
        else:
            kinds.append((child, indices))
            holdable = False
    return kinds, direct, holdable


def _matcher(args: tuple, objects: Sequence[int]) -> Callable[[tuple], list | None]:
    """A test of a call's positional arguments against `args`: it returns the arrays among
    them, as a list, if those at the positions `objects` are the very objects of `args` and the
    others have the same types; else None. It is compiled from source, as `dataclasses` builds
    its methods, because it runs at every step before the program starts: written as one
    `and` of `is` tests it takes a fraction of the time a loop or a `map` takes there (see
    docs/performance.md). The source holds nothing but indices and names made here."""
    names: dict = {}
    tests, arrays = [f"len(args) == {len(args)}"], []
    for i, value in enumerate(args):
        if i in objects:
            names[f"object{i}"] = value  # Modules, Optimizers, Variables: the very ones
            tests.append(f"args[{i}] is object{i}")
        else:
            names[f"type{i}"] = type(value)
            tests.append(f"type(args[{i}]) is type{i}")
            arrays.append(f"args[{i}]")
    source = (
        f"def match(args):\n    if {' and '.join(tests)}:\n        return [{', '.join(arrays)}]\n"
    )
    exec(source, names)  # noqa: S102 - the source is built above from indices alone
    return names["match"]


def _direct_hold(direct: tuple | None) -> bool:
    """Whether the slots `_hold` wrote directly still hold the very values it wrote."""
    return direct is None or all(map(operator.is_, map(getattr, direct[0], direct[1]), direct[3]))


def _release(cell: StateCell) -> None:
    """Put plain values back in every slot that still holds a handle into `cell`, and empty
    the cell: afterwards only the slots hold those arrays, which `_copy_held` counts on."""
    values = cell.values
    if values is None:
        return
    for owner in cell.holders:
        if isinstance(owner, Variable):
            held = owner._data
            if type(held) is Held and held.cell is cell:
                owner._data = values[held.index]
        else:
            held = owner.__dict__.get("_state_value")
            if type(held) is HeldTree and held.cell is cell:
                owner._state_value = held.take()
    cell.values, cell.holders = None, []
    cell.spoil()


def _cells(entry: _Entry) -> set:
    """The StateCells the entry's slots hold handles into (its own and other entries')."""
    cells = set()
    for owner, name in zip(entry.owners, entry.names, strict=True):
        held = owner.__dict__.get("_state_value") if name == "_state" else None
        if name == "data" and isinstance(owner, Variable):
            held = owner._data
        if type(held) is Held or type(held) is HeldTree:
            cells.add(held.cell)
    return cells


def _settle(entry: _Entry) -> None:
    """After a call: may the next call of the same step, with the same objects, take the
    shortest way into the program (`__call__`), which checks nothing but its arguments? Only if
    the slots hold the cell's handles, with no value lent out (see `StateCell`) and no module
    attribute written directly; the param groups' checks hold as of now; and the kept inputs
    are current. Then `entry.changes` is `_structure.changes`, which anything that could undo
    one of these bumps; otherwise None, and the next call takes the way that checks."""
    cell = entry.cell
    if (
        entry.unread
        and cell is not None
        and not cell.dirty
        and not cell.lent
        and entry.direct is None
        and entry.settings == _structure.settings
    ):
        _kept_inputs(entry)  # (the call may have moved the random stream on)
        entry.changes = _structure.changes
    else:
        entry.changes = None


def _kept_inputs(entry: _Entry) -> list:
    """The kept inputs of a step that never reads `.grad`: None for each `.grad`, device values
    for the rest (lr, betas, the stream key). Called once the optimizer checks hold. They are
    converted again only when a raw value is not the very object the last call converted, and
    not even read while no param group changed since (`_structure.settings`)."""
    key = _random.get_key_data()
    if entry.settings == _structure.settings:
        if key is not entry.last_raw[-1]:  # only the stream moved on (the step drew from it)
            entry.last_raw[-1] = entry.last_kept[entry.kept_values[-1][0]] = key
        return entry.last_kept
    raw = list(map(operator.getitem, entry.hyper_dicts, entry.hyper_keys))
    raw.append(key)
    if entry.last_raw is None or not all(map(operator.is_, raw, entry.last_raw)):
        kept = [None] * len(entry.kept)
        for (k, _), value in zip(entry.kept_values, raw, strict=True):
            kept[k] = _device(value)
        entry.last_raw, entry.last_kept = raw, kept
    if entry.watched:
        entry.settings = _structure.settings
    return entry.last_kept


def _write_packs(entry: _Entry, static: int, packs: list, layouts: list) -> None:
    """Give each Variable whose new `.grad` came back in a packed buffer its `(pack, index)`."""
    owners = entry.pack_owners.get(static)
    if owners is None:
        owners = [[entry.slots[i].owner for i in indices] for indices, _ in layouts]
        entry.pack_owners[static] = owners
    live = []
    for buffer, (_, layout), variables in zip(packs, layouts, owners, strict=True):
        _orphan(variables)
        pack = GradPack(buffer, layout)
        list(map(_set, variables, repeat("_grad"), zip(repeat(pack), range(len(variables)))))
        live.append(pack)
    entry.packs[static] = live


_INTACT = operator.attrgetter("intact")


def _orphan(variables) -> None:
    """Before `variables` get new `.grad`s behind the setter's back: the packs they leave are
    no longer intact."""
    for v in variables:
        if type(v._grad) is tuple:
            v._grad[0].intact = False


def _pack_grads(new_kept: dict, is_grad: list) -> tuple[list, list]:
    """Move small new .grads out of `new_kept` (in place) into one flat buffer per dtype:
    `(buffers, [(slot indices, GradPack layout)])`."""
    by_dtype: dict = {}
    for i, value in new_kept.items():
        if is_grad[i] and isinstance(value, jax.Array):
            by_dtype.setdefault(value.dtype, []).append(i)
    buffers, layouts = [], []
    for indices in by_dtype.values():
        sizes = [new_kept[i].size for i in indices]
        if len(indices) < 2 or sum(sizes) > _PACK_LIMIT:
            continue
        layout, start = [], 0
        for i, size in zip(indices, sizes, strict=True):
            layout.append((start, size, new_kept[i].shape))
            start += size
        buffers.append(jax.numpy.concatenate([new_kept.pop(i).ravel() for i in indices]))
        layouts.append((tuple(indices), tuple(layout)))
    return buffers, layouts


def _detach(out):
    """Variables in `out` become plain (no-grad) Variables of their data."""
    return jax.tree.map(
        lambda v: Variable(v.data) if isinstance(v, Variable) else v, out, is_leaf=_is_variable
    )


def _variables_in(tree, marks: list, results: list):
    """The function's result: `results` (arrays) in `tree`, those that were Variables in the
    traced function (`marks`) made Variables that need no grad again."""
    return tree.unflatten([detached(r) if m else r for r, m in zip(results, marks, strict=True)])


def _is_variable(x) -> bool:
    return isinstance(x, Variable)


class _Sharing:
    """Which leaves of a flat list are the same object: `unique` lists the distinct ones in
    first-seen order, `leaves[k] is unique[pattern[k]]`; `counts[j]` is how often `unique[j]`
    occurs and `firsts[j]` where it first does. `take_firsts(leaves)` and `spread(unique)` go
    from one list to the other without a Python loop."""

    __slots__ = (
        "pattern",
        "counts",
        "firsts",
        "representative",
        "take_firsts",
        "spread",
        "limits",
    )

    def __init__(self, pattern: tuple, counts: list, firsts: list):
        self.pattern, self.counts, self.firsts = pattern, counts, firsts
        self.representative = [firsts[j] for j in pattern]
        self.take_firsts, self.spread = _picker(firsts), _picker(pattern)
        self.limits: list | None = None  # see `_limits`

    def holds(self, ids: list) -> bool:
        """Whether `ids` (of a new flat list) share exactly as this pattern says."""
        first = self.representative
        return (
            len(ids) == len(first)
            and [ids[r] for r in first] == ids
            and len(set(ids)) == len(self.firsts)
        )


def _picker(indices: Sequence[int]) -> Callable:
    """`seq -> tuple(seq[i] for i in indices)`, run in C."""
    if len(indices) == 1:
        (index,) = indices
        return lambda seq: (seq[index],)
    return operator.itemgetter(*indices) if indices else lambda seq: ()


def _unique(leaves: list, known: _Sharing | None = None) -> tuple[list, _Sharing | None]:
    """`(unique, sharing)`: the distinct objects of `leaves` (by identity) and how they are
    shared, or `(leaves, None)` when nothing repeats (the usual case for a model alone; an
    optimizer's step counts repeat). `known` is checked first: a steady-state call reuses the
    pattern of the previous one with a few list operations instead of a Python loop."""
    ids = list(map(id, leaves))
    if known is not None and known.holds(ids):
        return list(known.take_firsts(leaves)), known
    if len(set(ids)) == len(ids):
        return leaves, None
    position: dict[int, int] = {}
    pattern, counts, firsts = [], [], []
    for k, key in enumerate(ids):
        j = position.get(key)
        if j is None:
            j = position[key] = len(firsts)
            firsts.append(k)
            counts.append(0)
        counts[j] += 1
        pattern.append(j)
    return [leaves[k] for k in firsts], _Sharing(tuple(pattern), counts, firsts)


def _copy_held(unique: list, sharing: _Sharing | None, limits: list | None = None) -> None:
    """In place: replace each array that something besides its slots holds (a state dict you
    kept, another model, a saved graph) by a copy, since donation deletes the buffer under
    every holder. The usual call, where nothing else holds any, is one list comparison."""
    refs = _refcounts(unique)
    if limits is None:
        limits = _limits(sharing, len(unique))
    if refs == limits:
        return
    for j, (count, limit) in enumerate(zip(refs, limits, strict=True)):
        if count > limit and isinstance(unique[j], jax.Array):
            unique[j] = unique[j].copy()


_getrefcount = sys.getrefcount


def _refcounts(unique: list) -> list[int]:
    return list(map(_getrefcount, unique))


_LIMITS: dict[int, list[int]] = {}


def _limits(sharing: _Sharing | None, n: int) -> list[int]:
    """The reference count `_refcounts` reports for each of `n` distinct objects that nothing
    but their slots holds: two per slot holding it (the slot's container and the flat state
    list) plus `_BASE` or `_BASE_SHARED`. Those two are measured by `_calibrate` through this
    very code, since the interpreter's own temporary references differ between the paths."""
    if sharing is None:
        limits = _LIMITS.get(n)
        if limits is None:
            limits = _LIMITS[n] = [_BASE + 2] * n
        return limits
    if sharing.limits is None:
        sharing.limits = [_BASE_SHARED + 2 * count for count in sharing.counts]
    return sharing.limits


def _calibrate(shared: bool) -> int:
    """What `_refcounts` reports for an array held by nothing but its slots, less two per slot."""
    holder = type("Holder", (), {})()
    holder.x = jax.numpy.zeros(())
    holder.y = holder.x if shared else jax.numpy.ones(())
    state, _ = jax.tree.flatten(list(map(getattr, [holder, holder], ["x", "y"])))
    unique, sharing = _unique(state)
    if (sharing is not None) != shared:
        raise RuntimeError("axon.jit: reference-count calibration took the wrong path")
    return _refcounts(unique)[0] - (2 * sharing.counts[0] if shared else 2)


def _calibrate_cell() -> int:
    """What `_refcounts` reports for an array that only a StateCell's values hold."""
    cell = StateCell([jax.numpy.zeros(())], [])
    return _refcounts(cell.values)[0]


_BASE, _BASE_SHARED = _calibrate(False), _calibrate(True)
_BASE_CELL = _calibrate_cell()

_SCALARS: dict = {}


def _device(value):
    """Python numbers (and tuples of them: Adam's betas) as weakly typed device scalars, cached:
    jax converts a Python number at every call, a device array costs only its handle."""
    kind = type(value)
    if kind is float or kind is int:
        key = (kind, value, jax.config.jax_enable_x64)
        array = _SCALARS.get(key)
        if array is None:
            if len(_SCALARS) >= 1024:
                _SCALARS.clear()
            try:
                array = _SCALARS[key] = jax.numpy.asarray(value)
            except OverflowError:  # an int beyond int32: leave it to jax's own error
                return value
        return array
    if kind is tuple:
        return tuple(map(_device, value))
    return value


def _hashable(value, name):
    try:
        hash(value)
    except TypeError:
        raise TypeError(
            f"axon.jit: argument {name!r} holds a {type(value).__name__}, which is neither an "
            f"array, a number, a Module, an Optimizer nor hashable; mark it static only if it "
            f"is hashable, or pass its arrays instead."
        ) from None
    return value


def _name(fn) -> str:
    return getattr(fn, "__name__", type(fn).__name__)
