"""Export a model's forward pass to ONNX with jax2onnx, for onnxruntime and other ONNX runtimes.

    axon.onnx.export(model, x, "model.onnx")
    session = onnxruntime.InferenceSession("model.onnx")
    (y,) = session.run(None, {"input": x})

The eval-mode forward is traced as `export_stablehlo` traces it, and jax2onnx converts the jaxpr
primitive by primitive; parameters and buffers become initializers. When a primitive has no
conversion, the layer that uses it is found by converting the layers' recorded calls one at a
time, top down, so the error names the layer as well as the primitive. jax2onnx and onnx are
imported on the first export, not by `import axon` (`pip install 'axon[onnx]'`).
"""

from __future__ import annotations

import contextlib
import logging
import os
import re
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import jax
import jax.extend.core as jex
import numpy as np

from axon._errors import message, type_error, value_error
from axon.autograd import no_grad
from axon.autograd.variable import Variable, as_array
from axon.nn.module import Module
from axon.serialize._io import atomic_write, check_destination
from axon.serialize._stablehlo import eval_forward

if TYPE_CHECKING:
    import onnx

__all__ = ["ExportError", "export"]

_WHERE = "axon.onnx.export"
_INSTALL = "Install the ONNX extra: pip install 'axon[onnx]' (jax2onnx and onnxruntime)."
_BATCH = "N"  # the symbolic batch dim of dynamic_batch=True
_NO_PLUGIN = re.compile(r"No plugins registered for primitive '([^']+)'")
# primitives that only wrap a sub-program: never blamed themselves, their bodies are searched
_CALLS = {"pjit", "jit", "closed_call", "core_call", "custom_jvp_call", "custom_vjp_call", "remat"}
# control flow, whose bodies become ONNX subgraphs: searched before the primitive itself (the
# programs of other primitives, such as a reduction's reducer, are not converted on their own)
_BODIES = _CALLS | {"scan", "while", "cond"}


class ExportError(ValueError):
    """A forward pass that jax2onnx cannot convert to ONNX.

    Attributes:
        path: the layer's path in the exported model (`"layers.3"`, `""` for the model itself),
            or None when no single layer could be blamed.
        module: that layer, or None.
        primitive: the JAX primitive it uses that has no ONNX conversion (`"reduce_window"`), or
            None when no single primitive could be blamed.
    """

    def __init__(self, text: str, *, path=None, module=None, primitive=None):
        super().__init__(text)
        self.path, self.module, self.primitive = path, module, primitive


