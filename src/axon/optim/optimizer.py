"""`Optimizer`: PyTorch's param-groups model over optax transformations.

A built-in optimizer is three declarations: `make_transform(**hyper)` builds the optax chain for
one param group from its hyper-parameters; `state_names` maps PyTorch's per-parameter state names
to the fields of that chain's optax state (`{"exp_avg": "mu", ...}`); `static_when_zero` lists the
hyper-parameters whose zero value changes the chain's structure (a zero momentum keeps no buffer).

`step()` runs ONE jitted update for all groups. Each group's numeric hyper-parameters enter it as
dynamic arguments and the transformation is built inside the trace, so `group["lr"] = 0.01`
between steps takes effect without recompiling. Booleans, strings and the zeros named by
`static_when_zero` are static (part of the compile key). State is kept per parameter, as in
PyTorch, in PyTorch's layout (`{"step", "exp_avg", "exp_avg_sq"}` for Adam): a list of dicts of
jax arrays in `self._state`, aligned with the flattened parameters. Inside the jitted update each
dict is poured into a fresh `tx.init(param)` by field name, updated, and read back out.

State is created lazily, at a parameter's first step, as in PyTorch; `init_state()` creates it
for every parameter up front (what `axon.jit` does, so the state's structure is fixed before
tracing), while `self._live` remembers which parameters PyTorch would list in `state_dict()`.
A group's hyper-parameters may be jax arrays or tracers (`group["lr"]` traced inside
`axon.jit`): the update is then traced inline instead of called as the cached jitted kernel.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Mapping, MutableMapping, Sequence
from typing import Any, ClassVar

import jax
import jax.numpy as jnp
import numpy as np
import optax

from axon import _structure
from axon._errors import shape_str, type_error, value_error
from axon.autograd import Variable, enable_grad
from axon.autograd.variable import HeldTree, as_array
from axon.optim._groups import ParamGroup, ParamList

_Tracer = jax.core.Tracer

ParamsT = Iterable[Any] | Mapping[str, Variable]
"""Parameters, `(name, Parameter)` pairs, a `{name: Parameter}` dict, or param-group dicts."""


# ----------------------------------------------------------------------------- state <-> optax
def _is_namedtuple(x) -> bool:
    return isinstance(x, tuple) and hasattr(x, "_fields")


def _get_field(state, name: str):
    """`(found, value)` of the first NamedTuple field called `name` in an optax state tree."""
    if _is_namedtuple(state):
        if name in state._fields:
            return True, getattr(state, name)
        children = tuple(state)
    elif isinstance(state, (tuple, list)):
        children = state
    elif isinstance(state, dict):
        children = tuple(state.values())
    else:
        return False, None
    for child in children:
        found, value = _get_field(child, name)
        if found:
            return True, value
    return False, None


def _set_fields(state, values: dict):
    """A copy of `state` with every NamedTuple field named in `values` replaced."""
    if _is_namedtuple(state):
        return state._replace(
            **{
                f: values[f] if f in values else _set_fields(getattr(state, f), values)
                for f in state._fields
            }
        )
    if isinstance(state, (tuple, list)):
        return type(state)(_set_fields(c, values) for c in state)
    if isinstance(state, dict):
        return {k: _set_fields(v, values) for k, v in state.items()}
    return state


def _export_state(opt_state, state_names: Mapping[str, str]) -> dict[str, jax.Array]:
    """Read a per-parameter optax state out into PyTorch's names (`_torch_layout`); fields that
    are absent or None (no buffer yet) are left out."""
    out = {}
    for torch_name, field in state_names.items():
        found, value = _get_field(opt_state, field)
        if not found or value is None:
            continue
        out[torch_name] = _torch_layout(value)
    return out


def _torch_layout(value: jax.Array) -> jax.Array:
    """Integer counters become float32 scalars: PyTorch keeps `step` as a float tensor."""
    return value.astype(jnp.float32) if jnp.issubdtype(value.dtype, jnp.integer) else value


def _import_state(state: Mapping[str, jax.Array], init_state, state_names: Mapping[str, str]):
    """Pour a PyTorch-layout state dict into `init_state` (a fresh `tx.init(param)`)."""
    values = {}
    for torch_name, field in state_names.items():
        if torch_name not in state:
            continue
        found, ref = _get_field(init_state, field)
        if not found:  # the current chain keeps no such state (e.g. momentum set to 0): ignore
            continue
        values[field] = _as_state(state[torch_name], ref)
    return _set_fields(init_state, values)


def _as_state(value, ref) -> jax.Array:
    """A PyTorch-layout state entry in the dtype of `ref`, its place in a fresh optax state (None
    where that place starts empty, as SGD's momentum buffer)."""
    value = jnp.asarray(value)
    return value if ref is None else value.astype(ref.dtype)


# ----------------------------------------------------------------------------- the jitted updates
def _update_per_param(cls, static, together, dynamic, params, grads, states):
    """One step for every active parameter of every group; pure, traced once per structure.

    A group whose parameters stepped together (`together`, see `_stepped_together`) is updated
    by one `tx.update` over the list of its parameters: the same elementwise arithmetic, but the
    shared step count and its bias corrections are computed once instead of once per parameter,
    which keeps the traced program small (faster tracing and compiling). Otherwise, and for
    optimizers whose transformation is not elementwise (`cls.per_leaf` False), one update per
    parameter.
    """
    new_params, new_states = [], []
    for group_static, group_together, group_dynamic, ps, gs, ss in zip(
        static, together, dynamic, params, grads, states, strict=True
    ):
        tx = cls.make_transform(**dict(group_static), **group_dynamic)
        if group_together:
            group_params, group_states = _update_group(cls, tx, ps, gs, ss)
        else:
            group_params, group_states = [], []
            for p, g, s in zip(ps, gs, ss, strict=True):
                opt_state = _import_state(s, tx.init(p), cls.state_names)
                updates, opt_state = tx.update(g, opt_state, p)
                group_params.append(optax.apply_updates(p, updates))
                group_states.append({**s, **_export_state(opt_state, cls.state_names)})
        new_params.append(group_params)
        new_states.append(group_states)
    return new_params, new_states


def _update_group(cls, tx, ps: list, gs: list, ss: list[dict]) -> tuple[list, list]:
    """`(new params, new states)` of one `tx.update` over the group's parameters as a list. The
    states hold the same entries and share their counters (`_stepped_together`); entries the
    current chain does not use are kept, as in the per-parameter path."""
    init = tx.init(ps)
    values = {}
    for torch_name, field in cls.state_names.items():
        found, ref = _get_field(init, field)
        if torch_name not in ss[0] or not found:
            continue
        if torch_name in cls.counters:  # one for the group: the states share it
            values[field] = _as_state(ss[0][torch_name], ref)
        else:  # one per parameter (exp_avg, momentum_buffer, ...)
            refs = [None] * len(ss) if ref is None else ref
            values[field] = [_as_state(s[torch_name], r) for s, r in zip(ss, refs, strict=True)]
    updates, opt_state = tx.update(gs, _set_fields(init, values), ps)
    new_ps = optax.apply_updates(ps, updates)
    new_ss = [dict(s) for s in ss]
    for torch_name, field in cls.state_names.items():
        found, value = _get_field(opt_state, field)
        if not found or value is None:
            continue
        if isinstance(value, list):  # one per parameter
            per_param = [_torch_layout(v) for v in value]
        else:  # the group's counter: one array, shared
            per_param = [_torch_layout(value)] * len(new_ss)
        for new, v in zip(new_ss, per_param, strict=True):
            new[torch_name] = v
    return new_ps, new_ss


def _stepped_together(states: list[dict], counters: tuple[str, ...]) -> bool:
    """Whether the states hold the same entries and ONE object for each counter: parameters that
    have always stepped together (see `Optimizer.counters`), whose update can be one."""
    first = states[0]
    keys = first.keys()
    return all(
        s.keys() == keys and all(s[n] is first[n] for n in counters if n in first) for s in states
    )


def _update_tree(tx, params, grads, states):
    """One step of a wrapped optax transformation; each group's params are one tree."""
    new_params, new_states = [], []
    for ps, gs, s in zip(params, grads, states, strict=True):
        gs = [jnp.zeros_like(p) if g is None else g for p, g in zip(ps, gs, strict=True)]
        updates, s = tx.update(gs, s, ps)
        new_params.append(optax.apply_updates(ps, updates))
        new_states.append(s)
    return new_params, new_states


_update_per_param_jit = jax.jit(_update_per_param, static_argnums=(0, 1, 2))
_update_tree_jit = jax.jit(_update_tree, static_argnums=(0,))


def _share_counters(states: list[dict], keys: list[dict]) -> None:
    """In place: states whose counter `n` has the same `keys[i][n]` get one array object for it
    (the first one's). Values are equal by construction; sharing lets `axon.jit` carry one."""
    first: dict = {}
    for state, key in zip(states, keys, strict=True):
        for name, k in key.items():
            if name in state:
                state[name] = first.setdefault((name, k), state[name])


def _any_tracer(tree) -> bool:
    return any(isinstance(x, _Tracer) for x in jax.tree.leaves(tree))


# ----------------------------------------------------------------------------- helpers
def is_zero(value) -> bool:
    """True for a concrete zero (a Python, numpy or jax scalar); False for tracers.

    `make_transform` uses it to drop a chain link whose hyper-parameter is a static zero.

    Example:
        >>> from axon.optim.optimizer import is_zero
        >>> is_zero(0), is_zero(0.0), is_zero(0.9), is_zero(False)
        (True, True, False, False)
    """
    if isinstance(value, bool) or isinstance(value, _Tracer):
        return False
    if isinstance(value, (int, float)):
        return value == 0
    if isinstance(value, (np.ndarray, np.generic, jax.Array)) and np.ndim(value) == 0:
        return float(value) == 0
    return False


def _dynamic(value):
    """Python numbers as floats: one weakly-typed dtype, so a new value never recompiles."""
    if isinstance(value, (int, float, np.integer, np.floating)) and not isinstance(value, bool):
        return float(value)
    if isinstance(value, (tuple, list)):
        return tuple(_dynamic(v) for v in value)
    return value


def concrete(value) -> float | None:
    """`float(value)` for a concrete scalar, None for a tracer (whose range cannot be checked).

    Example:
        >>> from axon.optim.optimizer import concrete
        >>> concrete(1), concrete(0.5)
        (1.0, 0.5)
    """
    if isinstance(value, _Tracer):
        return None
    return float(value)


def _type_name(value) -> str:
    if isinstance(value, jax.Array):
        return "jax.Array"
    return f"{type(value).__module__}.{type(value).__qualname__}".removeprefix("builtins.")


class _StateView(Mapping):
    """`optimizer.state`: `state[p]` is the live PyTorch-layout state of parameter `p`."""

    def __init__(self, optimizer: Optimizer):
        self._opt = optimizer

    def __getitem__(self, param) -> MutableMapping[str, jax.Array]:
        for i, p in enumerate(self._opt._flat_params()):
            if p is param:
                views = self._opt._param_states
                return views.setdefault(i, _ParamState(self._opt, i))
        raise KeyError("this parameter is not optimized by this optimizer")

    def __iter__(self) -> Iterator[Variable]:
        flat = self._opt._flat_params()
        return (p for p, live in zip(flat, self._opt._live, strict=True) if live)

    def __len__(self) -> int:
        return sum(self._opt._live)


class _ParamState(MutableMapping):
    """`optimizer.state[p]`, one object per parameter: reads and writes go to the optimizer's
    current state dict of `p`, so a view kept across steps stays live whether a step ran
    eagerly (which updates the dict in place, as torch does) or in `axon.jit` (which replaces
    the state)."""

    def __init__(self, optimizer: Optimizer, index: int):
        self._opt, self._index = optimizer, index

    def _dict(self) -> dict[str, jax.Array]:
        return self._opt._state[self._index]

    def __getitem__(self, key: str) -> jax.Array:
        return self._dict()[key]

    def __setitem__(self, key: str, value) -> None:
        self._dict()[key] = value

    def __delitem__(self, key: str) -> None:
        del self._dict()[key]

    def __iter__(self) -> Iterator[str]:
        return iter(list(self._dict()))

    def __len__(self) -> int:
        return len(self._dict())

    def __repr__(self) -> str:
        return repr(self._dict())


# ----------------------------------------------------------------------------- Optimizer
class Optimizer:
    """Base class of axon's optimizers: PyTorch's `torch.optim.Optimizer` over optax.

    Args:
        params: an iterable of Parameters, of `(name, Parameter)` pairs, a `{name: Parameter}`
            dict (as `model.named_parameters()` returns), or an iterable of param-group dicts
            `{"params": [...], "lr": ..., ...}` whose missing hyper-parameters come from
            `defaults`.
        defaults: every hyper-parameter of the optimizer with its default value.

    Attributes:
        param_groups: a list of dicts, each with `"params"` (a list of Parameters), every
            hyper-parameter, and `"param_names"` when built from named parameters. Editing a
            group's hyper-parameters (`group["lr"] = 1e-4`) takes effect at the next step.
        defaults: the default hyper-parameters.
        state: `state[p]` is the PyTorch-layout state dict of parameter `p` (empty until its
            first step or `init_state()`); iterating it lists the parameters that stepped.

    A subclass defines `make_transform(**hyper) -> optax.GradientTransformation` (a staticmethod
    that receives one group's hyper-parameters, the numeric ones as jax scalars), `state_names`
    (`{torch state name: optax state field}`) and `static_when_zero`.

    Example:
        >>> import jax.numpy as jnp, axon
        >>> w = axon.nn.Parameter(jnp.ones(3))
        >>> opt = axon.optim.SGD([w], lr=0.1)
        >>> w.grad = jnp.ones(3)
        >>> opt.step()
        >>> w.data.tolist()
        [0.8999999761581421, 0.8999999761581421, 0.8999999761581421]
    """

    state_names: ClassVar[dict[str, str]] = {}
    static_when_zero: ClassVar[tuple[str, ...]] = ()
    counters: ClassVar[tuple[str, ...]] = ("step",)
    """State entries that count steps: the parameters of a group that step together hold ONE
    array for each (equal values, shared object), so a compiled step carries one count per
    group instead of one per parameter."""
    per_leaf: ClassVar[bool] = False
    """`make_transform`'s transformation acts on each parameter alone (elementwise, or per leaf
    as `optax.scale_by_trust_ratio`), so the parameters of a group that step together may be
    updated by one `tx.update` over all of them. The built-in optimizers set it."""
    _per_param: ClassVar[bool] = True

    def __init__(self, params: ParamsT, defaults: dict[str, Any]) -> None:
        where = self._where()
        if isinstance(params, Variable):
            raise type_error(
                where,
                f"params should be an iterable of Parameters or of param-group dicts, got a "
                f"single {type(params).__name__}.",
                "Wrap it in a list: [param].",
            )
        if isinstance(params, Mapping):
            if "params" in params:
                raise type_error(
                    where,
                    "params should be an iterable of param-group dicts, got a single dict.",
                    "Wrap it in a list: [{'params': ..., 'lr': ...}].",
                )
            params = list(params.items())  # {name: Parameter}, as named_parameters() returns
        try:
            groups = list(params)
        except TypeError:
            raise type_error(
                where,
                f"params should be an iterable of Parameters or of param-group dicts, got "
                f"{_type_name(params)}.",
            ) from None
        if not groups:
            raise value_error(
                where,
                "optimizer got an empty parameter list.",
                "Pass model.parameters() (a generator or iterator can be consumed only once).",
            )
        self.defaults = dict(defaults)
        self.param_groups: list[dict[str, Any]] = ParamList()
        self._state: list = []  # per flat parameter: a PyTorch-layout dict (per group: optax state)
        self._live: list[bool] = []  # per flat parameter: PyTorch would hold its state by now
        self._param_states: dict[int, _ParamState] = {}  # flat index -> `state[p]`
        if not isinstance(groups[0], dict):
            groups = [{"params": groups}]
        for group in groups:
            self.add_param_group(group)

    @property
    def param_groups(self) -> list[dict[str, Any]]:
        """The param groups (see the class docstring). Each is a `ParamGroup`, a dict that
        notes its changes for `axon.jit` (axon/optim/_groups.py)."""
        return self._param_groups

    @param_groups.setter
    def param_groups(self, groups: list[dict[str, Any]]) -> None:
        _structure.settings_changed()
        self._param_groups = groups

    @property
    def _state(self) -> list:
        """Per flat parameter a PyTorch-layout dict (per group: optax state). After an
        `axon.jit` call it is a `HeldTree` handle until first read (see `StateCell`)."""
        state = self._state_value
        if type(state) is HeldTree:
            state = self._state_value = state.take()
        return state

    @_state.setter
    def _state(self, value) -> None:
        old = self.__dict__.get("_state_value")
        if type(old) is HeldTree:
            old.cell.spoil()
        self._state_value = value

    def __getstate__(self) -> dict:
        """For copy and pickle: the state itself, never a handle into axon.jit's cell."""
        state = dict(self.__dict__)
        state["_state_value"] = self._state
        return state

    # ------------------------------------------------------------------ subclass contract
    @staticmethod
    def make_transform(**hyper) -> optax.GradientTransformation:
        """The optax transformation of one param group (per parameter) from its hyper-parameters."""
        raise NotImplementedError(
            "axon.optim.Optimizer: subclasses define make_transform(**hyper); use "
            "Optimizer.from_optax(params, tx) to wrap an optax transformation."
        )

    @staticmethod
    def derived_hyper(hyper: Mapping[str, Any]) -> dict[str, Any]:
        """Extra dynamic arguments of `make_transform`, computed on the host (override).

        Computed from a group's Python values in double precision before they are rounded to
        the parameters' dtype: Adam passes `1 - beta` this way, since `1 - 0.999` formed from
        float32's 0.999 is 1.3e-5 off.
        """
        return {}

    def _validate(self, hyper: Mapping[str, Any]) -> None:
        """Check a group's hyper-parameters, raising ValueError as PyTorch does (override)."""

    # ------------------------------------------------------------------ groups
    def _where(self, method: str | None = None) -> str:
        name = f"axon.optim.{type(self).__name__}"
        return f"{name}.{method}" if method else name

    def add_param_group(self, param_group: dict[str, Any]) -> None:
        """Add a param group, filling its missing hyper-parameters from `defaults`.

        Useful when fine-tuning, to make frozen layers trainable as training progresses.

        The optimizer keeps a copy of the dict (a `ParamGroup`; PyTorch keeps the dict itself):
        change the group's settings through `opt.param_groups[i]`, as schedulers do.

        Args:
            param_group: `{"params": [...], <hyper-parameter>: value, ...}`.

        Raises:
            TypeError: for a non-dict group, a set of params, or params that are not
                Parameters (or leaf Variables) of floating dtype.
            ValueError: for duplicate params, params already in another group, names given
                for some params only, or invalid hyper-parameters.

        Example:
            >>> import jax.numpy as jnp, axon
            >>> opt = axon.optim.SGD([axon.nn.Parameter(jnp.zeros(2))], lr=0.1)
            >>> opt.add_param_group({"params": [axon.nn.Parameter(jnp.zeros(3))], "lr": 0.01})
            >>> [g["lr"] for g in opt.param_groups]
            [0.1, 0.01]
        """
        where = self._where("add_param_group")
        if not isinstance(param_group, dict):
            raise type_error(where, f"param_group must be a dict, got {_type_name(param_group)}.")
        if "params" not in param_group:
            raise value_error(where, "param_group has no 'params' entry.")
        params = param_group["params"]
        if isinstance(params, Variable):
            params = [params]
        elif isinstance(params, (set, frozenset)):
            raise type_error(
                where,
                "optimizer parameters need to be organized in ordered collections, but the "
                "ordering of a set changes between runs.",
                "Use a list instead.",
            )
        elif isinstance(params, Mapping):
            params = list(params.items())
        else:
            params = list(params)

        names = [p[0] for p in params if isinstance(p, tuple)]
        tensors = [p[1] if isinstance(p, tuple) else p for p in params]
        if names and len(names) != len(tensors):
            raise value_error(
                where, "all optimizer params should be with or without names; some are missing."
            )
        for i, p in enumerate(tensors):
            if not isinstance(p, Variable):
                raise type_error(
                    where,
                    f"optimizer can only optimize Parameters, but params[{i}] is {_type_name(p)}.",
                    "Wrap arrays in axon.nn.Parameter.",
                )
            if not p.is_leaf:
                raise value_error(
                    where, f"can't optimize a non-leaf Variable (params[{i}]).", "Use a Parameter."
                )
            if not jnp.issubdtype(p.dtype, jnp.floating):
                raise type_error(
                    where, f"can only optimize floating point parameters, params[{i}] is {p.dtype}."
                )
        if len({id(p) for p in tensors}) != len(tensors):
            raise value_error(where, "a parameter group contains the same parameter twice.")
        existing = {id(p) for p in self._flat_params()}
        if any(id(p) in existing for p in tensors):
            raise value_error(where, "some parameters appear in more than one parameter group.")
        if self.param_groups and bool(names) != ("param_names" in self.param_groups[0]):
            raise value_error(
                where,
                "all optimizer param groups should be with or without names; cannot add a group "
                f"{'with' if names else 'without'} names to this optimizer.",
            )
        hyper = {k: param_group.get(k, v) for k, v in self.defaults.items()}
        self._validate(hyper)

        group = ParamGroup(param_group)
        group["params"] = ParamList(tensors)
        if names:
            group["param_names"] = ParamList(names)
        for k, v in self.defaults.items():
            group.setdefault(k, v)
        self.param_groups.append(group)
        if self._per_param:
            self._state.extend({} for _ in tensors)
            self._live.extend(False for _ in tensors)
        else:
            self._state.append(None)

    def _flat_params(self) -> list[Variable]:
        return [p for g in self.param_groups for p in g["params"]]

    def _flat_names(self) -> list[str] | None:
        if not self.param_groups or "param_names" not in self.param_groups[0]:
            return None
        return [n for g in self.param_groups for n in g["param_names"]]

    @property
    def state(self) -> Mapping[Variable, dict[str, jax.Array]]:
        """`state[p]`: parameter `p`'s state in PyTorch's layout (live; empty before its first
        step unless `init_state()` created it)."""
        return _StateView(self)

    # ------------------------------------------------------------------ grads
    def zero_grad(self, set_to_none: bool = True) -> None:
        """Reset the gradients of all optimized parameters.

        Args:
            set_to_none: set `.grad` to None (the default); with False, existing gradients are
                replaced by zeros, and `step()` then updates those parameters with a zero
                gradient instead of skipping them.

        Example:
            >>> import jax.numpy as jnp, axon
            >>> w = axon.nn.Parameter(jnp.ones(2))
            >>> w.grad = jnp.ones(2)
            >>> axon.optim.SGD([w]).zero_grad()
            >>> w.grad is None
            True
        """
        for p in self._flat_params():
            if set_to_none:  # write without reading: axon.jit then needs no incoming .grad
                p.grad = None
            elif p.grad is not None:
                p.grad = jnp.zeros_like(p.grad)

    def _collect_grads(self, grads, flat: list[Variable]) -> list[jax.Array | None]:
        where = self._where("step")
        if grads is None:
            raw = [p.grad for p in flat]
        elif isinstance(grads, Mapping):
            names = self._flat_names()
            if names is not None:
                unknown = [k for k in grads if k not in set(names)]
                if unknown:
                    raise value_error(
                        where,
                        f"gradients given for unknown parameter names {unknown}; this optimizer "
                        f"has {names}.",
                    )
                raw = [grads.get(n) for n in names]
            elif len(grads) == len(flat):
                raw = list(grads.values())  # matched in order, as model.named_parameters()
            else:
                raise value_error(
                    where,
                    f"got a dict of {len(grads)} gradients for {len(flat)} parameters; without "
                    f"parameter names they are matched by position.",
                    "Build the optimizer from model.named_parameters() to match gradients by "
                    "name, or pass one gradient (or None) per parameter.",
                )
        elif isinstance(grads, (list, tuple)):
            if len(grads) != len(flat):
                raise value_error(
                    where,
                    f"got {len(grads)} gradients for {len(flat)} parameters.",
                    "Pass one gradient (or None) per parameter, in the order of the param groups.",
                )
            raw = list(grads)
        else:
            raise type_error(
                where,
                f"expected a closure, a dict of gradients or a list of gradients, got "
                f"{_type_name(grads)}.",
            )
        out = []
        for i, (p, g) in enumerate(zip(flat, raw, strict=True)):
            if g is None:
                out.append(None)
                continue
            g = as_array(g)
            if g.shape != p.data.shape:
                raise value_error(
                    where,
                    f"the gradient of parameter {i} has shape {shape_str(g.shape)}, but the "
                    f"parameter has shape {shape_str(p.data.shape)}.",
                )
            out.append(g if g.dtype == p.data.dtype else g.astype(p.data.dtype))
        return out

    # ------------------------------------------------------------------ step
    def _split_hyper(self, group: Mapping[str, Any]) -> tuple[tuple, dict]:
        """Static (hashable) and dynamic (traced) hyper-parameters of one group."""
        static, dynamic = [], {}
        hyper = {k: group[k] for k in self.defaults}
        for k, v in hyper.items():
            if v is None or isinstance(v, (bool, str)):
                static.append((k, v))
            elif k in self.static_when_zero and is_zero(v):
                static.append((k, 0))
            else:
                dynamic[k] = _dynamic(v)
        for k, v in self.derived_hyper(hyper).items():
            dynamic[k] = _dynamic(v)
        return tuple(static), dynamic

    def _transform(self, group: Mapping[str, Any]) -> optax.GradientTransformation:
        """The group's transformation built from its concrete values (for init and shapes)."""
        hyper = {k: group[k] for k in self.defaults}
        return type(self).make_transform(**hyper, **self.derived_hyper(hyper))

    def step(self, closure_or_grads: Callable[[], Any] | Mapping | Sequence | None = None):
        """Update every parameter that has a gradient; those whose gradient is None are skipped.

        Args:
            closure_or_grads: None to use each parameter's `.grad`; a closure that re-evaluates
                the model and returns the loss (called under `axon.enable_grad()`, as PyTorch);
                a dict `{name: grad}` (matched by name when the optimizer was built from named
                parameters, otherwise by position); or a list with one gradient (or None) per
                parameter, in the order of the param groups.

        Returns:
            The closure's loss, or None.

        Example:
            >>> import jax.numpy as jnp, axon
            >>> w = axon.nn.Parameter(jnp.ones(2))
            >>> opt = axon.optim.SGD([w], lr=0.5)
            >>> opt.step([jnp.ones(2)])
            >>> w.data.tolist()
            [0.5, 0.5]
        """
        loss = None
        grads_arg = None
        if callable(closure_or_grads):
            with enable_grad():
                loss = closure_or_grads()
        else:
            grads_arg = closure_or_grads
        flat = self._flat_params()
        grads = self._collect_grads(grads_arg, flat)
        if self._per_param:
            self._step_per_param(flat, grads)
        else:
            self._step_tree(grads)
        return loss

    def _step_per_param(self, flat: list[Variable], grads: list) -> None:
        cls = type(self)
        static, dynamic, params, group_grads, states, targets = [], [], [], [], [], []
        offset = 0
        for group in self.param_groups:
            n = len(group["params"])
            active = [offset + i for i in range(n) if grads[offset + i] is not None]
            offset += n
            if not active:
                continue
            group_static, group_dynamic = self._split_hyper(group)
            fresh = [i for i in active if not self._state[i]]
            if fresh:  # PyTorch's lazy state init, done before the update so it traces once
                self._create_state(group, fresh, flat)
            static.append(group_static)
            dynamic.append(group_dynamic)
            params.append([flat[i].data for i in active])
            group_grads.append([grads[i] for i in active])
            states.append([self._state[i] for i in active])
            targets.append(active)
        if not targets:
            return
        # A counter is a function of its old value alone: parameters that shared one before the
        # step share its new value (a traced step then returns one array, not one per param).
        shared = [[{n: id(s[n]) for n in cls.counters if n in s} for s in ss] for ss in states]
        together = tuple(cls.per_leaf and _stepped_together(ss, cls.counters) for ss in states)
        args = (dynamic, params, group_grads, states)
        update = _update_per_param if _any_tracer(args) else _update_per_param_jit
        new_params, new_states = update(cls, tuple(static), together, *args)
        for active, ps, ss, old in zip(targets, new_params, new_states, shared, strict=True):
            _share_counters(ss, old)
            for i, p, s in zip(active, ps, ss, strict=True):
                flat[i].data = p
                self._state[i].clear()  # in place: `opt.state[p]` stays the live dict
                self._state[i].update(s)
                self._live[i] = bool(s)  # SGD without momentum keeps no state, as PyTorch

    def _fresh_state(self, group: Mapping[str, Any], param: Variable) -> dict[str, jax.Array]:
        """A parameter's state before its first step, in PyTorch's layout (override).

        By default what `make_transform(**group hyper).init(param)` holds, read out by
        `state_names`.
        """
        return _export_state(self._transform(group).init(param.data), type(self).state_names)

    def _create_state(self, group: Mapping[str, Any], indices: Sequence[int], flat) -> None:
        fresh = [self._fresh_state(group, flat[i]) for i in indices]
        _share_counters(fresh, [{n: 0 for n in type(self).counters if n in s} for s in fresh])
        for i, state in zip(indices, fresh, strict=True):
            self._state[i].update(state)

    def init_state(self) -> None:
        """Create now the state that every parameter would get at its first step.

        PyTorch creates a parameter's state lazily, at its first step with a gradient; axon does
        too. `init_state()` creates it up front, for every parameter that has none (zeros and a
        zero step count: the values the first step would start from), so the state's structure
        does not change at the first step. `axon.jit` calls it before tracing, so the state
        crosses the compiled boundary with one fixed structure. Nothing else changes:
        `state_dict()` and iterating `optimizer.state` still list only the parameters that
        stepped (or were loaded), as PyTorch does; the update of a parameter whose state was
        created here equals the update from lazily created state.

        Example:
            >>> import jax.numpy as jnp, axon
            >>> w = axon.nn.Parameter(jnp.ones(2))
            >>> opt = axon.optim.Adam([w], lr=0.1)
            >>> opt.init_state()
            >>> sorted(opt.state[w]), opt.state_dict()["state"]
            (['exp_avg', 'exp_avg_sq', 'step'], {})
        """
        if not self._per_param:
            for gi, group in enumerate(self.param_groups):
                if self._state[gi] is None:
                    self._state[gi] = self._tx.init([p.data for p in group["params"]])
            return
        flat = self._flat_params()
        offset = 0
        for group in self.param_groups:
            n = len(group["params"])
            self._create_state(
                group, [i for i in range(offset, offset + n) if not self._state[i]], flat
            )
            offset += n

    def _step_tree(self, grads: list) -> None:
        tx = self._tx
        params, group_grads, states, targets = [], [], [], []
        offset = 0
        for gi, group in enumerate(self.param_groups):
            ps = group["params"]
            gs = grads[offset : offset + len(ps)]
            offset += len(ps)
            if all(g is None for g in gs):
                continue
            data = [p.data for p in ps]
            if self._state[gi] is None:
                self._state[gi] = tx.init(data)
            params.append(data)
            group_grads.append(gs)
            states.append(self._state[gi])
            targets.append(gi)
        if not targets:
            return
        args = (params, group_grads, states)
        update = _update_tree if _any_tracer(args) else _update_tree_jit
        new_params, new_states = update(tx, *args)
        for gi, ps, s in zip(targets, new_params, new_states, strict=True):
            for p, value in zip(self.param_groups[gi]["params"], ps, strict=True):
                p.data = value
            self._state[gi] = s

    # ------------------------------------------------------------------ state dicts
    def state_dict(self) -> dict[str, Any]:
        """The optimizer's state in PyTorch's layout.

        `{"state": {index: {name: array}}, "param_groups": [{hyper..., "params": [index, ...]}]}`
        where indices count the parameters across groups in order, and the state names are
        PyTorch's (SGD: `momentum_buffer`; Adam: `step`, `exp_avg`, `exp_avg_sq`,
        `max_exp_avg_sq`). Parameters that never stepped have no entry.

        Example:
            >>> import jax.numpy as jnp, axon
            >>> opt = axon.optim.Adam([axon.nn.Parameter(jnp.zeros(2))], lr=0.1)
            >>> opt.state_dict()["param_groups"][0]["params"]
            [0]
        """
        groups, start = [], 0
        for g in self.param_groups:
            packed = {k: v for k, v in g.items() if k not in ("params", "param_names")}
            packed["params"] = list(range(start, start + len(g["params"])))
            if "param_names" in g:
                packed["param_names"] = list(g["param_names"])
            start += len(g["params"])
            groups.append(packed)
        if not self._per_param:
            return {"state": {}, "param_groups": groups, "optax_state": list(self._state)}
        names = type(self).state_names  # PyTorch's key order
        state = {
            i: {n: s[n] for n in names if n in s} | {n: v for n, v in s.items() if n not in names}
            for i, (s, live) in enumerate(zip(self._state, self._live, strict=True))
            if live
        }
        return {"state": state, "param_groups": groups}

    def load_state_dict(self, state_dict: Mapping[str, Any]) -> None:
        """Load a state dict of this layout, e.g. a PyTorch optimizer's converted to numpy.

        Hyper-parameters come from the saved groups, as in PyTorch. Everything is checked
        (number and sizes of groups, state names and shapes) before anything changes, so a
        failed load leaves the optimizer as it was.

        Raises:
            ValueError: when the state dict does not match this optimizer.

        Example:
            >>> import jax.numpy as jnp, axon
            >>> w = axon.nn.Parameter(jnp.zeros(2))
            >>> opt = axon.optim.SGD([w], lr=0.1, momentum=0.9)
            >>> saved = {"state": {0: {"momentum_buffer": jnp.ones(2)}},
            ...          "param_groups": [dict(opt.state_dict()["param_groups"][0], lr=0.5)]}
            >>> opt.load_state_dict(saved)
            >>> opt.param_groups[0]["lr"], opt.state[w]["momentum_buffer"].tolist()
            (0.5, [1.0, 1.0])
        """
        where = self._where("load_state_dict")
        if not isinstance(state_dict, Mapping) or "param_groups" not in state_dict:
            raise value_error(
                where, "expected a dict with 'state' and 'param_groups', as state_dict() returns."
            )
        saved_groups = list(state_dict["param_groups"])
        if len(saved_groups) != len(self.param_groups):
            raise value_error(
                where,
                f"loaded state dict has {len(saved_groups)} parameter groups, but the optimizer "
                f"has {len(self.param_groups)}.",
            )
        for i, (g, s) in enumerate(zip(self.param_groups, saved_groups, strict=True)):
            if len(s["params"]) != len(g["params"]):
                raise value_error(
                    where,
                    f"parameter group {i} of the loaded state dict has {len(s['params'])} "
                    f"parameters, but the optimizer's has {len(g['params'])}.",
                )
            if s.get("decoupled_weight_decay") and "decoupled_weight_decay" not in self.defaults:
                raise value_error(
                    where,
                    f"parameter group {i} of the loaded state dict has "
                    f"decoupled_weight_decay=True (saved by PyTorch's AdamW, or Adam with "
                    f"decoupled_weight_decay=True), which {self._where()} does not implement.",
                    "Load it into axon.optim.AdamW, which decays p *= 1 - lr * weight_decay.",
                )
        new_groups = []
        for g, s in zip(self.param_groups, saved_groups, strict=True):
            new = {k: v for k, v in s.items() if k not in ("params", "param_names")}
            for k in self.defaults:
                new.setdefault(k, g[k])
            self._validate({k: new[k] for k in self.defaults})
            new["params"] = g["params"]
            if "param_names" in s:
                new["param_names"] = ParamList(s["param_names"])
            elif "param_names" in g:
                new["param_names"] = g["param_names"]
            new_groups.append(new)

        if self._per_param:
            new_state = self._load_per_param_state(
                state_dict.get("state", {}), saved_groups, new_groups
            )
            self._live = [bool(s) for s in new_state]
        else:
            new_state = self._load_tree_state(state_dict.get("optax_state"), new_groups)

        for g, new in zip(self.param_groups, new_groups, strict=True):
            g.clear()
            g.update(new)
        self._state = new_state

    def _load_per_param_state(self, saved_state, saved_groups, new_groups) -> list[dict]:
        where = self._where("load_state_dict")
        cls = type(self)
        flat = self._flat_params()
        id_map = {}
        position = 0
        for s in saved_groups:
            for saved_id in s["params"]:
                id_map[saved_id] = position
                position += 1
        group_of = [g for g in new_groups for _ in g["params"]]
        new_state: list[dict] = [{} for _ in flat]
        for key, entries in saved_state.items():
            index = id_map.get(key)
            if index is None and isinstance(key, str) and key.isdigit():
                index = id_map.get(int(key))  # keys that went through JSON
            if index is None:
                raise value_error(
                    where,
                    f"the state of parameter {key!r} belongs to no parameter group; the groups "
                    f"list parameters {sorted(id_map)}.",
                )
            p = flat[index]
            unexpected = sorted(set(entries) - set(cls.state_names))
            if unexpected:
                raise value_error(
                    where,
                    f"unexpected state {unexpected} for parameter {index}; "
                    f"{self._where()} keeps {sorted(cls.state_names)}.",
                    "Was this state dict saved by another kind of optimizer?",
                )
            reference = jax.eval_shape(self._transform(group_of[index]).init, p.data)
            loaded = {}
            for name, value in entries.items():
                value = as_array(value)
                found, ref = _get_field(reference, cls.state_names[name])
                if found and ref is not None:
                    shape, dtype = ref.shape, ref.dtype
                    if jnp.issubdtype(dtype, jnp.integer):
                        dtype = jnp.float32
                else:
                    shape, dtype = p.data.shape, p.data.dtype
                if value.shape != shape:
                    raise value_error(
                        where,
                        f"state '{name}' of parameter {index} has shape {shape_str(value.shape)}, "
                        f"expected {shape_str(shape)} (the parameter has shape "
                        f"{shape_str(p.data.shape)}).",
                    )
                loaded[name] = value.astype(dtype)
            new_state[index] = loaded
        counters = [n for n in cls.counters if n in cls.state_names]
        keys = [
            {n: (id(g), float(s[n])) for n in counters if n in s}  # equal counts in one group
            for s, g in zip(new_state, group_of, strict=True)
        ]
        _share_counters(new_state, keys)
        return new_state

    def _load_tree_state(self, saved, new_groups) -> list:
        where = self._where("load_state_dict")
        if saved is None or len(saved) != len(new_groups):
            raise value_error(
                where, "expected 'optax_state' with one entry per parameter group, as saved."
            )
        out = []
        for i, (g, s) in enumerate(zip(new_groups, saved, strict=True)):
            if s is None:
                out.append(None)
                continue
            reference = jax.eval_shape(self._tx.init, [p.data for p in g["params"]])
            ref_leaves, ref_def = jax.tree.flatten(reference)
            leaves, treedef = jax.tree.flatten(s)
            if treedef != ref_def:
                raise value_error(
                    where,
                    f"the optax state of group {i} has structure {treedef}, expected {ref_def}.",
                )
            for leaf, ref in zip(leaves, ref_leaves, strict=True):
                if tuple(np.shape(leaf)) != ref.shape:
                    raise value_error(
                        where,
                        f"the optax state of group {i} has a leaf of shape "
                        f"{shape_str(np.shape(leaf))}, expected {shape_str(ref.shape)}.",
                    )
            out.append(
                jax.tree.unflatten(
                    ref_def,
                    [as_array(x).astype(r.dtype) for x, r in zip(leaves, ref_leaves, strict=True)],
                )
            )
        return out

    # ------------------------------------------------------------------ optax
    @classmethod
    def from_optax(cls, params: ParamsT, tx: optax.GradientTransformation) -> Optimizer:
        """Wrap any optax transformation as a stateful optimizer.

        Each param group's parameters form ONE tree (a list), so global transformations such as
        `optax.clip_by_global_norm` see the whole group. A parameter whose `.grad` is None counts
        as a zero gradient (its update may still be non-zero, e.g. with momentum or weight
        decay); a group whose gradients are all None is skipped. Hyper-parameters live in the
        transformation (use `optax.inject_hyperparams` or schedules to change them);
        `param_groups` hold only the parameters. `state_dict()` stores each group's optax state
        under `"optax_state"`.

        Args:
            params: as for `Optimizer`.
            tx: an `optax.GradientTransformation`.

        Example:
            >>> import jax.numpy as jnp, optax, axon
            >>> w = axon.nn.Parameter(jnp.ones(2))
            >>> opt = axon.optim.Optimizer.from_optax([w], optax.sgd(0.5))
            >>> w.grad = jnp.ones(2)
            >>> opt.step()
            >>> w.data.tolist()
            [0.5, 0.5]
        """
        return OptaxOptimizer(params, tx)

    def __repr__(self) -> str:
        lines = [f"{type(self).__name__} ("]
        for i, group in enumerate(self.param_groups):
            lines.append(f"Parameter Group {i}")
            for key in sorted(k for k in group if k not in ("params", "param_names")):
                lines.append(f"    {key}: {group[key]}")
        lines.append(")")
        return "\n".join(lines)


class OptaxOptimizer(Optimizer):
    """An optax transformation as a stateful optimizer; made by `Optimizer.from_optax`."""

    _per_param = False

    def __init__(self, params: ParamsT, tx: optax.GradientTransformation) -> None:
        if not (callable(getattr(tx, "init", None)) and callable(getattr(tx, "update", None))):
            raise type_error(
                "axon.optim.Optimizer.from_optax",
                f"expected an optax.GradientTransformation, got {_type_name(tx)}.",
            )
        self._tx = tx
        super().__init__(params, {})

    @property
    def tx(self) -> optax.GradientTransformation:
        """The wrapped transformation."""
        return self._tx

    @property
    def state(self) -> Mapping[Variable, dict[str, jax.Array]]:
        """Empty: a wrapped optax transformation keeps one state tree per param group, not a
        state per parameter; `state_dict()["optax_state"]` holds those trees.

        Example:
            >>> import jax.numpy as jnp, optax, axon
            >>> w = axon.nn.Parameter(jnp.ones(2))
            >>> opt = axon.optim.Optimizer.from_optax([w], optax.adam(0.1))
            >>> len(opt.state), list(opt.state)
            (0, [])
        """
        return _NoPerParamState(self)


class _NoPerParamState(Mapping):
    def __init__(self, optimizer: Optimizer):
        self._where = optimizer._where("state")

    def __getitem__(self, param):
        raise KeyError(
            f"{self._where}: an optimizer made by Optimizer.from_optax keeps one optax state per "
            f"param group, not a state per parameter; see state_dict()['optax_state']."
        )

    def __iter__(self) -> Iterator[Variable]:
        return iter(())

    def __len__(self) -> int:
        return 0


def check_at_least(where: str, label: str, name: str, value, low: float = 0.0) -> None:
    """Raise `"<where>: invalid <label>: expected <name> >= <low>, got <value>."` (NaN fails).

    Example:
        >>> from axon.optim.optimizer import check_at_least
        >>> check_at_least("axon.optim.SGD", "learning rate", "lr", -1)
        Traceback (most recent call last):
        ...
        ValueError: axon.optim.SGD: invalid learning rate: expected lr >= 0, got -1.
    """
    v = concrete(value)
    if v is not None and not v >= low:
        raise value_error(where, f"invalid {label}: expected {name} >= {low:g}, got {value}.")
