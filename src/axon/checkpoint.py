"""`axon.checkpoint`: whole training state in orbax checkpoints, saved in the background.

    with axon.checkpoint.CheckpointManager("ckpts", max_to_keep=3) as ckpt:
        start = 0
        if ckpt.latest_step() is not None:
            start = ckpt.restore(model=model, optimizer=opt, scheduler=sched)["epoch"] + 1
        for epoch in range(start, epochs):
            train_one_epoch()
            ckpt.save(epoch, model=model, optimizer=opt, scheduler=sched, extra={"epoch": epoch})

One step is one orbax checkpoint with two items: `arrays` (every array of the training state, as
one orbax PyTree) and `meta` (JSON: the structure around those arrays, such as param-group
hyper-parameters, the scheduler's counters and the user's `extra`). State is gathered through
the objects' own `state_dict()` methods, so the optimizer's state is stored in PyTorch's layout.
Orbax writes each step into a temporary directory and renames it when complete: a save killed
part-way leaves the previous steps restorable. orbax itself is imported on first use.
"""

from __future__ import annotations

import atexit
import contextlib
import threading
import warnings
import weakref
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import jax
import numpy as np

from axon import _random
from axon.autograd.variable import Variable

FORMAT = "axon.checkpoint/1"
_WHERE = "axon.checkpoint.CheckpointManager"


class CheckpointError(ValueError):
    """A checkpoint is missing, unreadable, or does not fit the objects it is restored into."""


def _orbax():
    import orbax.checkpoint as ocp  # about 2 s to import: only when a manager is made

    return ocp


