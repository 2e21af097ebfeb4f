"""Export a model's forward pass to StableHLO with `jax.export`, for serving without Python model
code: the file holds the compiled program and the weights (as constants); loading it needs only
jax.

    axon.serialize.export_stablehlo(model, x, "model.stablehlo")
    forward = axon.serialize.load_stablehlo("model.stablehlo")   # or jax.export.deserialize
    y = forward(x)
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Callable, Iterator
from pathlib import Path

import jax

from axon._errors import type_error, value_error
from axon.autograd import no_grad
from axon.autograd.variable import Variable, as_array
from axon.nn.module import Module
from axon.serialize._io import atomic_write

__all__ = ["export_stablehlo", "load_stablehlo"]


def _array(out):
    return out.data if isinstance(out, Variable) else out


@contextlib.contextmanager
def eval_forward(model: Module, where: str) -> Iterator[Callable]:
    """`model`'s eval-mode forward as a pure function of arrays, for tracing: Variables in its
    output are unwrapped, nothing is recorded on the tape, and the model's mode is restored on
    exit. Parameters and buffers enter the trace as constants (an export's weights). A forward
    that branches in Python on a traced value raises a ValueError from `where`."""
    was_training = model.training
    model.eval()

    def forward(*xs):
        try:
            with no_grad():
                out = model(*xs)
        except (jax.errors.ConcretizationTypeError, jax.errors.TracerBoolConversionError) as err:
            raise value_error(
                where,
                f"the forward pass of {type(model).__name__} could not be traced for export: "
                f"{str(err).splitlines()[0]}",
            ) from err
        return jax.tree.map(_array, out, is_leaf=lambda v: isinstance(v, Variable))

    try:
        yield forward
    finally:
        model.train(was_training)


def export_stablehlo(
    model: Module,
    *example_inputs,
    path: str | os.PathLike | None = None,
    platforms: tuple[str, ...] | None = None,
) -> jax.export.Exported:
    """Trace `model(*example_inputs)` in eval mode and export it with `jax.export`.

    The parameters and buffers are baked into the program as constants, so the result is
    self-contained: `jax.export.deserialize(data).call(x)` runs it without axon or the model's
    class. Input shapes and dtypes are those of `example_inputs` (a new shape needs a new export).

    Args:
        model: the module to export; it is switched to eval mode for the trace and restored.
        example_inputs: arrays (or Variables) with the shapes and dtypes to serve.
        path: if given, the serialized program is written there (atomically).
        platforms: the platforms to compile for later (default: the current backend), e.g.
            `("cpu", "cuda")`.

    Returns:
        The `jax.export.Exported`; `.mlir_module()` is the StableHLO text, `.serialize()` the
        bytes written to `path`.

    Raises:
        TypeError: when `model` is not an axon Module.
        ValueError: when the forward pass cannot be traced (for example Python control flow on
            input values); the message names the layer's error.

    Example:
        >>> import jax.numpy as jnp, axon
        >>> from axon import nn
        >>> from axon.serialize import export_stablehlo
        >>> exported = export_stablehlo(nn.Linear(3, 2), jnp.ones((4, 3)))
        >>> exported.call(jnp.ones((4, 3))).shape, "stablehlo" in exported.mlir_module()
        ((4, 2), True)
    """
    where = "axon.serialize.export_stablehlo"
    if not isinstance(model, Module):
        raise type_error(where, f"expected an axon.nn.Module, got {type(model).__name__}.")
    inputs = [as_array(x) for x in example_inputs]
    with eval_forward(model, where) as forward:
        exported = jax.export.export(jax.jit(forward), platforms=platforms)(*inputs)
    if path is not None:
        data = exported.serialize()
        atomic_write(path, lambda tmp: Path(tmp).write_bytes(data), where)
    return exported


def load_stablehlo(path: str | os.PathLike) -> Callable:
    """The forward function stored by `export_stablehlo(..., path=...)` (`Exported.call`)."""
    where = "axon.serialize.load_stablehlo"
    path = Path(path)
    if not path.is_file():
        raise value_error(where, f"no such file: {str(path)!r}.")
    try:
        exported = jax.export.deserialize(bytearray(path.read_bytes()))
    except Exception as err:  # the flatbuffer reader raises several kinds
        raise value_error(
            where,
            f"{str(path)!r} is not a serialized jax.export program ({type(err).__name__}).",
        ) from err
    return exported.call
