"""`.safetensors` files: PyTorch's keys and layouts, no pickle, atomic writes.

Arrays cross to the file as numpy arrays (the `safetensors` library's numpy API, which handles
bfloat16 through `ml_dtypes`), so no torch is needed at runtime. Writes go to a temporary file in
the destination's directory, are flushed to disk (`fsync`), and are renamed over the destination
in one step: a crash mid-save leaves the old file, never a truncated one.
"""

from __future__ import annotations

import contextlib
import os
import uuid
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
import safetensors
from safetensors import safe_open
from safetensors.numpy import save_file

from axon.autograd.variable import Variable

PathLike = str | os.PathLike

DEFAULT_METADATA = {"format": "pt"}
"""Written into every file's header, as `safetensors.torch` and Hugging Face do: the keys and
layouts are PyTorch's."""

_CONVERT_HINT = (
    "axon never unpickles files. Convert it first: "
    "python scripts/convert_torch_checkpoint.py IN OUT.safetensors "
    "(it reads tensors only, with torch.load(weights_only=True))."
)


# ----------------------------------------------------------------------------- arrays
def to_numpy(value: Any, key: str, where: str = "axon.save") -> np.ndarray:
    """`value` (a Parameter/Variable, jax, numpy or torch array) as a contiguous numpy array.

    With jax's 64-bit mode off, jax holds PyTorch's int64 (e.g. `num_batches_tracked`) as int32;
    such jax int32 arrays are written as int64, so PyTorch reads back the dtype it wrote. Numpy
    arrays keep their dtype exactly.
    """
    if isinstance(value, Variable):
        value = value.data
    if isinstance(value, jax.Array):
        if isinstance(value, jax.core.Tracer):
            raise TypeError(
                f"{where}: '{key}' is a traced value (inside jax.jit or axon.jit); save concrete "
                "arrays outside the compiled function."
            )
        out = np.asarray(jax.device_get(value))
        if out.dtype == np.int32 and not jax.config.jax_enable_x64:
            out = out.astype(np.int64)
        return np.asarray(out, order="C")
    if type(value).__module__.startswith("torch"):  # a torch tensor, without importing torch
        return torch_to_numpy(value)
    if isinstance(value, (np.ndarray, np.generic)):
        out = np.asarray(value, order="C")
        if out.dtype == object:
            raise TypeError(f"{where}: '{key}' is a numpy array of Python objects, not numbers.")
        return out
    raise TypeError(
        f"{where}: '{key}' is a {type(value).__name__}; a state dict maps keys to arrays "
        "(Parameters, jax, numpy or torch arrays)."
    )


def torch_to_numpy(tensor) -> np.ndarray:
    """A numpy copy of a torch tensor; bfloat16 goes through its bits (numpy has no bfloat16)."""
    import torch

    tensor = tensor.detach().cpu().contiguous()
    if tensor.dtype == torch.bfloat16:
        return tensor.view(torch.int16).numpy().view(jnp.bfloat16).copy()
    return tensor.numpy().copy()


def numpy_to_torch(array: np.ndarray):
    """A torch tensor copy of a numpy array, bfloat16 included."""
    import torch

    array = np.asarray(array, order="C")
    if array.dtype == jnp.bfloat16:
        return torch.from_numpy(array.view(np.int16).copy()).view(torch.bfloat16)
    return torch.from_numpy(array.copy())


def check_metadata(metadata: Mapping[str, str] | None, where: str) -> dict[str, str]:
    if metadata is None:
        return {}
    if not isinstance(metadata, Mapping):
        raise TypeError(
            f"{where}: metadata must be a dict of str to str, got {type(metadata).__name__}."
        )
    bad = [f"{k!r}: {type(v).__name__}" for k, v in metadata.items() if not isinstance(v, str)]
    bad += [f"key {k!r}" for k in metadata if not isinstance(k, str)]
    if bad:
        raise TypeError(
            f"{where}: safetensors metadata holds strings only; not strings: {', '.join(bad)}. "
            "Convert values with str() or json.dumps()."
        )
    return dict(metadata)


