"""StableHLO export (`jax.export`): the forward pass as a self-contained program."""

from __future__ import annotations

import subprocess
import sys
import textwrap

import jax.numpy as jnp
import numpy as np
import pytest
from export_models import MODELS, mlp

import axon
from axon import nn
from axon.serialize import export_stablehlo, load_stablehlo


@pytest.mark.parametrize("name", list(MODELS))
def test_exported_program_equals_the_eval_forward_and_serves_from_a_file(name, tmp_path):
    build, shape = MODELS[name]
    axon.manual_seed(0)
    model = build()
    x = jnp.asarray(np.random.default_rng(0).standard_normal(shape).astype(np.float32))
    path = tmp_path / f"{name}.stablehlo"
    exported = export_stablehlo(model, x, path=path)
    assert model.training  # restored after the trace
    model.eval()
    expected = np.asarray(model(x).data)
    np.testing.assert_allclose(np.asarray(exported.call(x)), expected, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(np.asarray(load_stablehlo(path)(x)), expected, rtol=1e-5, atol=1e-6)
    assert "stablehlo" in exported.mlir_module()


def test_served_without_axon_or_the_model_code(tmp_path):
    axon.manual_seed(0)
    model = mlp()
    x = np.ones((2, 8), np.float32)
    path = tmp_path / "mlp.stablehlo"
    export_stablehlo(model, x, path=path)
    model.eval()
    expected = np.asarray(model(x).data)
    script = textwrap.dedent(
        f"""
        import sys, numpy as np, jax
        exported = jax.export.deserialize(bytearray(open({str(path)!r}, "rb").read()))
        print(np.asarray(exported.call(np.ones((2, 8), np.float32))).tolist())
        assert "axon" not in sys.modules
        """
    )
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, check=True)
    np.testing.assert_allclose(np.array(eval(out.stdout)), expected, rtol=1e-5, atol=1e-6)


def test_errors_are_clear(tmp_path):
    with pytest.raises(TypeError, match=r"export_stablehlo: expected an axon.nn.Module, got int"):
        export_stablehlo(3, jnp.ones(2))
    with pytest.raises(ValueError, match=r"load_stablehlo: no such file"):
        load_stablehlo(tmp_path / "missing.stablehlo")
    bad = tmp_path / "bad.stablehlo"
    bad.write_bytes(b"not a program")
    with pytest.raises(ValueError, match=r"is not a serialized jax.export program"):
        load_stablehlo(bad)

    class Branchy(nn.Module):
        def forward(self, x):
            return x if float(x.sum()) > 0 else -x

    with pytest.raises(ValueError, match=r"Branchy could not be traced for export"):
        export_stablehlo(Branchy(), jnp.ones(2))