class CheckpointManager:
    """Save and restore model, optimizer, lr scheduler, RNG stream and metadata by step.

    Args:
        directory: where the steps live (one sub-directory per step); created if missing.
        max_to_keep: keep only the newest this many steps (None: keep all).
        save_interval_steps: `save(step, ...)` writes only when `step` is a multiple of this,
            when the directory holds no step yet (orbax's policy: a fresh run saves at once), or
            with `force=True`.
        async_save: write in a background thread (orbax's asynchronous checkpointing): `save`
            returns once the arrays are copied off the device. Pending saves are waited for by
            `wait_until_finished()`, `restore()`, `close()`, and at interpreter exit.

    Attributes:
        directory: the checkpoint directory (absolute).
        restored_step: the step the last `restore()` read (None before any).

    Example:
        >>> import tempfile, jax.numpy as jnp, axon
        >>> model = axon.nn.Linear(2, 1)
        >>> opt = axon.optim.Adam(model.parameters(), lr=0.1)
        >>> ckpt = axon.checkpoint.CheckpointManager(tempfile.mkdtemp(), max_to_keep=2)
        >>> for step in range(3):
        ...     _ = ckpt.save(step, model=model, optimizer=opt, extra={"step": step})
        >>> ckpt.wait_until_finished()
        >>> ckpt.all_steps()
        [1, 2]
        >>> ckpt.restore(model=model, optimizer=opt)
        {'step': 2}
        >>> ckpt.close()
    """

    def __init__(
        self,
        directory,
        max_to_keep: int | None = None,
        save_interval_steps: int = 1,
        *,
        async_save: bool = True,
    ) -> None:
        if max_to_keep is not None and (not _is_int(max_to_keep) or max_to_keep < 1):
            raise ValueError(
                f"{_WHERE}: max_to_keep must be None or an int >= 1, got {max_to_keep!r}."
            )
        if not _is_int(save_interval_steps) or save_interval_steps < 1:
            raise ValueError(
                f"{_WHERE}: save_interval_steps must be an int >= 1, got {save_interval_steps!r}."
            )
        ocp = _orbax()
        self.directory = Path(directory).expanduser().absolute()
        if self.directory.exists() and not self.directory.is_dir():
            raise NotADirectoryError(f"{_WHERE}: '{self.directory}' exists and is not a directory.")
        options = ocp.CheckpointManagerOptions(
            max_to_keep=max_to_keep,
            save_interval_steps=save_interval_steps,
            enable_async_checkpointing=async_save,
            cleanup_tmp_directories=True,  # leftovers of saves that were killed part-way
            create=True,
        )
        self._manager = ocp.CheckpointManager(
            self.directory, options=options, item_names=("arrays", "meta")
        )
        self.restored_step: int | None = None
        self._closed = False
        _LIVE.add(self)
        _register_exit_hook()

    # ------------------------------------------------------------------ steps
    def all_steps(self) -> list[int]:
        """Every saved step, oldest first (including one still being written in the background)."""
        return sorted(self._manager.all_steps())

    def latest_step(self) -> int | None:
        """The newest saved step, or None when there is none."""
        return self._manager.latest_step()

    def wait_until_finished(self) -> None:
        """Block until background saves are on disk (re-raising any error they hit)."""
        self._manager.wait_until_finished()

    # ------------------------------------------------------------------ save
    def save(
        self,
        step: int,
        *,
        model=None,
        optimizer=None,
        scheduler=None,
        extra: Mapping[str, Any] | None = None,
        force: bool = False,
    ) -> bool:
        """Save the training state as `step`; returns whether a checkpoint was written.

        Args:
            step: a non-negative int, larger than the steps already saved.
            model: a Module: its parameters and buffers (`state_dict()`).
            optimizer: an `axon.optim` optimizer: per-parameter state in PyTorch's layout and every
                param group's hyper-parameters (`state_dict()`).
            scheduler: an lr scheduler (`state_dict()`: its position and counters).
            extra: user metadata: a dict with str keys of JSON values (numbers, strings, lists,
                dicts) and arrays. `restore()` returns it.
            force: save even when `step` is not a multiple of `save_interval_steps`.

        The global random stream (`axon.manual_seed`'s, which dropout draws from) is always saved.
        """
        self._check_open("save")
        if not _is_int(step) or step < 0:
            raise ValueError(f"{_WHERE}.save: step must be an int >= 0, got {step!r}.")
        if step in self._manager.all_steps():
            raise CheckpointError(
                f"{_WHERE}.save: step {step} is already saved in '{self.directory}'; steps are "
                "never overwritten. Delete it first or save under a new step."
            )
        if not force and not self._manager.should_save(step):
            return False
        tree: dict[str, Any] = {}
        if model is not None:
            if not callable(getattr(model, "state_dict", None)):
                raise TypeError(
                    f"{_WHERE}.save: model must be a Module, got {type(model).__name__}."
                )
            tree["model"] = dict(model.state_dict())
        for name, obj in (("optimizer", optimizer), ("scheduler", scheduler)):
            if obj is not None:
                if not callable(getattr(obj, "state_dict", None)):
                    raise TypeError(
                        f"{_WHERE}.save: {name} has no state_dict(); got {type(obj).__name__}."
                    )
                tree[name] = obj.state_dict()
        tree["rng"] = _random.get_key_data()
        if extra is not None:
            if not isinstance(extra, Mapping) or not all(isinstance(k, str) for k in extra):
                raise TypeError(f"{_WHERE}.save: extra must be a dict with str keys.")
            tree["extra"] = dict(extra)
        arrays: list = []
        skeleton = _encode(tree, arrays, "")
        meta = {
            "format": FORMAT,
            "tree": skeleton,
            "arrays": [_array_spec(a) for a in arrays],
        }
        ocp = _orbax()
        args = ocp.args.Composite(
            arrays=ocp.args.StandardSave({str(i): a for i, a in enumerate(arrays)}),
            meta=ocp.args.JsonSave(meta),
        )
        return bool(self._manager.save(step, args=args, force=True))

    # ------------------------------------------------------------------ restore
    def restore(
        self, step: int | None = None, *, model=None, optimizer=None, scheduler=None, rng=True
    ) -> dict[str, Any]:
        """Restore a step into the given objects, in place; returns the saved `extra` ({} if none).

        Args:
            step: the step to read; None reads the newest step and, if that one is unreadable
                (deleted or corrupted files), warns and falls back to the next newest.
            model, optimizer, scheduler: objects to load the saved state into (each one given
                must have been saved).
            rng: also restore the global random stream, so dropout continues as it would have.

        Either everything given is restored or, on an error, nothing is changed.

        Raises:
            FileNotFoundError: the directory holds no checkpoint.
            CheckpointError: `step` was not saved or cannot be read, no step can be read, or the
                state does not fit (e.g. a different model: every mismatched key is listed).
        """
        self._check_open("restore")
        self._manager.wait_until_finished()
        self._manager.reload()  # see steps other processes wrote or deleted
        steps = self.all_steps()
        if not steps:
            raise FileNotFoundError(
                f"{_WHERE}.restore: no checkpoint in '{self.directory}'. Check latest_step() is "
                "not None before restoring."
            )
        if step is not None:
            if step not in steps:
                raise CheckpointError(
                    f"{_WHERE}.restore: no step {step} in '{self.directory}'; saved steps: {steps}."
                )
            tree = self._read(step)
        else:
            failures = []
            for candidate in reversed(steps):
                try:
                    tree = self._read(candidate)
                except CheckpointError as err:
                    failures.append(str(err))
                    warnings.warn(f"{err} Trying an older step.", stacklevel=2)
                    continue
                step = candidate
                break
            else:
                raise CheckpointError(
                    f"{_WHERE}.restore: no step in '{self.directory}' could be read:\n  "
                    + "\n  ".join(failures)
                )
        extra = self._apply(step, tree, model, optimizer, scheduler, rng)
        self.restored_step = step
        return extra

    def _read(self, step: int) -> dict[str, Any]:
        ocp = _orbax()
        try:
            meta = self._manager.restore(step, args=ocp.args.Composite(meta=ocp.args.JsonRestore()))
            meta = meta["meta"]
            if not isinstance(meta, dict) or meta.get("format") != FORMAT:
                raise ValueError(f"not an axon checkpoint (metadata: {str(meta)[:80]})")
            specs = meta["arrays"]
            targets = {str(i): _restore_target(spec) for i, spec in enumerate(specs)}
            restored = self._manager.restore(
                step, args=ocp.args.Composite(arrays=ocp.args.StandardRestore(targets))
            )["arrays"]
            arrays = [_check_array(restored[str(i)], spec) for i, spec in enumerate(specs)]
            return _decode(meta["tree"], arrays)
        except Exception as err:  # orbax and tensorstore raise many kinds for damaged files
            raise CheckpointError(
                f"{_WHERE}.restore: step {step} in '{self.directory}' could not be read "
                f"({type(err).__name__}: {_first_line(err)})."
            ) from err

    def _apply(self, step, tree, model, optimizer, scheduler, rng) -> dict[str, Any]:
        wanted = {"model": model, "optimizer": optimizer, "scheduler": scheduler}
        absent = [name for name, obj in wanted.items() if obj is not None and name not in tree]
        if absent:
            held = [name for name in wanted if name in tree]
            raise CheckpointError(
                f"{_WHERE}.restore: step {step} holds no {' or '.join(absent)} state (it holds: "
                f"{', '.join(held) or 'no objects, only the RNG stream and extra'})."
            )
        model_before = dict(model.state_dict()) if model is not None else None
        try:
            if model is not None:
                model.load_state_dict(tree["model"])  # checks every key first; all or nothing
            if optimizer is not None:
                _load_optimizer(optimizer, tree["optimizer"])  # checks first; all or nothing
        except (ValueError, TypeError, KeyError) as err:
            if model_before is not None:
                model.load_state_dict(model_before)
            raise CheckpointError(
                f"{_WHERE}.restore: step {step} does not fit the objects given; nothing was "
                f"changed.\n  {err}"
            ) from err
        if scheduler is not None:
            scheduler.load_state_dict(tree["scheduler"])
        if rng:
            _random.set_key_data(tree["rng"])
        return tree.get("extra", {})

    # ------------------------------------------------------------------ lifetime
    def close(self) -> None:
        """Wait for pending saves and release orbax's resources; the manager is then unusable."""
        if self._closed:
            return
        self._closed = True
        _LIVE.discard(self)
        self._manager.wait_until_finished()
        self._manager.close()

    def __enter__(self) -> CheckpointManager:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def _check_open(self, method: str) -> None:
        if self._closed:
            raise RuntimeError(f"{_WHERE}.{method}: the manager is closed; make a new one.")

    def __repr__(self) -> str:
        return f"CheckpointManager('{self.directory}', steps={self.all_steps()})"