# ----------------------------------------------------------------------------- files
def check_destination(path: PathLike, where: str) -> Path:
    """`path` as a Path, after checking that a file can be written there (its directory exists
    and it is not a directory itself); for writers to fail before any expensive work."""
    path = Path(path)
    if path.is_dir():
        raise IsADirectoryError(f"{where}: '{path}' is a directory; give a file name.")
    if not path.parent.is_dir():
        raise FileNotFoundError(
            f"{where}: the directory '{path.parent}' does not exist; create it first."
        )
    return path


def atomic_write(path: PathLike, write: Callable[[str], None], where: str) -> None:
    """Run `write(temporary_path)`, fsync, and rename the result over `path`.

    The temporary file lives next to `path` (a rename is atomic only within one file system) and
    is removed if anything fails, so `path` is either its old self or the complete new file.
    """
    path = check_destination(path, where)
    directory = path.parent
    tmp = directory / f".{path.name}.{uuid.uuid4().hex[:12]}.tmp"
    # created here (not by mkstemp) so the final file gets the usual umask permissions
    os.close(os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666))
    try:
        write(str(tmp))
        fd = os.open(tmp, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise
    _fsync_directory(directory)


def _fsync_directory(directory: Path) -> None:
    """Make the rename itself durable (POSIX); a no-op where directories cannot be opened."""
    try:
        fd = os.open(directory, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def write_safetensors(
    arrays: Mapping[str, Any], path: PathLike, metadata: Mapping[str, str] | None, where: str
) -> None:
    """Write `{key: array}` to `path` atomically, with `DEFAULT_METADATA` plus `metadata`."""
    if not isinstance(arrays, Mapping):
        raise TypeError(
            f"{where}: expected a state dict (a mapping of str keys to arrays), got "
            f"{type(arrays).__name__}. For a model, pass model.state_dict()."
        )
    bad_keys = [repr(k) for k in arrays if not isinstance(k, str)]
    if bad_keys:
        raise TypeError(f"{where}: state-dict keys must be strings; got {', '.join(bad_keys)}.")
    tensors = {key: to_numpy(value, key, where) for key, value in arrays.items()}
    header = {**DEFAULT_METADATA, **check_metadata(metadata, where)}

    def write(tmp: str) -> None:
        try:
            save_file(tensors, tmp, metadata=header)
        except safetensors.SafetensorError as err:
            raise ValueError(f"{where}: cannot write '{path}': {err}") from None

    atomic_write(path, write, where)


def read_safetensors(path: PathLike, where: str) -> tuple[dict[str, np.ndarray], dict[str, str]]:
    """`({key: numpy array}, metadata)` of a `.safetensors` file, with the file's exact dtypes.

    Raises FileNotFoundError, IsADirectoryError, or ValueError for anything that is not a
    safetensors file (saying so when it is a PyTorch pickle or zip checkpoint).
    """
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"{where}: no such file: '{path}'.")
    if path.is_dir():
        raise IsADirectoryError(
            f"{where}: '{path}' is a directory, not a .safetensors file. For a training "
            "checkpoint directory use axon.checkpoint.CheckpointManager(directory).restore()."
        )
    kind = sniff(path)
    if kind in ("zip", "pickle"):
        what = "a zip archive" if kind == "zip" else "a pickle"
        raise ValueError(
            f"{where}: '{path}' is a PyTorch checkpoint ({what} written by torch.save), not a "
            f"safetensors file. {_CONVERT_HINT}"
        )
    try:
        with safe_open(str(path), framework="np") as f:
            metadata = dict(f.metadata() or {})
            arrays = {key: f.get_tensor(key) for key in f.keys()}
    except safetensors.SafetensorError as err:
        raise ValueError(
            f"{where}: '{path}' is not a valid safetensors file ({err}). Expected a file written "
            "by axon.save or safetensors' save_file."
        ) from None
    return arrays, metadata


def sniff(path: PathLike) -> str:
    """'zip' (torch.save), 'pickle' (legacy torch.save), 'safetensors' or 'unknown', by content."""
    with open(path, "rb") as f:
        head = f.read(9)
    if head[:4] == b"PK\x03\x04":
        return "zip"
    if head[:1] == b"\x80" and len(head) > 1 and 2 <= head[1] <= 5:  # pickle PROTO opcode
        return "pickle"
    if len(head) == 9 and head[8:9] == b"{":  # u64 header length, then the JSON header
        return "safetensors"
    return "unknown"
