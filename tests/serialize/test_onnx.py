"""ONNX export (`axon.onnx.export`, through jax2onnx): files that onnxruntime runs, and errors.

jax2onnx imports its plugins on the first conversion in a process (about 10 s, once).
"""

from __future__ import annotations

import subprocess
import sys

import jax.numpy as jnp
import numpy as np
import pytest
from export_models import MODELS, mlp

import axon
from axon import nn

ort = pytest.importorskip("onnxruntime")
onnx = pytest.importorskip("onnx")
pytest.importorskip("jax2onnx")

TOL = dict(rtol=1e-4, atol=1e-5)  # float32: onnxruntime's kernels vs. XLA's


def _model(name):
    model = MODELS[name][0]()
    state = model.state_dict()
    if "1.running_var" in state:  # the CNN's BatchNorm2d: statistics that are not 0 and 1
        rng = np.random.default_rng(2)
        state["1.running_mean"] = rng.standard_normal(4).astype(np.float32)
        state["1.running_var"] = rng.uniform(0.5, 2.0, 4).astype(np.float32)
        model.load_state_dict(state)
    return model


def _input(shape, seed=0):
    return np.random.default_rng(seed).standard_normal(shape).astype(np.float32)


def _expected(model, x):
    model.eval()
    with axon.no_grad():
        return np.asarray(model(jnp.asarray(x)).data)


def _run(path, x):
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    return session.run(None, {"input": x})[0]


@pytest.mark.parametrize("name", list(MODELS))
def test_onnxruntime_runs_the_eval_forward(name, tmp_path):
    model = _model(name)
    x = _input(MODELS[name][1])
    path = tmp_path / f"{name}.onnx"
    proto = axon.onnx.export(model, x, path)
    assert model.training  # restored after the trace
    assert onnx.load(path) == proto
    assert [v.name for v in proto.graph.input] == ["input"]
    assert [v.name for v in proto.graph.output] == ["output"]
    assert len(proto.graph.initializer) > 0  # the weights, baked in
    np.testing.assert_allclose(_run(path, x), _expected(model, x), **TOL)


@pytest.mark.parametrize("name", list(MODELS))
def test_dynamic_batch_serves_any_batch_size(name, tmp_path):
    model = _model(name)
    shape = MODELS[name][1]
    path = tmp_path / f"{name}.onnx"
    axon.onnx.export(model, _input(shape), path, dynamic_batch=True)
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    assert session.get_inputs()[0].shape == ["N", *shape[1:]]
    for batch in (1, 5):
        x = _input((batch, *shape[1:]), seed=batch)
        np.testing.assert_allclose(_run(path, x), _expected(model, x), **TOL)


def test_several_inputs_and_outputs(tmp_path):
    class TwoInTwoOut(nn.Module):
        def __init__(self):
            super().__init__()
            self.fc = nn.Linear(4, 2)

        def forward(self, a, b):
            return self.fc(a), (a * b).sum(-1)

    model = TwoInTwoOut()
    a, b = _input((3, 4)), _input((3, 4), seed=1)
    path = tmp_path / "two.onnx"
    axon.onnx.export(model, (a, b), path)
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    got = session.run(["output_0", "output_1"], {"input_0": a, "input_1": b})
    want = [np.asarray(getattr(v, "data", v)) for v in model(jnp.asarray(a), jnp.asarray(b))]
    for g, w in zip(got, want, strict=True):
        np.testing.assert_allclose(g, w, **TOL)


# ----------------------------------------------------------------------------- errors
class Features(nn.Module):
    """A real axon layer that does not convert: AdaptiveMaxPool2d's arg-max `reduce_window`
    (a (value, index) reducer; jax2onnx converts add, max and min reducers only)."""

    def __init__(self):
        super().__init__()
        self.features = nn.Sequential(
            nn.Conv2d(1, 2, 3, padding=1), nn.ReLU(), nn.AdaptiveMaxPool2d(2), nn.Flatten()
        )
        self.head = nn.Linear(8, 2)

    def forward(self, x):
        return self.head(self.features(x))


def test_a_layer_that_cannot_be_exported_is_named_and_no_file_is_left(tmp_path):
    model = Features()
    path = tmp_path / "model.onnx"
    path.write_bytes(b"the previous file")
    with pytest.raises(
        axon.onnx.ExportError,
        match=r"^axon\.onnx\.export: axon\.nn\.AdaptiveMaxPool2d \(features\.2\) cannot be "
        r"exported to ONNX: it uses the JAX primitive 'reduce_window' on float32\[1,2,4,4\], "
        r"int32\[1,2,4,4\], .*export_stablehlo",
    ) as info:
        axon.onnx.export(model, _input((1, 1, 4, 4)), path)
    err = info.value
    assert isinstance(err, ValueError)
    assert (err.path, err.primitive) == ("features.2", "reduce_window")
    assert err.module is model.features[2]
    assert path.read_bytes() == b"the previous file"  # untouched, and no temporary file left
    assert [p.name for p in tmp_path.iterdir()] == ["model.onnx"]
    assert model.training