_LIVE: weakref.WeakSet[CheckpointManager] = weakref.WeakSet()
_exit_hook_registered = False


def _finish_pending_saves() -> None:
    """At exit, let background saves finish, so a script's last checkpoint is complete."""
    for manager in list(_LIVE):
        with contextlib.suppress(Exception):
            manager.close()


def _register_exit_hook() -> None:
    """Run `_finish_pending_saves` before the interpreter stops background work.

    Orbax's background saves schedule work on `concurrent.futures` executors, which refuse new
    work once the interpreter's threading shutdown begins, before `atexit` handlers run. Hooks
    registered with `threading._register_atexit` run at that moment, newest first, so one
    registered after orbax is imported runs before concurrent.futures shuts down. Where that
    hook does not exist, `atexit` is the fallback.
    """
    global _exit_hook_registered
    if not _exit_hook_registered:
        register = getattr(threading, "_register_atexit", None) or atexit.register
        register(_finish_pending_saves)
        _exit_hook_registered = True


# ---------------------------------------------------------------------- optimizer state
def _load_optimizer(optimizer, state: dict) -> None:
    """`optimizer.load_state_dict`, rebuilding wrapped optax states from their saved leaves."""
    if "optax_state" in state and hasattr(optimizer, "tx"):
        rebuilt = []
        for group, saved in zip(optimizer.param_groups, state["optax_state"], strict=False):
            if saved is not None:  # NamedTuples came back as lists of leaves: use the live shape
                reference = jax.eval_shape(optimizer.tx.init, [p.data for p in group["params"]])
                structure = jax.tree.structure(reference)
                leaves = _flat_leaves(saved)
                if structure.num_leaves != len(leaves):
                    raise ValueError(
                        f"the saved optax state has {len(leaves)} arrays, the optimizer's "
                        f"transformation keeps {structure.num_leaves}."
                    )
                saved = jax.tree.unflatten(structure, leaves)
            rebuilt.append(saved)
        state = {**state, "optax_state": rebuilt}
    optimizer.load_state_dict(state)


