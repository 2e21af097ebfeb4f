"""`axon.save`, `axon.load` and `StateDict` against PyTorch: files interchange both ways for a
model of every layer family, dtypes survive, writes are atomic, bad input fails clearly and
changes nothing."""

from __future__ import annotations

import functools
import os
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np
import pytest
import safetensors.numpy
import safetensors.torch
import torch
from helpers import assert_close, to_numpy

import axon
from axon import nn
from axon.serialize import StateDict

jax.config.update("jax_default_matmul_precision", "highest")

OUT_TOL = dict(rtol=1e-4, atol=2e-5)  # whole models: float32 sums reordered across many layers


# ---------------------------------------------------------------------------------- twin models
# Each builder makes the same model from `axon.nn` or `torch.nn` (same names, same arguments).
# Widths repeat on purpose: axon compiles each initialiser once per weight shape.
def cnn2d(nn):
    return nn.Sequential(
        nn.Conv2d(4, 4, 3, padding=1),
        nn.BatchNorm2d(4),
        nn.ReLU(),
        nn.MaxPool2d(2),
        nn.Conv2d(4, 4, 3, padding=1, groups=2, bias=False),
        nn.GroupNorm(2, 4),
        nn.GELU(),
        nn.InstanceNorm2d(4, affine=True, track_running_stats=True),
        nn.Dropout2d(0.2),
        nn.ConvTranspose2d(4, 4, 2, stride=2),
        nn.AvgPool2d(2),
        nn.AdaptiveMaxPool2d(3),
        nn.AdaptiveAvgPool2d(2),
        nn.Flatten(),
        nn.Linear(16, 16),
        nn.LayerNorm(16),
        nn.SiLU(),
        nn.Dropout(0.3),
        nn.Linear(16, 16),
        nn.BatchNorm1d(16),
        nn.Tanh(),
        nn.RMSNorm(16),
        nn.Mish(),
        nn.LeakyReLU(0.1),
        nn.ELU(),
        nn.Sigmoid(),
        nn.Identity(),
        nn.Softmax(dim=-1),
        nn.LogSoftmax(dim=-1),
    )


def cnn1d(nn):
    return nn.Sequential(
        nn.Conv1d(4, 4, 3, padding=1),
        nn.InstanceNorm1d(4, affine=True),
        nn.MaxPool1d(2),
        nn.ConvTranspose1d(4, 4, 3, stride=2),
        nn.AvgPool1d(2),
        nn.AdaptiveAvgPool1d(4),
        nn.AdaptiveMaxPool1d(2),
        nn.AlphaDropout(0.2),
        nn.Flatten(),
    )


def recurrent(nn):
    class Net(nn.Module):
        def __init__(self):
            super().__init__()
            self.lstm = nn.LSTM(4, 4, num_layers=2, batch_first=True, bidirectional=True)
            self.gru = nn.GRU(8, 4, batch_first=True)
            self.rnn = nn.RNN(4, 4, batch_first=True, nonlinearity="relu")
            self.lstm_cell = nn.LSTMCell(4, 4)
            self.gru_cell = nn.GRUCell(4, 4)
            self.rnn_cell = nn.RNNCell(4, 4)

        def forward(self, x):
            y = _first(self.rnn(_first(self.gru(_first(self.lstm(x))))))
            h = _first(self.lstm_cell(y[:, -1]))
            return self.rnn_cell(self.gru_cell(h))

    return Net()


def embedding(nn):
    return nn.Sequential(nn.Embedding(10, 4, padding_idx=0), nn.Flatten(), nn.Linear(16, 16))


def attention(nn):
    class Net(nn.Module):
        def __init__(self):
            super().__init__()
            if nn is torch.nn:
                self.attn = nn.MultiheadAttention(16, 2, batch_first=True)
                self.cross = nn.MultiheadAttention(16, 2, batch_first=True, kdim=8, vdim=8)
            else:
                self.attn = nn.MultiHeadAttention(16, 2, batch_first=True)
                self.cross = nn.CrossAttention(16, 2, batch_first=True, kdim=8, vdim=8)

        def forward(self, x):
            context = x[..., :8]
            if nn is torch.nn:
                y = self.attn(x, x, x, need_weights=False)[0]
                return self.cross(y, context, context, need_weights=False)[0]
            return self.cross(self.attn(x), context)

    return Net()


