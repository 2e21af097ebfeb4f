"""`scripts/convert_torch_checkpoint.py`: PyTorch files to axon safetensors and back, nothing
unpickled beyond `weights_only`, clear errors."""

from __future__ import annotations

import importlib.util
import pathlib
import re
from pathlib import Path

import jax.numpy as jnp
import numpy as np
import pytest
import safetensors.torch
import torch

import axon
from axon import nn

SCRIPT = Path(__file__).resolve().parents[2] / "scripts" / "convert_torch_checkpoint.py"
_spec = importlib.util.spec_from_file_location("convert_torch_checkpoint", SCRIPT)
convert = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(convert)


def twins():
    """A torch model with trained-looking buffers and its (differently initialised) axon twin."""
    ref = torch.nn.Sequential(torch.nn.Linear(16, 16), torch.nn.BatchNorm1d(16), torch.nn.ReLU())
    ref.train()
    with torch.no_grad():
        ref(torch.randn(8, 16))
    return ref.eval(), nn.Sequential(nn.Linear(16, 16), nn.BatchNorm1d(16), nn.ReLU()).eval()


def outputs_match(ref, model) -> None:
    x = np.random.default_rng(0).standard_normal((4, 16)).astype(np.float32)
    with torch.no_grad():
        expected = ref(torch.from_numpy(x)).numpy()
    with axon.no_grad():
        np.testing.assert_allclose(np.asarray(model(jnp.asarray(x)).data), expected, atol=1e-5)


def has_row(out: str, *cells: str) -> bool:
    """Whether the printed table has a row of exactly these cells."""
    pattern = r"\s+".join(re.escape(c) for c in cells)
    return re.search(rf"^{pattern}$", out, re.MULTILINE) is not None


def run(capsys, *argv) -> tuple[int, str, str]:
    code = convert.main([str(a) for a in argv])
    out, err = capsys.readouterr()
    return code, out, err


@pytest.mark.parametrize("legacy", [False, True], ids=["zip", "legacy-pickle"])
def test_pt_file_converts_and_loads_into_the_axon_twin(tmp_path, capsys, legacy):
    ref, model = twins()
    torch.save(ref.state_dict(), tmp_path / "m.pt", _use_new_zipfile_serialization=not legacy)
    code, out, _ = run(capsys, tmp_path / "m.pt", tmp_path / "m.safetensors")
    assert code == 0
    assert has_row(out, "1.num_batches_tracked", "()", "int64")
    assert has_row(out, "0.weight", "(16, 16)", "float32")
    assert "PyTorch -> axon: 7 tensors" in out and "torch.load(weights_only=True)" in out

    model.load_state_dict(axon.load(tmp_path / "m.safetensors"))
    outputs_match(ref, model)
    assert axon.load(tmp_path / "m.safetensors").metadata["converted_from"].startswith("m.pt")


def test_nested_training_checkpoint_and_wrapper_prefix(tmp_path, capsys):
    ref, model = twins()
    wrapped = {f"module.{k}": v for k, v in ref.state_dict().items()}  # DataParallel keys
    torch.save({"epoch": 3, "state_dict": wrapped, "lr": 0.1}, tmp_path / "ckpt.pth")
    code, out, _ = run(capsys, tmp_path / "ckpt.pth", tmp_path / "m.safetensors")
    assert code == 0
    assert "under state_dict" in out and "keys: stripped prefix 'module.'" in out
    model.load_state_dict(axon.load(tmp_path / "m.safetensors"))
    outputs_match(ref, model)


def test_model_prefix_selects_a_sub_model_and_dtype_casts_floats(tmp_path, capsys):
    ref, model = twins()
    full = torch.nn.ModuleDict({"backbone": ref, "head": torch.nn.Linear(16, 2)})
    safetensors.torch.save_file(full.state_dict(), tmp_path / "full.safetensors")
    code, out, _ = run(
        capsys,
        tmp_path / "full.safetensors",
        tmp_path / "bb.safetensors",
        "--model-prefix",
        "backbone.",
        "--dtype",
        "bfloat16",
    )
    assert code == 0
    assert "kept 7 of 9 keys under 'backbone.'" in out
    assert has_row(out, "0.weight", "(16, 16)", "bfloat16 (from float32)")
    assert has_row(out, "1.num_batches_tracked", "()", "int64")  # integers keep their dtype
    loaded = axon.load(tmp_path / "bb.safetensors", as_numpy=True)
    assert sorted(loaded) == sorted(ref.state_dict())
    assert (
        loaded["0.weight"].dtype == jnp.bfloat16
        and loaded["1.num_batches_tracked"].dtype == np.int64
    )
    expected = ref.state_dict()["0.weight"].to(torch.bfloat16)
    np.testing.assert_array_equal(loaded["0.weight"], convert.torch_to_numpy(expected))