def export(
    model: Module,
    example_input,
    path: str | os.PathLike,
    *,
    dynamic_batch: bool = False,
    opset: int = 23,
    check: bool = True,
) -> onnx.ModelProto:
    """Trace `model(example_input)` in eval mode and write it to `path` as an ONNX model.

    The parameters and buffers are stored in the file as initializers, so it runs without axon,
    jax or the model's class. The graph's inputs are named `input` (`input_0`, `input_1`, ...
    for several) and its outputs `output` (`output_0`, ...); shapes and dtypes are the
    example's, except the batch dim with `dynamic_batch=True`.

    Args:
        model: the module to export; it is switched to eval mode for the trace and restored.
        example_input: an array (or Variable) with the shape and dtype to serve, or a tuple of
            them for a model with several positional inputs.
        path: the `.onnx` file to write, atomically: a failed export leaves no file behind.
        dynamic_batch: make the first dim of every input a symbolic `N` (and of every output that
            follows it), so one file serves any batch size.
        opset: the ONNX opset to target (23 is jax2onnx's default; lower it for older runtimes).
        check: load the model in onnxruntime (when it is installed) before writing it, so a
            graph that onnxruntime has no kernels for fails here, naming the layer.

    Returns:
        The `onnx.ModelProto` written to `path`.

    Raises:
        TypeError: when `model` is not an axon Module or an input is not an array.
        ValueError: from the model's own layers when `example_input` does not fit them (their
            message names the layer and the shape it expects).
        FileNotFoundError: when the directory of `path` does not exist.
        ValueError: when the forward pass cannot be traced (Python control flow on input
            values).
        ExportError: (a ValueError) when the forward pass does not convert: a layer uses a JAX
            primitive that jax2onnx cannot convert, or that onnxruntime cannot run; the message
            and the `path`, `module` and `primitive` attributes say which.
        ImportError: when jax2onnx or onnx (or a dependency of theirs) is not installed.

    Example:
        >>> import numpy as np, axon
        >>> from axon import nn
        >>> model = nn.Sequential(nn.Linear(3, 4), nn.ReLU())
        >>> _ = axon.onnx.export(model, np.ones((2, 3), np.float32), "mlp.onnx")  # doctest: +SKIP
        >>> import onnxruntime  # doctest: +SKIP
        >>> session = onnxruntime.InferenceSession("mlp.onnx")  # doctest: +SKIP
        >>> session.run(None, {"input": np.ones((2, 3), np.float32)})[0].shape  # doctest: +SKIP
        (2, 4)
    """
    if not isinstance(model, Module):
        raise type_error(_WHERE, f"expected an axon.nn.Module, got {type(model).__name__}.")
    inputs = _inputs(example_input)
    if dynamic_batch and any(x.ndim == 0 for x in inputs):
        raise value_error(_WHERE, "dynamic_batch=True needs inputs with a first (batch) dim.")
    path = check_destination(path, _WHERE)  # before the conversion, which takes seconds
    onnx, convert = _converter(opset, any(x.dtype == np.float64 for x in inputs), check)
    with eval_forward(model, _WHERE) as forward:
        outputs = jax.eval_shape(forward, *inputs)  # a layer that rejects the input says so
        specs = [_spec(x, dynamic_batch) for x in inputs]
        try:
            proto = convert(
                _flat(forward),
                specs,
                model_name=type(model).__name__,
                input_names=_names("input", len(inputs)),
                output_names=_names("output", len(jax.tree.leaves(outputs))),
            )
        except ImportError as err:  # a plugin's own dependency (flax, for convolutions)
            raise ImportError(
                f"{_WHERE}: jax2onnx could not import a dependency ({err}). {_INSTALL}"
            ) from err
        except Exception as err:  # jax2onnx raises NotImplementedError, ValueError, TypeError, ...
            raise _diagnose(model, forward, inputs, err, convert, dynamic_batch) from err
    atomic_write(path, lambda tmp: Path(tmp).write_bytes(proto.SerializeToString()), _WHERE)
    return proto


# ----------------------------------------------------------------------------- converting
def _converter(opset: int, double: bool, check: bool) -> tuple:
    """`(onnx, convert)`: the onnx module and `convert(fn, specs, **names)`, a ModelProto that
    passes onnx's strict checker and, with `check`, loads in onnxruntime (when installed)."""
    try:
        import onnx
        from jax2onnx import to_onnx
    except ImportError as err:
        raise ImportError(f"{_WHERE}: needs jax2onnx and onnx ({err}). {_INSTALL}") from err
    load = _onnxruntime_loader() if check else None

    def convert(fn: Callable, specs: list, **kwargs) -> onnx.ModelProto:
        with _quiet_plugin_discovery():
            proto = to_onnx(fn, specs, opset=opset, enable_double_precision=double, **kwargs)
        onnx.checker.check_model(proto, full_check=True)  # strict type and shape inference
        if load is not None:
            load(proto.SerializeToString())  # every node has a kernel for its dtypes
        return proto

    return onnx, convert


def _onnxruntime_loader() -> Callable[[bytes], object] | None:
    try:
        import onnxruntime
    except ImportError:
        return None
    options = onnxruntime.SessionOptions()
    options.graph_optimization_level = onnxruntime.GraphOptimizationLevel.ORT_DISABLE_ALL
    options.log_severity_level = 3  # errors only: they are raised anyway

    def load(data: bytes):
        return onnxruntime.InferenceSession(data, options, providers=["CPUExecutionProvider"])

    return load


@contextlib.contextmanager
def _quiet_plugin_discovery() -> Iterator[None]:
    """jax2onnx imports every plugin on first use and logs a traceback for each example plugin
    whose optional dependency (dm-pix, ...) is missing; none of them converts axon's layers."""
    logger = logging.getLogger("jax2onnx.plugins.plugin_system")
    level = logger.level
    logger.setLevel(logging.ERROR)
    try:
        yield
    finally:
        logger.setLevel(level)


