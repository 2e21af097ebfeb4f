"""Train an LSTM on the adding problem (Hochreiter & Schmidhuber, 1997), with variable lengths.

    python examples/train_sequence_lstm.py                             # about 30 s on 2 CPU cores
    python examples/train_sequence_lstm.py --epochs 3 --seq-len 10     # smoke test

Each input step carries two features: a random value in [0, 1) and a marker that is 1 at exactly
two steps. The target is the sum of the two marked values, so the network must remember them
across the whole sequence. Sequences have random lengths between half of `--seq-len` and
`--seq-len`, padded with zeros; `lengths=` makes the LSTM stop at each sequence's last real step.
Predicting the mean target (1.0) scores a mean squared error of 1/6 ≈ 0.167; a model that solves
the task gets close to 0. The data is generated, so nothing is downloaded.
"""

from __future__ import annotations

import argparse
import time

import numpy as np
from tqdm import tqdm

import axon
from axon import nn, optim

BASELINE_MSE = 1 / 6  # the variance of the sum of two U(0, 1) values


class Adder(nn.Module):
    """LSTM over the sequence, then a linear read-out of the last layer's final state."""

    def __init__(self, hidden: int = 64, num_layers: int = 1):
        super().__init__()
        self.lstm = nn.LSTM(2, hidden, num_layers)
        self.head = nn.Linear(hidden, 1)

    def forward(self, x, lengths):
        _, (h_n, _) = self.lstm.forward_with_state(x, lengths=lengths)
        return self.head(h_n[-1]).squeeze(-1)  # (N,)


def make_data(n: int, seq_len: int, rng: np.random.Generator):
    """`n` padded sequences (n, seq_len, 2), their lengths (n,) and targets (n,)."""
    lengths = rng.integers(seq_len // 2, seq_len + 1, size=n)
    values = rng.random((n, seq_len)).astype(np.float32)
    markers = np.zeros((n, seq_len), np.float32)
    for i, length in enumerate(lengths):
        markers[i, rng.choice(length, size=2, replace=False)] = 1.0
    steps = np.arange(seq_len)[None, :]
    values = np.where(steps < lengths[:, None], values, 0.0)  # padding is zeros
    x = np.stack([values, markers], axis=-1).astype(np.float32)
    y = (values * markers).sum(axis=1).astype(np.float32)
    return x, lengths.astype(np.int32), y


loss_fn = nn.MSELoss()


@axon.jit
def train_step(model, opt, x, lengths, y):
    opt.zero_grad()
    loss = loss_fn(model(x, lengths), y)
    loss.backward()
    opt.step()
    return loss


def evaluate(model: nn.Module, x, lengths, y) -> tuple[float, float]:
    """Mean squared error, and the share of sequences predicted within 0.04 of the target."""
    with axon.no_grad():
        predicted = np.asarray(model(x, lengths).data)
    return float(((predicted - y) ** 2).mean()), float((np.abs(predicted - y) < 0.04).mean())


def parse_args(description: str) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("--epochs", type=int, default=10)
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--lr", type=float, default=1e-2)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--seq-len", type=int, default=50, help="the longest sequence")
    parser.add_argument("--hidden", type=int, default=64)
    parser.add_argument("--train-size", type=int, default=8192)
    return parser.parse_args()


def main() -> float:
    args = parse_args(__doc__.splitlines()[0])

    axon.manual_seed(args.seed)
    rng = np.random.default_rng(args.seed)
    x_train, len_train, y_train = make_data(args.train_size, args.seq_len, rng)
    x_test, len_test, y_test = make_data(1024, args.seq_len, rng)
    model = Adder(args.hidden)
    print(model)
    opt = optim.Adam(model.parameters(), lr=args.lr)
    # full batches only: every step has the same shapes, so the step compiles once
    per_epoch = len(x_train) // args.batch_size

    start = time.perf_counter()
    with tqdm(total=args.epochs * per_epoch, unit="step") as progress:
        for epoch in range(args.epochs):
            order = rng.permutation(len(x_train))[: per_epoch * args.batch_size]
            for batch in order.reshape(per_epoch, args.batch_size):
                loss = train_step(model, opt, x_train[batch], len_train[batch], y_train[batch])
                progress.update()
            progress.set_postfix(epoch=epoch + 1, loss=f"{loss.item():.4f}")
    elapsed = time.perf_counter() - start

    mse, within = evaluate(model, x_test, len_test, y_test)
    print(f"{args.epochs * per_epoch / elapsed:.0f} steps/s")
    print(
        f"test MSE: {mse:.4f} (predicting the mean: {BASELINE_MSE:.4f}); "
        f"{within:.1%} of {len(y_test)} held-out sums within 0.04"
    )
    return mse


if __name__ == "__main__":
    main()