def differential(nn):  # axon only: PyTorch has no twin
    return nn.Sequential(nn.DifferentialAttention(16, 2, depth=2), nn.RMSNorm(16))


def transformer(nn):
    layer = nn.TransformerEncoderLayer(16, 2, dim_feedforward=16, dropout=0.1, batch_first=True)
    return nn.TransformerEncoder(layer, 2, norm=nn.LayerNorm(16))


def advanced(nn):  # axon only: layers from the seed's advanced set, no torch.nn twins
    class Net(nn.Module):
        def __init__(self):
            super().__init__()
            block = nn.ResidualBlock(nn.Sequential(nn.Linear(16, 16), nn.ReLU(), nn.Linear(16, 16)))
            self.body = nn.Sequential(
                block, nn.MoELayer(16, 8, 4, 2), nn.SparseLinear(16, 16), nn.TernaryLinear(16, 16)
            )
            self.ticket = nn.LotteryTicket(nn.Sequential(nn.Linear(16, 16)))
            self.gcn, self.gat = nn.GCNConv(16, 16), nn.GATConv(16, 8, heads=2)
            self.stft, self.fft = nn.STFT(8, 4), nn.FFT1d(8)
            self.register_buffer("adjacency", jnp.eye(3) + jnp.eye(3, k=1))

        def forward(self, x):
            y = self.ticket(self.body(x))  # (N, 3, 16)
            y = self.gat(self.gcn(y, self.adjacency), self.adjacency)
            return (
                jnp.concatenate(
                    [y.data.reshape(y.shape[0], -1), self.fft(y).data.reshape(y.shape[0], -1)], -1
                )
                + self.stft(y[..., 0, :]).data.sum()
            )

    return Net()


def seq2seq(nn):
    cls = nn.Transformer if nn is torch.nn else nn.Seq2SeqTransformer

    class Net(nn.Module):
        def __init__(self):
            super().__init__()
            self.model = cls(16, 2, 1, 1, dim_feedforward=16, dropout=0.1, batch_first=True)

        def forward(self, x):
            return self.model(x, x[:, :2])

    return Net()


def _first(out):
    return out[0] if isinstance(out, tuple) else out


# id -> (builder, the axon.nn names it needs, input maker)
MODELS = {
    "cnn2d": (
        cnn2d,
        ["Conv2d", "GroupNorm", "MaxPool2d"],
        lambda g: g.standard_normal((2, 4, 8, 8)),
    ),
    "cnn1d": (cnn1d, ["Conv1d", "MaxPool1d"], lambda g: g.standard_normal((2, 4, 8))),
    "recurrent": (recurrent, ["LSTM", "GRUCell"], lambda g: g.standard_normal((2, 5, 4))),
    "embedding": (embedding, ["Embedding"], lambda g: g.integers(0, 10, (2, 4))),
    "attention": (attention, ["MultiHeadAttention"], lambda g: g.standard_normal((2, 3, 16))),
    "differential": (
        differential,
        ["DifferentialAttention"],
        lambda g: g.standard_normal((2, 3, 16)),
    ),
    "seq2seq": (seq2seq, ["Seq2SeqTransformer"], lambda g: g.standard_normal((2, 3, 16))),
    "advanced": (
        advanced,
        ["ResidualBlock", "MoELayer", "GCNConv", "STFT"],
        lambda g: g.standard_normal((2, 3, 16)),
    ),
    "transformer": (
        transformer,
        ["TransformerEncoderLayer", "TransformerEncoder"],
        lambda g: g.standard_normal((2, 3, 16)),
    ),
}
TWINS = [model_id for model_id in MODELS if model_id not in ("differential", "advanced")]
# Classes of axon.nn without state to interchange, or only meaningful inside another layer;
# GroupSparsity is a regulariser applied to another layer's weight (no state of its own).
NOT_LAYERS = {
    "Module",
    "Parameter",
    "Sequential",
    "ModuleList",
    "ModuleDict",
    "Reduction",
    "GroupSparsity",
}


