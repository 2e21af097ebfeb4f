"""Convert a PyTorch checkpoint into a safetensors file that axon loads, or back.

    python scripts/convert_torch_checkpoint.py model.pt model.safetensors
    python scripts/convert_torch_checkpoint.py pytorch_model.bin out.safetensors --dtype bfloat16
    python scripts/convert_torch_checkpoint.py ckpt.pt out.safetensors --model-prefix model.
    python scripts/convert_torch_checkpoint.py model.safetensors model.pt --reverse

Forward (default): IN is a `.pt`/`.pth`/`.bin`/`.ckpt` file written by `torch.save`, read with
`torch.load(weights_only=True)`: tensors, containers and numbers only, never an arbitrary
unpickle; or any `.safetensors` file. OUT is a `.safetensors` file with PyTorch's keys and
layouts, which `model.load_state_dict(axon.load(OUT))` loads into the axon twin.

Reverse (`--reverse`): IN is a `.safetensors` file (e.g. written by `axon.save`); OUT is a
`torch.save` file (`.pt`, `.pth`, `.bin`) of a plain `{key: tensor}` state dict, or another
`.safetensors` file, which `torch_model.load_state_dict(...)` loads with strict=True.

A training checkpoint that nests the weights (`{"state_dict": ...}`, `{"model": ...}`, ...) is
searched for its state dict; `module.` (DataParallel) and `_orig_mod.` (torch.compile) prefixes
shared by every key are removed. Every converted tensor is listed with its shape and dtype.
Reading or writing a torch file needs torch installed; safetensors to safetensors does not.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path

import jax.numpy as jnp
import numpy as np

from axon.serialize import StateDict
from axon.serialize._io import atomic_write, numpy_to_torch, sniff, torch_to_numpy
from axon.serialize._state_dict import format_table

DTYPES = ("keep", "float32", "float16", "bfloat16")
NESTED_KEYS = ("state_dict", "model_state_dict", "model", "module", "net", "weights")
WRAPPER_PREFIXES = ("module.", "_orig_mod.")


class ConversionError(Exception):
    """A problem with the input the user can fix; printed without a traceback."""


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="convert_torch_checkpoint.py",
        description=__doc__.split("\n\n")[0],
        epilog="\n\n".join(__doc__.split("\n\n")[1:]),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("input", metavar="IN", help="the checkpoint to read")
    parser.add_argument("output", metavar="OUT", help="the file to write (replaced atomically)")
    parser.add_argument(
        "--model-prefix",
        metavar="PREFIX",
        default=None,
        help="forward: keep only the keys under PREFIX (e.g. 'model.' or 'backbone.') and strip "
        "it; reverse: add PREFIX to every key",
    )
    parser.add_argument(
        "--dtype",
        choices=DTYPES,
        default="keep",
        help="cast floating-point tensors to this dtype; integer buffers such as "
        "num_batches_tracked keep theirs (default: keep)",
    )
    parser.add_argument(
        "--reverse",
        action="store_true",
        help="convert an axon .safetensors file to a PyTorch state dict file",
    )
    parser.add_argument("--quiet", action="store_true", help="print only the summary line")
    return parser.parse_args(argv)


# ----------------------------------------------------------------------------- reading
def read_torch(path: Path) -> dict:
    """`torch.load(weights_only=True)`: tensors and plain containers only, on the CPU."""
    try:
        import torch
    except ImportError:
        raise ConversionError(f"reading '{path}' needs PyTorch: pip install torch") from None
    try:
        return torch.load(path, map_location="cpu", weights_only=True)
    except Exception as err:  # torch raises UnpicklingError, RuntimeError, ... by version
        raise ConversionError(
            f"'{path}' could not be read with torch.load(weights_only=True): "
            f"{str(err).strip().splitlines()[0]}\nIt may hold Python objects other than tensors, "
            "which this script never unpickles. Save only the state dict in PyTorch: "
            "torch.save(model.state_dict(), path)."
        ) from None


def find_state_dict(obj, path: Path) -> tuple[dict, str | None]:
    """The `{key: tensor}` dict in what torch.load returned, and where it was found."""
    if not isinstance(obj, Mapping):
        raise ConversionError(
            f"'{path}' holds a {type(obj).__name__}, not a state dict (a dict of tensors)."
        )
    if obj and all(_is_tensor(v) for v in obj.values()):
        return dict(obj), None
    for key in NESTED_KEYS:
        nested = obj.get(key)
        if isinstance(nested, Mapping) and nested and all(_is_tensor(v) for v in nested.values()):
            return dict(nested), key
    tensors = {k: v for k, v in obj.items() if _is_tensor(v)}
    if tensors:
        return tensors, "the top level (non-tensor entries skipped)"
    found = ", ".join(f"{k!r}: {type(v).__name__}" for k, v in list(obj.items())[:8])
    raise ConversionError(
        f"'{path}' holds no tensors at the top level or under {', '.join(NESTED_KEYS)}; "
        f"it holds {{{found}}}."
    )


def _is_tensor(value) -> bool:
    return type(value).__module__.startswith("torch") and hasattr(value, "dtype")


def read_input(path: Path, reverse: bool) -> tuple[dict[str, np.ndarray], str]:
    """`({key: numpy array}, description of the source)`."""
    if not path.is_file():
        raise ConversionError(f"no such file: '{path}'")
    kind = sniff(path)
    if kind in ("zip", "pickle"):
        if reverse:
            raise ConversionError(
                f"'{path}' is a torch.save file; --reverse reads a .safetensors file. Drop "
                "--reverse to convert it to safetensors."
            )
        state, where = find_state_dict(read_torch(path), path)
        arrays = {k: torch_to_numpy(v) for k, v in state.items()}
        return arrays, f"torch.load(weights_only=True){f', under {where}' if where else ''}"
    if kind == "safetensors":
        return dict(StateDict.load(path, as_numpy=True)), "safetensors"
    raise ConversionError(
        f"'{path}' is neither a torch.save file (zip or pickle) nor a safetensors file."
    )


# ----------------------------------------------------------------------------- converting
def rename(keys: list[str], prefix: str | None, reverse: bool) -> tuple[dict[str, str], str]:
    """`{old key: new key}` and a note on what changed."""
    if reverse:
        return {k: f"{prefix or ''}{k}" for k in keys}, f"added prefix '{prefix}'" if prefix else ""
    if prefix:
        kept = {k: k[len(prefix) :] for k in keys if k.startswith(prefix)}
        if not kept:
            shown = ", ".join(keys[:5])
            raise ConversionError(f"no key starts with '{prefix}'; the keys start: {shown}, ...")
        return kept, f"kept {len(kept)} of {len(keys)} keys under '{prefix}', prefix stripped"
    for wrapper in WRAPPER_PREFIXES:
        if keys and all(k.startswith(wrapper) for k in keys):
            return {k: k[len(wrapper) :] for k in keys}, f"stripped prefix '{wrapper}'"
    return {k: k for k in keys}, ""


def cast(array: np.ndarray, dtype: str) -> np.ndarray:
    """`array` in `dtype` if it is floating point (bfloat16 included); others as they are."""
    if dtype == "keep" or not jnp.issubdtype(array.dtype, jnp.floating):
        return array
    return array.astype(jnp.dtype(dtype))


def write_output(arrays: dict[str, np.ndarray], path: Path, reverse: bool, source: str) -> None:
    """A safetensors file, or (reverse, any other suffix) a torch.save file; atomically."""
    if path.suffix == ".safetensors":
        StateDict(arrays, {"converted_from": source}).save(path)
        return
    if not reverse:
        raise ConversionError(
            f"OUT should be a .safetensors file, got '{path}' (use --reverse to write a "
            "PyTorch file)."
        )
    try:
        import torch
    except ImportError:
        raise ConversionError(f"writing '{path}' needs PyTorch: pip install torch") from None
    tensors = {k: numpy_to_torch(v) for k, v in arrays.items()}
    atomic_write(path, lambda tmp: torch.save(tensors, tmp), "convert_torch_checkpoint.py")


# ----------------------------------------------------------------------------- main
def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    src, dst = Path(args.input), Path(args.output)
    try:
        if src.resolve() == dst.resolve():
            raise ConversionError("IN and OUT are the same file.")
        arrays, source = read_input(src, args.reverse)
        mapping, note = rename(list(arrays), args.model_prefix, args.reverse)
        converted = {new: cast(arrays[old], args.dtype) for old, new in mapping.items()}
        write_output(converted, dst, args.reverse, f"{src.name} ({source})")
    except (ConversionError, OSError, ValueError, TypeError) as err:
        print(f"convert_torch_checkpoint.py: error: {err}", file=sys.stderr)
        return 2

    rows = [("name", "shape", "dtype")]
    for old, new in mapping.items():
        before, after = arrays[old].dtype, converted[new].dtype
        dtype = str(after) if before == after else f"{after} (from {before})"
        rows.append((new, str(tuple(converted[new].shape)), dtype))
    if not args.quiet:
        print(format_table(rows))
    total = sum(a.size for a in converted.values())
    direction = "PyTorch -> axon" if not args.reverse else "axon -> PyTorch"
    print(f"{direction}: {len(converted)} tensors, {total:,} elements, from {src} ({source})")
    if note:
        print(f"keys: {note}")
    print(f"wrote {dst}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