def test_the_models_own_forward_is_named_when_its_layers_convert(tmp_path):
    class Singular(nn.Module):
        def __init__(self):
            super().__init__()
            self.fc = nn.Linear(3, 3)

        def forward(self, x):
            return jnp.linalg.svd(self.fc(x).data, compute_uv=False)  # (N,) singular values

    with pytest.raises(
        axon.onnx.ExportError,
        match=r"^axon\.onnx\.export: Singular \(the exported model\) cannot be exported to "
        r"ONNX: it uses the JAX primitive 'svd' on float32\[3,3\]",
    ) as info:
        axon.onnx.export(Singular(), _input((3, 3)), tmp_path / "svd.onnx")
    assert (info.value.path, info.value.primitive) == ("", "svd")
    assert list(tmp_path.iterdir()) == []


def test_a_forward_that_needs_a_fixed_batch_size(tmp_path):
    class BatchBranch(nn.Module):
        def forward(self, x):
            return x * 2 if x.shape[0] > 1 else x

    with pytest.raises(
        axon.onnx.ExportError,
        match=r"BatchBranch converts with a fixed batch size but not with a symbolic one "
        r"\(.*'N' > '1'.*\)\. Export with dynamic_batch=False",
    ):
        axon.onnx.export(BatchBranch(), _input((2, 3)), tmp_path / "b.onnx", dynamic_batch=True)
    axon.onnx.export(BatchBranch(), _input((2, 3)), tmp_path / "b.onnx")  # a fixed size converts


def test_bad_arguments_fail_before_converting(tmp_path):
    model = mlp()
    x = _input((2, 8))
    with pytest.raises(
        FileNotFoundError, match=r"^axon\.onnx\.export: the directory '.*missing' does not exist"
    ):
        axon.onnx.export(model, x, tmp_path / "missing" / "model.onnx")
    with pytest.raises(IsADirectoryError, match=r"is a directory; give a file name"):
        axon.onnx.export(model, x, tmp_path)
    with pytest.raises(
        ValueError,
        match=r"^axon\.nn\.Linear \(0\): expected input of shape \(\*, 8\), got \(2, 5\)",
    ):
        axon.onnx.export(model, _input((2, 5)), tmp_path / "model.onnx")
    with pytest.raises(TypeError, match=r"^axon\.onnx\.export: expected an axon\.nn\.Module"):
        axon.onnx.export(lambda x: x, x, tmp_path / "model.onnx")
    with pytest.raises(TypeError, match=r"example_input must be an array .* got str"):
        axon.onnx.export(model, "x", tmp_path / "model.onnx")
    with pytest.raises(ValueError, match=r"dynamic_batch=True needs inputs with a first"):
        axon.onnx.export(model, np.float32(1), tmp_path / "model.onnx", dynamic_batch=True)
    with pytest.raises(ValueError, match=r"example_input is an empty tuple"):
        axon.onnx.export(model, (), tmp_path / "model.onnx")

    class Branchy(nn.Module):
        def forward(self, x):
            return x if float(x.sum()) > 0 else -x

    with pytest.raises(ValueError, match=r"^axon\.onnx\.export: the forward pass of Branchy could"):
        axon.onnx.export(Branchy(), x, tmp_path / "model.onnx")
    assert list(tmp_path.iterdir()) == []
    assert model.training


def test_missing_converter_says_what_to_install(tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "jax2onnx", None)  # `import jax2onnx` raises ImportError
    with pytest.raises(ImportError, match=r"needs jax2onnx and onnx .*pip install 'axon\[onnx\]'"):
        axon.onnx.export(mlp(), _input((2, 8)), tmp_path / "model.onnx")


def test_missing_dependency_of_the_converter_says_what_to_install(tmp_path, monkeypatch):
    import jax2onnx

    def to_onnx(*args, **kwargs):  # as jax2onnx's convolution plugin without flax installed
        raise ModuleNotFoundError("No module named 'flax'", name="flax")

    monkeypatch.setattr(jax2onnx, "to_onnx", to_onnx)
    with pytest.raises(
        ImportError,
        match=r"jax2onnx could not import a dependency \(No module named 'flax'\)\. .*axon\[onnx\]",
    ):
        axon.onnx.export(mlp(), _input((2, 8)), tmp_path / "model.onnx")
    assert list(tmp_path.iterdir()) == []


def test_import_axon_does_not_import_the_converter():
    code = (
        "import sys, axon; axon.onnx.export; "
        "assert not {'jax2onnx', 'onnx', 'onnxruntime'} & set(sys.modules), sys.modules.keys()"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr


def test_served_without_axon_or_jax(tmp_path):
    model = mlp()
    x = _input((2, 8))
    path = tmp_path / "mlp.onnx"
    axon.onnx.export(model, x, path)
    code = (
        "import sys, numpy as np, onnxruntime as ort; "
        f"s = ort.InferenceSession({str(path)!r}, providers=['CPUExecutionProvider']); "
        f"print(s.run(None, {{'input': np.asarray({x.tolist()}, np.float32)}})[0].tolist()); "
        "assert not {'jax', 'axon'} & set(sys.modules)"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    np.testing.assert_allclose(np.array(eval(result.stdout)), _expected(model, x), **TOL)
