"""Bring a PyTorch model into axon, fine-tune it with checkpoints, resume, and hand it back.

    python examples/convert_and_finetune.py            # about 20 s on 2 CPU cores
    python examples/convert_and_finetune.py --steps 8 --every 2  # smoke test

1. Build a PyTorch MLP and save its state dict with `torch.save` (a `.pt` file).
2. Convert it with `scripts/convert_torch_checkpoint.py` (tensors only: `weights_only=True`).
3. Load it into the axon twin and check that both give the same outputs.
4. Fine-tune on scikit-learn's digits with `axon.jit`, Adam, a StepLR schedule and dropout,
   checkpointing with `axon.checkpoint.CheckpointManager`.
5. "Crash" half-way, rebuild everything, restore the latest checkpoint, finish, and check the
   weights equal those of a run that never stopped, bit for bit.
6. Save the fine-tuned weights with `axon.save` and load them into the PyTorch model.

Needs PyTorch (the `test` extra: pip install -e ".[test]").
"""

from __future__ import annotations

import argparse
import importlib.util
import tempfile
from pathlib import Path

import numpy as np
import safetensors.torch
import torch
from sklearn.datasets import load_digits

import axon
from axon import nn, optim
from axon.checkpoint import CheckpointManager
from axon.optim.lr_scheduler import StepLR

CONVERTER = Path(__file__).resolve().parents[1] / "scripts" / "convert_torch_checkpoint.py"


def build(nn, hidden: int = 64):
    """The same MLP from `torch.nn` or `axon.nn`: same names, same arguments, same keys."""
    return nn.Sequential(
        nn.Linear(64, hidden),
        nn.BatchNorm1d(hidden),
        nn.ReLU(),
        nn.Dropout(0.2),
        nn.Linear(hidden, 10),
    )


loss_fn = nn.CrossEntropyLoss()


@axon.jit
def train_step(model, opt, x, y):
    opt.zero_grad()
    loss = loss_fn(model(x), y)
    loss.backward()
    opt.step()
    return loss


def batch(x, y, step: int, size: int = 64):
    """The batch of one step: a function of the step, so a resumed run sees the same data."""
    rows = np.random.default_rng(step).choice(len(x), size, replace=False)
    return x[rows], y[rows]


def convert(pt_file: Path, out_file: Path) -> None:
    spec = importlib.util.spec_from_file_location("convert_torch_checkpoint", CONVERTER)
    script = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(script)
    if script.main([str(pt_file), str(out_file)]) != 0:
        raise SystemExit("conversion failed")


def fine_tune(weights: Path, data, steps: range, ckpt: CheckpointManager | None, resume=False):
    """Train from the converted weights (or the latest checkpoint) over `steps`."""
    axon.manual_seed(0)
    model = build(nn)
    model.load_state_dict(axon.load(weights))
    opt = optim.Adam(model.parameters(), lr=3e-3)
    sched = StepLR(opt, step_size=20, gamma=0.5)
    if resume:
        ckpt.restore(model=model, optimizer=opt, scheduler=sched)  # and the dropout stream
    for step in steps:
        loss = train_step(model, opt, *batch(*data, step))
        sched.step()
        if ckpt is not None:
            ckpt.save(step + 1, model=model, optimizer=opt, scheduler=sched, extra={"loss": loss})
    return model


def main(argv=None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=120)
    parser.add_argument("--every", type=int, default=10, help="checkpoint interval in steps")
    parser.add_argument("--workdir", default=None, help="where files go (default: a temp dir)")
    args = parser.parse_args(argv)
    work = Path(args.workdir or tempfile.mkdtemp(prefix="axon-finetune-"))
    work.mkdir(parents=True, exist_ok=True)

    digits = load_digits()
    x = (digits.data / 16.0).astype(np.float32)
    y = digits.target.astype(np.int64)

    # 1-3: PyTorch -> .pt -> safetensors -> axon, same outputs
    torch.manual_seed(0)
    torch_model = build(torch.nn).eval()
    torch.save(torch_model.state_dict(), work / "pretrained.pt")
    convert(work / "pretrained.pt", work / "pretrained.safetensors")
    model = build(nn).eval()
    model.load_state_dict(axon.load(work / "pretrained.safetensors"))
    with torch.no_grad():
        expected = torch_model(torch.from_numpy(x)).numpy()
    with axon.no_grad():
        max_diff = float(np.abs(np.asarray(model(x).data) - expected).max())
    print(f"axon and PyTorch outputs differ by at most {max_diff:.1e}")

    # 4-5: fine-tune straight through, then again with a crash and a resume
    straight = fine_tune(work / "pretrained.safetensors", (x, y), range(args.steps), None)
    half = args.steps // 2
    ckpt_dir = work / "checkpoints"
    with CheckpointManager(ckpt_dir, max_to_keep=2, save_interval_steps=args.every) as ckpt:
        fine_tune(work / "pretrained.safetensors", (x, y), range(half), ckpt)
    saved = sorted(int(p.name) for p in ckpt_dir.iterdir())
    print(f"crashed after step {half}; checkpoints on disk: {saved}")
    with CheckpointManager(ckpt_dir, max_to_keep=2, save_interval_steps=args.every) as ckpt:
        start = ckpt.latest_step()
        if start is None:
            raise SystemExit(f"no checkpoint in the first {half} steps: lower --every")
        resumed = fine_tune(
            work / "pretrained.safetensors", (x, y), range(start, args.steps), ckpt, resume=True
        )
    same = all(
        np.array_equal(a, b)
        for a, b in zip(resumed.state_dict().values(), straight.state_dict().values(), strict=True)
    )
    print(f"resumed from step {start}: weights equal the uninterrupted run's: {same}")

    # 6: back to PyTorch
    axon.save(resumed.state_dict(), work / "finetuned.safetensors")
    torch_model.load_state_dict(safetensors.torch.load_file(work / "finetuned.safetensors"))
    with torch.no_grad():
        accuracy = float((torch_model(torch.from_numpy(x)).argmax(-1).numpy() == y).mean())
    print(f"PyTorch model with the fine-tuned weights: {accuracy:.1%} training accuracy")
    print(f"files in {work}")
    return {"max_diff": max_diff, "resumed_equal": same, "accuracy": accuracy}


if __name__ == "__main__":
    main()
