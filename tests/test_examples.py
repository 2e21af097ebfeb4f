"""The examples run end to end (they are the README's promise)."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

EXAMPLES = Path(__file__).resolve().parents[1] / "examples"


def _load(name: str):
    spec = importlib.util.spec_from_file_location(name, EXAMPLES / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_train_digits_mlp_reaches_95_percent(monkeypatch, capsys):
    example = _load("train_digits_mlp")
    monkeypatch.setattr(sys, "argv", ["train_digits_mlp.py", "--epochs", "30"])
    accuracy = example.main()
    assert accuracy >= 0.95
    assert "test accuracy" in capsys.readouterr().out


def test_train_digits_jit_compiles_once_and_learns(monkeypatch, capsys):
    monkeypatch.syspath_prepend(str(EXAMPLES))  # it reuses the eager example's helpers
    example = _load("train_digits_jit")
    monkeypatch.setattr(sys, "argv", ["train_digits_jit.py", "--epochs", "30"])
    accuracy = example.main()
    assert accuracy >= 0.95
    out = capsys.readouterr().out
    assert "steps/s" in out and "(630 steps, 1 compilation)" in out


def test_train_digits_cnn_jitted_and_eager(monkeypatch, capsys):
    monkeypatch.syspath_prepend(str(EXAMPLES))  # it reuses the eager example's helpers
    example = _load("train_digits_cnn")
    monkeypatch.setattr(sys, "argv", ["train_digits_cnn.py", "--epochs", "3"])
    assert example.main() >= 0.9  # the full run (15 epochs) reaches 99%
    assert "(63 steps, axon.jit, 1 compilation(s))" in capsys.readouterr().out
    monkeypatch.setattr(sys, "argv", ["train_digits_cnn.py", "--epochs", "1", "--eager"])
    assert example.main() >= 0.5
    assert "(21 steps, eager)" in capsys.readouterr().out


def test_convert_and_finetune_matches_torch_and_resumes_exactly(monkeypatch, capsys, tmp_path):
    example = _load("convert_and_finetune")
    argv = ["convert_and_finetune.py", "--steps", "8", "--every", "2", "--workdir", str(tmp_path)]
    monkeypatch.setattr(sys, "argv", argv)
    result = example.main()
    assert result["max_diff"] < 1e-5 and result["resumed_equal"]
    out = capsys.readouterr().out
    assert "PyTorch -> axon: 9 tensors" in out and "checkpoints on disk: [2, 4]" in out
    assert "resumed from step 4: weights equal the uninterrupted run's: True" in out
    assert (tmp_path / "finetuned.safetensors").exists()


def test_train_sequence_lstm_learns_the_adding_problem(monkeypatch, capsys):
    example = _load("train_sequence_lstm")
    args = "--seq-len 8 --epochs 3 --batch-size 32 --train-size 2048 --hidden 32 --lr 0.02"
    monkeypatch.setattr(sys, "argv", ["train_sequence_lstm.py", *args.split()])
    mse = example.main()
    assert mse < 0.3 * example.BASELINE_MSE  # predicting the mean scores BASELINE_MSE
    assert "test MSE" in capsys.readouterr().out


def test_train_char_transformer_loss_falls_and_samples(monkeypatch, capsys):
    example = _load("train_char_transformer")
    argv = ["train_char_transformer.py", "--steps", "30", "--d-model", "32", "--layers", "1",
            "--block", "32", "--batch-size", "16", "--sample-len", "20"]  # fmt: skip
    monkeypatch.setattr(sys, "argv", argv)
    result = example.main()
    assert result["last_loss"] < result["first_loss"] - 0.5  # from ~ln(45) = 3.8
    assert len(result["sample"]) == 20
    out = capsys.readouterr().out
    assert "steps/s, 1 compilation(s))" in out and "--- sample" in out