def _needs(model_id: str) -> None:
    missing = [name for name in MODELS[model_id][1] if not hasattr(nn, name)]
    if missing:
        pytest.skip(f"axon.nn has no {', '.join(missing)} yet")


@functools.cache
def _axon_model(model_id: str):
    """One axon instance per model (building compiles every initialiser once per shape); each
    test loads its own state into it first."""
    return MODELS[model_id][0](nn).eval()


def _input(model_id: str, seed: int = 0) -> np.ndarray:
    x = MODELS[model_id][2](np.random.default_rng(seed))
    return x.astype(np.float32) if x.dtype.kind == "f" else x.astype(np.int64)


def _random_state(reference: dict, seed: int) -> dict[str, np.ndarray]:
    """Random values for every entry (variances positive, counters non-zero)."""
    g = np.random.default_rng(seed)
    out = {}
    for key, value in reference.items():
        dtype, shape = np.dtype(value.dtype), tuple(value.shape)
        if dtype.kind in "iu":
            out[key] = np.full(shape, 3 + seed, dtype)
        elif key.endswith("running_var"):
            out[key] = g.uniform(0.5, 1.5, shape).astype(dtype)
        else:
            out[key] = (0.5 * g.standard_normal(shape)).astype(dtype)
    return out


def _run_torch(model, x) -> np.ndarray:
    with torch.no_grad():
        return model(torch.as_tensor(x)).numpy()


def _run_axon(model, x) -> np.ndarray:
    with axon.no_grad():
        return to_numpy(model(jnp.asarray(x)))


def _assert_same_state(a, b) -> None:
    """Same keys, shapes, dtypes and bits."""
    assert sorted(a) == sorted(b)
    for key in a:
        x, y = np.asarray(a[key]), np.asarray(b[key])
        assert x.dtype == y.dtype, f"{key}: {x.dtype} vs {y.dtype}"
        assert x.shape == y.shape, f"{key}: {x.shape} vs {y.shape}"
        assert x.tobytes() == y.tobytes(), f"{key}: values differ"


# ---------------------------------------------------------------------------------- interchange
@pytest.mark.parametrize("model_id", TWINS)
def test_torch_file_loads_into_axon_twin_unchanged(model_id, tmp_path):
    _needs(model_id)
    ref = MODELS[model_id][0](torch.nn)
    ref.train()
    for seed in (1, 2):  # real running statistics and num_batches_tracked
        _run_torch(ref, _input(model_id, seed))
    ref.eval()
    path = tmp_path / "torch.safetensors"
    safetensors.torch.save_file(ref.state_dict(), path)

    model = _axon_model(model_id)
    assert model.load_state_dict(axon.load(path)) == ([], [])
    x = _input(model_id)
    assert_close(_run_axon(model, x), _run_torch(ref, x), **OUT_TOL)


@pytest.mark.parametrize("model_id", TWINS)
def test_axon_file_loads_into_torch_twin_strict(model_id, tmp_path):
    _needs(model_id)
    model = _axon_model(model_id)
    model.load_state_dict(_random_state(model.state_dict(), seed=1))
    path = tmp_path / "axon.safetensors"
    axon.save(model.state_dict(), path)

    ref = MODELS[model_id][0](torch.nn)
    loaded = safetensors.torch.load_file(path)
    expected_dtypes = {k: v.dtype for k, v in ref.state_dict().items()}
    assert {k: v.dtype for k, v in loaded.items()} == expected_dtypes  # int64 counters included
    ref.load_state_dict(loaded, strict=True)
    ref.eval()
    x = _input(model_id)
    assert_close(_run_axon(model, x), _run_torch(ref, x), **OUT_TOL)


