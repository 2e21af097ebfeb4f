"""`axon.save`, `axon.load` and `StateDict`: state dicts in `.safetensors` files.

Keys and layouts are PyTorch's, so a file that `safetensors.torch.save_file(model.state_dict())`
wrote loads into the axon twin unchanged, and a file axon writes loads into the PyTorch twin with
`load_state_dict(strict=True)`.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, MutableMapping
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from axon._errors import shape_str
from axon.autograd.variable import Variable
from axon.serialize._io import (
    PathLike,
    check_metadata,
    read_safetensors,
    torch_to_numpy,
    write_safetensors,
)


def save(state_dict: Mapping[str, Any], path: PathLike, metadata: Mapping[str, str] | None = None):
    """Write a state dict to a `.safetensors` file, atomically.

    Args:
        state_dict: `{key: array}`, e.g. `model.state_dict()` or a `StateDict`; values may be
            Parameters, jax, numpy or torch arrays.
        path: the file to write. It is replaced in one step (temporary file in the same
            directory, fsync, rename), so a crash mid-save leaves the previous file intact.
        metadata: extra `{str: str}` for the file's header. `{"format": "pt"}` is always added
            (as `safetensors.torch` writes), and a `StateDict`'s own metadata is used when
            `metadata` is None.

    Dtypes are kept (float32, float16, bfloat16, float64, integer and bool arrays). Note: with
    jax's 64-bit mode off (the default), jax holds PyTorch's int64 buffers such as
    `num_batches_tracked` as int32; jax int32 arrays are therefore written as int64, the dtype
    PyTorch wrote. Pass a numpy int32 array to keep int32 in the file.

    Raises:
        TypeError: a value is not an array, a key or metadata value is not a string.
        FileNotFoundError: the destination directory does not exist.

    Example:
        >>> import tempfile, os, axon
        >>> model = axon.nn.Linear(3, 2)
        >>> path = os.path.join(tempfile.mkdtemp(), "linear.safetensors")
        >>> axon.save(model.state_dict(), path, metadata={"epoch": "3"})
        >>> sd = axon.load(path)
        >>> sorted(sd), sd["weight"].shape, sd.metadata["epoch"]
        (['bias', 'weight'], (2, 3), '3')
        >>> model.load_state_dict(sd)
        IncompatibleKeys(missing_keys=[], unexpected_keys=[])
    """
    if metadata is None and isinstance(state_dict, StateDict):
        metadata = state_dict.metadata
    write_safetensors(state_dict, path, metadata, "axon.save")


def load(path: PathLike, *, as_numpy: bool = False) -> StateDict:
    """Read a `.safetensors` file into a `StateDict` (a mapping of keys to arrays, with metadata).

    Nothing is unpickled: a PyTorch `.pt`/`.bin` file is refused with a pointer to
    `scripts/convert_torch_checkpoint.py`.

    Args:
        path: a `.safetensors` file (from `axon.save`, `safetensors.torch.save_file`, ...).
        as_numpy: return numpy arrays with the file's exact dtypes instead of jax arrays. Note:
            with jax's 64-bit mode off, jax arrays hold int64 as int32 and float64 as float32
            (values round-trip; `model.load_state_dict` casts to each parameter's dtype anyway).

    Raises:
        FileNotFoundError: no such file.
        ValueError: the file is not a safetensors file (e.g. a pickle); the message says why.

    Example:
        >>> import tempfile, os, numpy as np, axon
        >>> path = os.path.join(tempfile.mkdtemp(), "t.safetensors")
        >>> axon.save({"steps": np.arange(3)}, path)
        >>> axon.load(path, as_numpy=True)["steps"].dtype
        dtype('int64')
    """
    arrays, metadata = read_safetensors(path, "axon.load")
    if not as_numpy:
        arrays = {key: jnp.asarray(value) for key, value in arrays.items()}
    return StateDict(arrays, metadata)


class StateDict(MutableMapping[str, Any]):
    """A state dict: an ordered mapping of PyTorch state-dict keys to arrays, plus metadata.

    Behaves as a dict (`sd["fc1.weight"]`, `len`, iteration, `in`, assignment, `del`), so it goes
    wherever `model.state_dict()` goes, `model.load_state_dict(sd)` included.

    Args:
        tensors: `{key: array}`; Parameters are stored by their `.data`.
        metadata: `{str: str}` written into the file's header by `save`.

    Attributes:
        metadata: the string metadata (what `load` read, or what `save` will write).

    Example:
        >>> import tempfile, os, axon
        >>> model = axon.nn.Sequential(axon.nn.Linear(4, 3), axon.nn.BatchNorm1d(3))
        >>> sd = axon.serialize.StateDict.from_module(model, metadata={"arch": "mlp"})
        >>> list(sd)[:3], sd["1.num_batches_tracked"].shape
        (['0.weight', '0.bias', '1.weight'], ())
        >>> path = os.path.join(tempfile.mkdtemp(), "mlp.safetensors")
        >>> sd.save(path)
        >>> loaded = axon.serialize.StateDict.load(path)
        >>> loaded.metadata["arch"], loaded["0.weight"].shape
        ('mlp', (3, 4))
    """

    def __init__(
        self,
        tensors: Mapping[str, Any] | None = None,
        metadata: Mapping[str, str] | None = None,
    ) -> None:
        self._tensors: dict[str, Any] = {}
        self.metadata: dict[str, str] = check_metadata(metadata, "axon.serialize.StateDict")
        for key, value in (tensors or {}).items():
            self[key] = value

    @classmethod
    def from_module(cls, module, metadata: Mapping[str, str] | None = None) -> StateDict:
        """The module's `state_dict()`: parameters and persistent buffers, PyTorch's keys."""
        if not hasattr(module, "state_dict"):
            raise TypeError(
                f"axon.serialize.StateDict.from_module: expected a Module, got "
                f"{type(module).__name__}."
            )
        return cls(module.state_dict(), metadata)

    def save(self, path: PathLike) -> None:
        """Write to a `.safetensors` file (atomically), with `self.metadata`; see `axon.save`."""
        save(self, path, self.metadata)

    @classmethod
    def load(cls, path: PathLike, *, as_numpy: bool = False) -> StateDict:
        """Read a `.safetensors` file; see `axon.load`."""
        return load(path, as_numpy=as_numpy)

    # ------------------------------------------------------------------ mapping
    def __getitem__(self, key: str):
        return self._tensors[key]

    def __setitem__(self, key: str, value) -> None:
        if not isinstance(key, str):
            raise TypeError(f"axon.serialize.StateDict: keys must be strings, got {key!r}.")
        if isinstance(value, Variable):
            value = value.data
        elif type(value).__module__.startswith("torch"):  # a torch tensor, without importing torch
            value = torch_to_numpy(value)
        if not isinstance(value, (jax.Array, np.ndarray, np.generic)):
            raise TypeError(
                f"axon.serialize.StateDict: '{key}' must be an array, got {type(value).__name__}."
            )
        self._tensors[key] = value

    def __delitem__(self, key: str) -> None:
        del self._tensors[key]

    def __iter__(self) -> Iterator[str]:
        return iter(self._tensors)

    def __len__(self) -> int:
        return len(self._tensors)

    # ------------------------------------------------------------------ summaries
    def numel(self) -> int:
        """Total number of elements over all tensors."""
        return sum(int(np.prod(np.shape(v))) for v in self._tensors.values())

    @property
    def nbytes(self) -> int:
        """Total size of the tensors' data in bytes."""
        return sum(
            int(np.prod(np.shape(v))) * np.dtype(_dtype(v)).itemsize for v in self._tensors.values()
        )

    def summary(self) -> str:
        """A table of every tensor's key, shape and dtype, and the totals.

        Example:
            >>> import numpy as np
            >>> from axon.serialize import StateDict
            >>> print(StateDict({"w": np.zeros((2, 3), np.float32)}).summary())
            name  shape   dtype
            w     (2, 3)  float32
            1 tensor, 6 elements, 24 bytes
        """
        rows = [("name", "shape", "dtype")]
        rows += [(k, shape_str(np.shape(v)), str(_dtype(v))) for k, v in self._tensors.items()]
        return format_table(rows) + "\n" + self._totals()

    def _totals(self) -> str:
        n = len(self)
        return (
            f"{n} tensor{'' if n == 1 else 's'}, {self.numel():,} elements, {self.nbytes:,} bytes"
        )

    def __repr__(self) -> str:
        meta = f", metadata={self.metadata}" if self.metadata else ""
        return f"StateDict({self._totals()}{meta})"


def _dtype(value) -> np.dtype:
    return np.dtype(value.dtype)


def format_table(rows: list[tuple[str, ...]]) -> str:
    """Left-aligned columns separated by two spaces (the first row is the header)."""
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    return "\n".join(
        "  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)).rstrip() for r in rows
    )