def _inputs(example_input) -> tuple[jax.Array, ...]:
    items = example_input if isinstance(example_input, tuple) else (example_input,)
    if not items:
        raise value_error(_WHERE, "example_input is an empty tuple; give at least one array.")
    arrays = []
    for item in items:
        try:
            array = as_array(item)
        except (TypeError, ValueError):
            array = None
        if array is None or not isinstance(array, jax.Array) or array.dtype == object:
            raise type_error(
                _WHERE,
                "example_input must be an array (jax, numpy, torch or a Variable) or a tuple of "
                f"arrays, got {type(item).__name__}.",
            )
        arrays.append(array)
    return tuple(arrays)


def _spec(x: jax.Array, dynamic_batch: bool) -> jax.ShapeDtypeStruct:
    shape = x.shape
    if dynamic_batch:
        shape = jax.export.symbolic_shape(_BATCH) + shape[1:]
    return jax.ShapeDtypeStruct(shape, x.dtype)


def _names(stem: str, count: int) -> list[str]:
    return [stem] if count == 1 else [f"{stem}_{i}" for i in range(count)]


def _flat(fn: Callable) -> Callable:
    """`fn` returning the tuple of its output's array leaves (the ONNX graph's outputs)."""
    return lambda *xs: tuple(jax.tree.leaves(fn(*xs)))


def _failure(convert: Callable, fn: Callable, specs: list) -> Exception | None:
    """The exception converting `fn` raises, or None when it converts."""
    try:
        convert(fn, specs)
    except Exception as err:
        return err
    return None


def _converts(convert: Callable, fn: Callable, specs: list) -> bool:
    return _failure(convert, fn, specs) is None


def _first_line(err: Exception) -> str:
    text = str(err).strip()
    return text.splitlines()[0] if text else type(err).__name__


# ----------------------------------------------------------------------------- diagnosing
def _diagnose(model, forward, inputs, err, convert, dynamic_batch) -> Exception:
    """An ExportError naming the layer (and primitive) that `convert` fails on."""
    reason = _first_line(err)
    if dynamic_batch:
        static = [jax.ShapeDtypeStruct(x.shape, x.dtype) for x in inputs]
        static_err = _failure(convert, _flat(forward), static)
        if static_err is None:
            return ExportError(
                message(
                    _WHERE,
                    f"{type(model).__name__} converts with a fixed batch size but not with a "
                    f"symbolic one ({reason})",
                    "Export with dynamic_batch=False, once per batch size to serve.",
                )
            )
        reason = _first_line(static_err)  # the layers are searched with the fixed size
    calls = _record_calls(model, forward, inputs)
    path = _blame(calls, "", convert)
    module = model if path == "" else calls[path][0][0]
    primitive, operands = _match_primitive(reason), ""
    if primitive is None and path in calls:
        _, fn, specs = calls[path][0]
        eqn = _failing_equation(fn, specs, convert)
        if eqn is not None:
            primitive = eqn.primitive.name
            operands = " on " + ", ".join(str(v.aval) for v in eqn.invars)
    layer = f"{_class_name(module)} ({path or 'the exported model'})"
    if primitive:
        problem = f"it uses the JAX primitive '{primitive}'{operands}, which does not convert"
    else:
        problem = "its forward pass does not convert"
    return ExportError(
        message(
            _WHERE,
            f"{layer} cannot be exported to ONNX: {problem} ({reason})",
            "Replace the layer with one that exports (docs/serialization.md lists what does), or "
            "serve the model with axon.serialize.export_stablehlo, which runs every layer.",
        ),
        path=path,
        module=module,
        primitive=primitive,
    )


def _record_calls(model: Module, forward: Callable, inputs) -> dict[str, list]:
    """`{path: [(module, fn, specs), ...]}`: every call of every sub-module in one forward pass,
    as a function of its array arguments and their shapes, in the order the calls returned."""
    calls: dict[str, list] = {}

    def hook_for(path: str):
        def hook(module, args, output):
            calls.setdefault(path, []).append((module, *_call(module, args)))

        return hook

    handles = [m.register_forward_hook(hook_for(p)) for p, m in model.named_modules().items()]
    try:
        jax.eval_shape(lambda *xs: forward(*xs), *inputs)  # a new function: no cached trace
    finally:
        for handle in handles:
            handle.remove()
    return calls