@pytest.mark.parametrize("model_id", list(MODELS))
def test_axon_file_axon_round_trip_is_bit_exact(model_id, tmp_path):
    _needs(model_id)
    model = _axon_model(model_id)
    model.load_state_dict(_random_state(model.state_dict(), seed=2))
    saved = model.state_dict()
    x = _input(model_id)
    expected = _run_axon(model, x)
    StateDict.from_module(model).save(tmp_path / "m.safetensors")

    model.load_state_dict(_random_state(saved, seed=3))  # overwrite everything
    model.load_state_dict(StateDict.load(tmp_path / "m.safetensors"))
    _assert_same_state(model.state_dict(), saved)
    np.testing.assert_array_equal(_run_axon(model, x), expected)


def test_every_layer_of_axon_nn_is_in_an_interchange_model():
    """A new layer family joins MODELS above, so its state dict is checked against PyTorch."""
    covered = set()
    for model_id, (_, needs, _) in MODELS.items():
        if all(hasattr(nn, name) for name in needs):
            covered |= {type(m).__name__ for m in _axon_model(model_id).modules()}
    layers = {
        name
        for name in dir(nn)
        if isinstance(getattr(nn, name), type)
        and issubclass(getattr(nn, name), nn.Module)
        and not name.endswith("Loss")
    }
    missing = sorted(layers - covered - NOT_LAYERS)
    assert not missing, f"add {missing} to a model in MODELS (tests/serialize/test_safetensors.py)"


# ---------------------------------------------------------------------------------- dtypes
@pytest.mark.parametrize("dtype", ["float32", "bfloat16", "float16"])
def test_float_dtypes_round_trip_through_torch_bit_exact(dtype, tmp_path):
    model = nn.Sequential(nn.Linear(5, 4), nn.BatchNorm1d(4)).to(jnp.dtype(dtype))
    axon.save(model.state_dict(), tmp_path / "a.safetensors")

    ref = torch.nn.Sequential(torch.nn.Linear(5, 4), torch.nn.BatchNorm1d(4))
    ref.to(getattr(torch, dtype)).load_state_dict(
        safetensors.torch.load_file(tmp_path / "a.safetensors"), strict=True
    )
    assert ref[0].weight.dtype == getattr(torch, dtype)
    assert ref[1].num_batches_tracked.dtype == torch.int64
    safetensors.torch.save_file(ref.state_dict(), tmp_path / "t.safetensors")

    back = axon.load(tmp_path / "t.safetensors")
    assert back["0.weight"].dtype == jnp.dtype(dtype)
    _assert_same_state(back, model.state_dict())


def test_numpy_arrays_keep_their_exact_dtype(tmp_path):
    arrays = {
        "f64": np.linspace(0, 1, 5),
        "i64": np.arange(4, dtype=np.int64) - 2**40,
        "i32": np.arange(3, dtype=np.int32),
        "u8": np.arange(3, dtype=np.uint8),
        "flag": np.array([True, False]),
        "scalar": np.float32(2.5),
    }
    axon.save(arrays, tmp_path / "n.safetensors")
    loaded = axon.load(tmp_path / "n.safetensors", as_numpy=True)
    for key, value in arrays.items():
        assert loaded[key].dtype == np.asarray(value).dtype, key
        np.testing.assert_array_equal(loaded[key], value)


def test_jax_int32_is_written_as_torch_int64(tmp_path):
    axon.save({"n": jnp.asarray(5, jnp.int32)}, tmp_path / "c.safetensors")
    assert safetensors.torch.load_file(tmp_path / "c.safetensors")["n"].dtype == torch.int64
    assert axon.load(tmp_path / "c.safetensors")["n"].dtype == jnp.int32  # jax without x64