def _flat_leaves(tree) -> list:
    """The leaves of a decoded tree in jax's order (dict keys sorted), `_Leaves` included."""
    if isinstance(tree, (list, tuple)):
        return [leaf for item in tree for leaf in _flat_leaves(item)]
    if isinstance(tree, dict):
        return [leaf for key in sorted(tree) for leaf in _flat_leaves(tree[key])]
    return [] if tree is None else [tree]


# ---------------------------------------------------------------------- JSON <-> arrays
class _Leaves(list):
    """The leaves of a pytree node JSON cannot describe (e.g. an optax NamedTuple state)."""


def _encode(obj, arrays: list, path: str):
    """JSON-compatible skeleton of `obj`; each array is appended to `arrays` and referenced."""
    if isinstance(obj, Variable):
        obj = obj.data
    if isinstance(obj, jax.Array):
        if jax.dtypes.issubdtype(obj.dtype, jax.dtypes.prng_key):
            arrays.append(jax.random.key_data(obj))
            return {"__key__": len(arrays) - 1, "impl": str(jax.random.key_impl(obj))}
        arrays.append(obj)
        return {"__array__": len(arrays) - 1}
    if isinstance(obj, (np.ndarray, np.generic)):
        arrays.append(np.array(obj, copy=True))  # numpy is mutable: copy before saving async
        return {"__array__": len(arrays) - 1}
    if obj is None or isinstance(obj, (bool, int, float, str)):
        return obj
    if isinstance(obj, tuple) and hasattr(obj, "_fields"):  # a NamedTuple: keep its leaves
        return {"__leaves__": [_encode(x, arrays, path) for x in jax.tree.leaves(obj)]}
    if isinstance(obj, (list, tuple)):
        items = [_encode(x, arrays, f"{path}[{i}]") for i, x in enumerate(obj)]
        return {"__tuple__": items} if isinstance(obj, tuple) else items
    if isinstance(obj, Mapping):
        if all(isinstance(k, str) and not k.startswith("__") for k in obj):
            return {k: _encode(v, arrays, f"{path}[{k!r}]") for k, v in obj.items()}
        return {
            "__items__": [
                [_encode(k, arrays, path), _encode(v, arrays, f"{path}[{k!r}]")]
                for k, v in obj.items()
            ]
        }
    leaves, treedef = jax.tree.flatten(obj)
    if treedef.num_nodes > 1 or leaves != [obj]:  # another registered pytree node
        return {"__leaves__": [_encode(x, arrays, path) for x in leaves]}
    raise TypeError(
        f"{_WHERE}.save: cannot store {type(obj).__name__} at {path or 'the top level'}; a "
        "checkpoint holds arrays and JSON values (numbers, strings, lists, dicts)."
    )


