"""Train the seed's Sequential MLP on scikit-learn's bundled 8x8 digits, PyTorch-style.

    python examples/train_digits_mlp.py            # full run, about 30 s on 2 CPU cores
    python examples/train_digits_mlp.py --epochs 2 # smoke test

The loop is the one a PyTorch user writes: `opt.zero_grad(); loss.backward(); opt.step()`, eager,
with `axon.optim.Adam`. The data ships with scikit-learn, so nothing is downloaded.
"""

from __future__ import annotations

import argparse

import numpy as np
from sklearn.datasets import load_digits
from sklearn.model_selection import train_test_split
from tqdm import tqdm

import axon
from axon import nn, optim


def build_model(hidden: int = 128) -> nn.Sequential:
    """The seed's MLP (Linear, ReLU, Dropout, Linear, ReLU, Linear), sized for 64 pixels."""
    return (
        nn.Sequential()
        .add(nn.Linear(64, hidden))
        .add(nn.ReLU)
        .add(nn.Dropout(0.2))
        .add(nn.Linear(hidden, hidden // 2))
        .add(nn.ReLU)
        .add(nn.Linear(hidden // 2, 10))
    )


def load_data(seed: int):
    digits = load_digits()
    x = (digits.data / 16.0).astype(np.float32)  # pixel values 0..16 -> 0..1
    y = digits.target.astype(np.int32)
    return train_test_split(x, y, test_size=0.25, random_state=seed, stratify=y)


def accuracy(model: nn.Module, x: np.ndarray, y: np.ndarray) -> float:
    model.eval()
    with axon.no_grad():
        predicted = np.asarray(model(x).argmax(-1))
    model.train()
    return float((predicted == y).mean())


def parse_args(
    description: str, *, epochs: int = 30, eager_flag: bool = False
) -> argparse.Namespace:
    """The examples' shared options (`--eager` where an example offers both modes)."""
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("--epochs", type=int, default=epochs)
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--lr", type=float, default=1e-3)
    parser.add_argument("--seed", type=int, default=0)
    if eager_flag:
        parser.add_argument("--eager", action="store_true", help="run the step without axon.jit")
    return parser.parse_args()


def main() -> float:
    args = parse_args(__doc__.splitlines()[0])

    axon.manual_seed(args.seed)
    x_train, x_test, y_train, y_test = load_data(args.seed)
    model = build_model()
    print(model)
    loss_fn = nn.CrossEntropyLoss()
    opt = optim.Adam(model.parameters(), lr=args.lr)
    rng = np.random.default_rng(args.seed)

    steps = args.epochs * int(np.ceil(len(x_train) / args.batch_size))
    with tqdm(total=steps, unit="step") as progress:
        for epoch in range(args.epochs):
            order = rng.permutation(len(x_train))
            for start in range(0, len(order), args.batch_size):
                batch = order[start : start + args.batch_size]
                opt.zero_grad()
                loss = loss_fn(model(x_train[batch]), y_train[batch])
                loss.backward()
                opt.step()
                progress.update()
            progress.set_postfix(epoch=epoch + 1, loss=f"{loss.item():.4f}")

    test_acc = accuracy(model, x_test, y_test)
    print(f"test accuracy: {test_acc:.2%} on {len(x_test)} held-out digits")
    return test_acc


if __name__ == "__main__":
    main()