# ---------------------------------------------------------------------------------- StateDict
def test_state_dict_mapping_metadata_and_summary(tmp_path):
    model = nn.Sequential(nn.Linear(3, 2), nn.BatchNorm1d(2))
    sd = StateDict.from_module(model, metadata={"arch": "mlp"})
    assert list(sd) == list(model.state_dict())
    assert len(sd) == 7 and "1.running_mean" in sd
    sd["extra"] = axon.nn.Parameter(jnp.ones(2))  # Parameters are stored by value
    assert isinstance(sd["extra"], jax.Array)
    del sd["extra"]
    assert sd.numel() == 6 + 2 + 2 + 2 + 2 + 2 + 1
    assert "1.num_batches_tracked  ()" in sd.summary()
    assert repr(sd).startswith("StateDict(7 tensors, 17 elements")

    sd.save(tmp_path / "m.safetensors")
    loaded = axon.load(tmp_path / "m.safetensors")
    assert isinstance(loaded, StateDict)
    assert loaded.metadata == {"format": "pt", "arch": "mlp"}
    assert safetensors.safe_open(tmp_path / "m.safetensors", "np").metadata()["arch"] == "mlp"
    axon.save(loaded, tmp_path / "again.safetensors")  # a StateDict's own metadata is kept
    assert axon.load(tmp_path / "again.safetensors").metadata["arch"] == "mlp"
    assert axon.StateDict is StateDict


def test_state_dict_rejects_non_arrays():
    with pytest.raises(TypeError, match="'w' must be an array, got list"):
        StateDict({"w": [1.0, 2.0]})
    with pytest.raises(TypeError, match="keys must be strings"):
        StateDict({1: np.zeros(2)})
    with pytest.raises(TypeError, match="metadata holds strings only.*'epoch': int"):
        StateDict(metadata={"epoch": 3})


def test_torch_tensors_can_be_saved_directly(tmp_path):
    weights = {"w": torch.randn(2, 3, dtype=torch.bfloat16), "n": torch.tensor(4)}
    axon.save(weights, tmp_path / "t.safetensors")
    loaded = safetensors.torch.load_file(tmp_path / "t.safetensors")
    assert torch.equal(loaded["w"], weights["w"]) and loaded["n"].dtype == torch.int64


# ---------------------------------------------------------------------------------- errors
def test_missing_file(tmp_path):
    with pytest.raises(FileNotFoundError, match="axon.load: no such file: '.*nope.safetensors'"):
        axon.load(tmp_path / "nope.safetensors")


def test_a_directory_is_not_a_file(tmp_path):
    with pytest.raises(IsADirectoryError, match="is a directory.*CheckpointManager"):
        axon.load(tmp_path)
    with pytest.raises(IsADirectoryError, match="axon.save: .* is a directory"):
        axon.save({}, tmp_path)


@pytest.mark.parametrize(
    "content, match",
    [
        (b"hello, this is text", "is not a valid safetensors file"),
        (b"\x01", "is not a valid safetensors file"),
        (b"", "is not a valid safetensors file"),
    ],
    ids=["text", "one-byte", "empty"],
)
def test_wrong_file_type(tmp_path, content, match):
    path = tmp_path / "bad.safetensors"
    path.write_bytes(content)
    with pytest.raises(ValueError, match=match):
        axon.load(path)


@pytest.mark.parametrize("legacy", [False, True], ids=["zip", "pickle"])
def test_a_pytorch_pickle_is_refused_with_the_converter_named(tmp_path, legacy):
    path = tmp_path / "model.safetensors"  # a misleading extension: the content decides
    torch.save(torch.nn.Linear(2, 2).state_dict(), path, _use_new_zipfile_serialization=not legacy)
    kind = "a pickle" if legacy else "a zip archive"
    with pytest.raises(
        ValueError, match=f"is a PyTorch checkpoint \\({kind} written by torch.save"
    ):
        axon.load(path)
    with pytest.raises(ValueError, match="never unpickles.*convert_torch_checkpoint.py"):
        StateDict.load(path)