def _call(module: Module, args: tuple) -> tuple[Callable, list]:
    """`(fn, specs)`: `module(*args)` as a function of the arrays in `args`, and their shapes."""
    leaves, treedef = jax.tree.flatten(args, is_leaf=lambda v: isinstance(v, Variable))
    leaves = [v.data if isinstance(v, Variable) else v for v in leaves]
    arrays = {i: v for i, v in enumerate(leaves) if isinstance(v, (jax.Array, np.ndarray))}
    specs = [jax.ShapeDtypeStruct(v.shape, v.dtype) for v in arrays.values()]

    def fn(*xs):
        given = dict(zip(arrays, xs, strict=True))
        call_args = jax.tree.unflatten(treedef, [given.get(i, v) for i, v in enumerate(leaves)])
        with no_grad():
            out = module(*call_args)
        return tuple(
            v.data if isinstance(v, Variable) else v
            for v in jax.tree.leaves(out, is_leaf=lambda v: isinstance(v, Variable))
        )

    return fn, specs


def _blame(calls: dict[str, list], path: str, convert: Callable) -> str:
    """The deepest layer under `path` (which fails) whose call fails while every call of its own
    sub-layers converts; the first such layer in call order."""
    for child in _children(calls, path):
        if any(not _converts(convert, fn, specs) for _, fn, specs in calls[child]):
            return _blame(calls, child, convert)
    return path


def _children(calls: dict[str, list], path: str) -> list[str]:
    """The called layers whose nearest called ancestor is `path` (containers like ModuleList
    are never called, so `layers.0` is a child of the model)."""

    def parent(p: str) -> str:
        while "." in p:
            p = p.rsplit(".", 1)[0]
            if p in calls:
                return p
        return ""

    return [p for p in calls if p != "" and p != path and parent(p) == path]


def _match_primitive(reason: str) -> str | None:
    found = _NO_PLUGIN.search(reason)
    return found.group(1) if found else None


def _failing_equation(fn: Callable, specs: list, convert: Callable):
    """The first equation of `fn`'s jaxpr that does not convert on its own (the equations of a
    call's or a loop's body before the equation that holds them), or None."""
    try:
        closed = jax.make_jaxpr(fn)(*specs)
    except Exception:
        return None
    return _search(closed.jaxpr, convert)


def _search(jaxpr, convert: Callable):
    for eqn in jaxpr.eqns:
        if eqn.primitive.name in _BODIES:
            for sub in _sub_jaxprs(eqn.params):
                found = _search(sub, convert)
                if found is not None:
                    return found
        if eqn.primitive.name in _CALLS or eqn.effects:
            continue
        fn, specs = _equation(eqn)
        try:
            jax.eval_shape(fn, *specs)  # equations that cannot be re-bound alone are skipped
        except Exception:
            continue
        if not _converts(convert, fn, specs):
            return eqn
    return None


def _sub_jaxprs(params: dict) -> Iterator:
    for value in params.values():
        for item in value if isinstance(value, (tuple, list)) else (value,):
            if isinstance(item, jex.ClosedJaxpr):
                yield item.jaxpr
            elif isinstance(item, jex.Jaxpr):
                yield item


def _equation(eqn) -> tuple[Callable, list]:
    """One jaxpr equation as a function of its non-literal inputs, and their shapes."""
    specs = [
        jax.ShapeDtypeStruct(v.aval.shape, v.aval.dtype)
        for v in eqn.invars
        if not isinstance(v, jex.Literal)
    ]

    def fn(*arrays):
        it = iter(arrays)
        args = [v.val if isinstance(v, jex.Literal) else next(it) for v in eqn.invars]
        out = eqn.primitive.bind(*args, **eqn.params)
        return tuple(out) if eqn.primitive.multiple_results else (out,)

    return fn, specs


def _class_name(module: Module) -> str:
    cls = type(module)
    return f"axon.nn.{cls.__name__}" if cls.__module__.startswith("axon.nn") else cls.__name__