def _decode(obj, arrays: Sequence):
    if isinstance(obj, list):
        return [_decode(x, arrays) for x in obj]
    if not isinstance(obj, dict):
        return obj
    if "__array__" in obj:
        return arrays[obj["__array__"]]
    if "__key__" in obj:
        return jax.random.wrap_key_data(arrays[obj["__key__"]], impl=obj["impl"])
    if "__tuple__" in obj:
        return tuple(_decode(x, arrays) for x in obj["__tuple__"])
    if "__leaves__" in obj:
        return _Leaves(_decode(x, arrays) for x in obj["__leaves__"])
    if "__items__" in obj:
        return {_hashable(_decode(k, arrays)): _decode(v, arrays) for k, v in obj["__items__"]}
    return {k: _decode(v, arrays) for k, v in obj.items()}


def _hashable(key):
    return tuple(key) if isinstance(key, list) else key


def _array_spec(array) -> dict[str, Any]:
    kind = "jax" if isinstance(array, jax.Array) else "numpy"
    return {"shape": list(np.shape(array)), "dtype": str(array.dtype), "kind": kind}


def _restore_target(spec: dict[str, Any]):
    dtype = jax.numpy.dtype(spec["dtype"])
    shape = tuple(spec["shape"])
    if spec["kind"] == "numpy":
        return np.zeros(shape, dtype)
    sharding = jax.sharding.SingleDeviceSharding(jax.local_devices()[0])
    return jax.ShapeDtypeStruct(shape, jax.dtypes.canonicalize_dtype(dtype), sharding=sharding)


def _check_array(array, spec: dict[str, Any]):
    if tuple(np.shape(array)) != tuple(spec["shape"]):
        raise ValueError(f"an array has shape {np.shape(array)}, its metadata says {spec['shape']}")
    if spec["kind"] == "numpy":
        return np.asarray(array)
    return array


def _is_int(value) -> bool:
    return isinstance(value, (int, np.integer)) and not isinstance(value, bool)


def _first_line(err: BaseException) -> str:
    text = str(err).strip().splitlines()
    return text[0][:300] if text else "no message"