def test_mismatched_keys_list_everything_and_change_nothing(tmp_path):
    model = nn.Sequential(nn.Linear(3, 4), nn.BatchNorm1d(4))
    before = {k: np.asarray(v) for k, v in model.state_dict().items()}
    ref = torch.nn.Sequential(torch.nn.Linear(3, 5), torch.nn.BatchNorm1d(5), torch.nn.Linear(5, 1))
    safetensors.torch.save_file(ref.state_dict(), tmp_path / "other.safetensors")
    sd = axon.load(tmp_path / "other.safetensors")
    with pytest.raises(ValueError, match="changed nothing") as info:
        model.load_state_dict(sd)
    message = str(info.value)
    assert "unexpected keys: " in message and "2.weight" in message and "2.bias" in message
    assert "0.weight: expected (4, 3), got (5, 3)" in message
    assert "1.running_var: expected (4,), got (5,)" in message
    _assert_same_state(before, model.state_dict())

    # strict=False returns the unexpected keys, but a shape mismatch is still an error
    del sd["2.weight"]
    with pytest.raises(ValueError, match="shape mismatches"):
        model.load_state_dict(sd, strict=False)
    _assert_same_state(before, model.state_dict())
    fitting = nn.Sequential(nn.Linear(3, 5))
    result = fitting.load_state_dict(sd, strict=False)
    assert result.missing_keys == [] and sorted(result.unexpected_keys) == sorted(
        k for k in sd if not k.startswith("0.")
    )
    np.testing.assert_array_equal(fitting[0].weight.data, ref[0].weight.detach().numpy())


def test_save_rejects_bad_input_and_leaves_no_file(tmp_path):
    path = tmp_path / "x.safetensors"
    with pytest.raises(TypeError, match="axon.save: 'w' is a str; a state dict maps keys to arr"):
        axon.save({"w": "weights"}, path)
    with pytest.raises(TypeError, match="expected a state dict .* got Linear.*model.state_dict"):
        axon.save(nn.Linear(2, 2), path)
    with pytest.raises(TypeError, match="metadata holds strings only.*'step': int"):
        axon.save({"w": np.zeros(2)}, path, metadata={"step": 1})
    with pytest.raises(ValueError, match="cannot write .*complex128"):
        axon.save({"w": np.zeros(2, np.complex128)}, path)
    with pytest.raises(FileNotFoundError, match="the directory '.*missing' does not exist"):
        axon.save({"w": np.zeros(2)}, tmp_path / "missing" / "x.safetensors")
    assert list(tmp_path.iterdir()) == []


# ---------------------------------------------------------------------------------- atomicity
def test_failed_write_keeps_the_old_file_and_no_temporary(tmp_path, monkeypatch):
    path = tmp_path / "m.safetensors"
    axon.save({"w": np.ones(3, np.float32)}, path)
    good = path.read_bytes()

    from axon.serialize import _io

    def crash(tensors, filename, metadata=None):
        Path(filename).write_bytes(b"\x00" * 5)  # a partial write, then the process "fails"
        raise KeyboardInterrupt

    monkeypatch.setattr(_io, "save_file", crash)
    with pytest.raises(KeyboardInterrupt):
        axon.save({"w": np.zeros(3, np.float32)}, path)
    assert path.read_bytes() == good
    assert [p.name for p in tmp_path.iterdir()] == ["m.safetensors"]


def test_sigkill_during_saves_never_leaves_a_truncated_file(tmp_path):
    """A child saves 8 MB files over and over; killed at any moment, the file is complete."""
    path = tmp_path / "big.safetensors"
    child = textwrap.dedent(
        f"""
        import sys, numpy as np, axon
        big = np.zeros(2 * 1024 * 1024, np.float32)
        for i in range(1, 10_000):
            axon.save({{"w": big + i, "i": np.array(i)}}, {str(path)!r})
            if i == 2:
                print("saving", flush=True)
        """
    )
    proc = subprocess.Popen([sys.executable, "-c", child], stdout=subprocess.PIPE, text=True)
    try:
        assert proc.stdout.readline().strip() == "saving"
        for _ in range(20):  # kill at some moment inside the save loop
            os.sched_yield()
        os.kill(proc.pid, signal.SIGKILL)
    finally:
        proc.wait(timeout=30)
    assert proc.returncode == -signal.SIGKILL
    loaded = axon.load(path, as_numpy=True)
    i = int(loaded["i"])
    assert i >= 2 and np.all(loaded["w"] == i)