@pytest.mark.parametrize("suffix", [".pt", ".bin", ".safetensors"])
def test_reverse_writes_a_file_torch_loads_strictly(tmp_path, capsys, suffix):
    _, model = twins()
    model.load_state_dict({k: v + 1 for k, v in model.state_dict().items()})
    axon.save(model.state_dict(), tmp_path / "axon.safetensors")
    out_path = tmp_path / f"torch{suffix}"
    code, out, _ = run(
        capsys, tmp_path / "axon.safetensors", out_path, "--reverse", "--model-prefix", "net."
    )
    assert code == 0 and "axon -> PyTorch: 7 tensors" in out and "added prefix 'net.'" in out
    if suffix == ".safetensors":
        state = safetensors.torch.load_file(out_path)
    else:
        state = torch.load(out_path, weights_only=True)
    assert state["net.1.num_batches_tracked"].dtype == torch.int64
    ref = torch.nn.Sequential(torch.nn.Linear(16, 16), torch.nn.BatchNorm1d(16), torch.nn.ReLU())
    ref.load_state_dict({k.removeprefix("net."): v for k, v in state.items()}, strict=True)
    outputs_match(ref.eval(), model)


class Payload:
    """Unpickling this object would create a file: proof that it was (or was not) unpickled."""

    def __init__(self, marker: Path):
        self.marker = marker

    def __reduce__(self):
        return pathlib.Path.touch, (self.marker,)


def test_arbitrary_pickles_are_refused_without_running_them(tmp_path, capsys):
    marker = tmp_path / "unpickled"
    weights = torch.nn.Linear(2, 2).state_dict()
    torch.save({"state_dict": weights, "payload": Payload(marker)}, tmp_path / "evil.pt")
    code, _, err = run(capsys, tmp_path / "evil.pt", tmp_path / "out.safetensors")
    assert code == 2
    assert "could not be read with torch.load(weights_only=True)" in err
    assert "never unpickles" in err
    assert not marker.exists() and not (tmp_path / "out.safetensors").exists()


def test_bad_input_errors(tmp_path, capsys):
    (tmp_path / "notes.txt").write_text("not a checkpoint")
    safetensors.torch.save_file({"w": torch.zeros(2)}, tmp_path / "w.safetensors")
    torch.save({"w": torch.zeros(2)}, tmp_path / "w.pt")
    torch.save([1, 2, 3], tmp_path / "list.pt")
    torch.save({"epoch": 1}, tmp_path / "empty.pt")
    cases = [
        (["missing.pt", "o.safetensors"], "no such file: '.*missing.pt'"),
        (["notes.txt", "o.safetensors"], "neither a torch.save file .* nor a safetensors file"),
        (["w.pt", "o.pt"], "OUT should be a .safetensors file.*--reverse"),
        (["w.pt", "o.pt", "--reverse"], "is a torch.save file; --reverse reads a .safetensors"),
        (["w.safetensors", "o.safetensors", "--model-prefix", "enc."], "no key starts with 'enc.'"),
        (["list.pt", "o.safetensors"], "holds a list, not a state dict"),
        (["empty.pt", "o.safetensors"], "holds no tensors .*'epoch': int"),
        (["w.safetensors", "w.safetensors"], "IN and OUT are the same file"),
    ]
    for argv, match in cases:
        code, _, err = run(capsys, tmp_path / argv[0], tmp_path / argv[1], *argv[2:])
        assert code == 2, argv
        assert err.startswith("convert_torch_checkpoint.py: error: ")
        assert re.search(match, err), (argv, err)
    assert not (tmp_path / "o.safetensors").exists() and not (tmp_path / "o.pt").exists()


def test_help_explains_both_directions(capsys):
    with pytest.raises(SystemExit) as info:
        convert.main(["--help"])
    assert info.value.code == 0
    out = capsys.readouterr().out
    for text in ("weights_only=True", "--reverse", "--model-prefix", "--dtype", "bfloat16"):
        assert text in out
