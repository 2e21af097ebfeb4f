"""A small CNN (Conv2d, BatchNorm2d, MaxPool2d, Dropout, Linear) on scikit-learn's 8x8 digits.

    python examples/train_digits_cnn.py                  # jitted, about 30 s on 2 CPU cores
    python examples/train_digits_cnn.py --eager          # the same loop without axon.jit
    python examples/train_digits_cnn.py --epochs 2       # smoke test

The digits are used as they ship: 1x8x8 images. The training step is the four PyTorch lines,
compiled whole by `axon.jit` (BatchNorm's running statistics and the dropout stream are carried
in and out), or run eagerly with `--eager`. Nothing is downloaded.
"""

from __future__ import annotations

import time

import numpy as np
from tqdm import tqdm
from train_digits_mlp import load_data, parse_args

import axon
from axon import nn, optim

loss_fn = nn.CrossEntropyLoss()


def build_model() -> nn.Sequential:
    """conv-bn-relu x2, max-pool to 4x4, dropout, two linear layers."""
    return nn.Sequential(
        nn.Conv2d(1, 32, 3, padding=1),
        nn.BatchNorm2d(32),
        nn.ReLU(),
        nn.Conv2d(32, 64, 3, padding=1),
        nn.BatchNorm2d(64),
        nn.ReLU(),
        nn.MaxPool2d(2),
        nn.Dropout(0.25),
        nn.Flatten(),
        nn.Linear(64 * 4 * 4, 128),
        nn.ReLU(),
        nn.Dropout(0.25),
        nn.Linear(128, 10),
    )


def train_step(model, opt, x, y):
    opt.zero_grad()
    loss = loss_fn(model(x), y)
    loss.backward()
    opt.step()
    return loss


@axon.jit
def predict(model, x):
    return model(x).argmax(-1)


def accuracy(model: nn.Module, x: np.ndarray, y: np.ndarray) -> float:
    model.eval()  # BatchNorm uses its running statistics, dropout is off
    predicted = np.asarray(predict(model, x))
    model.train()
    return float((predicted == y).mean())


def main() -> float:
    args = parse_args(__doc__.splitlines()[0], eager_flag=True, epochs=15)

    axon.manual_seed(args.seed)
    x_train, x_test, y_train, y_test = load_data(args.seed)
    x_train, x_test = x_train.reshape(-1, 1, 8, 8), x_test.reshape(-1, 1, 8, 8)  # N, C, H, W
    model = build_model()
    print(model)
    opt = optim.Adam(model.parameters(), lr=args.lr)
    step = train_step if args.eager else axon.jit(train_step)
    rng = np.random.default_rng(args.seed)
    per_epoch = len(x_train) // args.batch_size  # full batches: one compiled program

    start, steps = time.perf_counter(), 0
    with tqdm(total=args.epochs * per_epoch, unit="step") as progress:
        for epoch in range(args.epochs):
            order = rng.permutation(len(x_train))[: per_epoch * args.batch_size]
            for batch in order.reshape(per_epoch, args.batch_size):
                loss = step(model, opt, x_train[batch], y_train[batch])
                steps += 1
                progress.update()
            progress.set_postfix(epoch=epoch + 1, loss=f"{loss.item():.4f}")
    elapsed = time.perf_counter() - start

    test_acc = accuracy(model, x_test, y_test)
    mode = "eager" if args.eager else f"axon.jit, {step.num_compiles} compilation(s)"
    print(f"{steps / elapsed:.0f} steps/s ({steps} steps, {mode})")
    print(f"test accuracy: {test_acc:.2%} on {len(x_test)} held-out digits")
    return test_acc


if __name__ == "__main__":
    main()
