"""The digits MLP again, with the whole PyTorch-style step compiled by `@axon.jit`.

    python examples/train_digits_jit.py             # about 10 s on 2 CPU cores
    python examples/train_digits_jit.py --epochs 2  # smoke test

The step is the same four lines as the eager example. `axon.jit` carries the parameters, their
`.grad`s, the optimizer state and the random stream (dropout) into one XLA program and writes the
new values back, so the loop around it stays ordinary Python.
"""

from __future__ import annotations

import time

import numpy as np
from tqdm import tqdm
from train_digits_mlp import accuracy, build_model, load_data, parse_args

import axon
from axon import nn, optim

loss_fn = nn.CrossEntropyLoss()


@axon.jit
def train_step(model, opt, x, y):
    opt.zero_grad()
    loss = loss_fn(model(x), y)
    loss.backward()
    opt.step()
    return loss


def main() -> float:
    args = parse_args(__doc__.splitlines()[0])

    axon.manual_seed(args.seed)
    x_train, x_test, y_train, y_test = load_data(args.seed)
    model = build_model()
    opt = optim.Adam(model.parameters(), lr=args.lr)
    rng = np.random.default_rng(args.seed)
    # full batches only: every step has the same shapes, so the step compiles once
    per_epoch = len(x_train) // args.batch_size

    start, steps = time.perf_counter(), 0
    with tqdm(total=args.epochs * per_epoch, unit="step") as progress:
        for epoch in range(args.epochs):
            order = rng.permutation(len(x_train))[: per_epoch * args.batch_size]
            for batch in order.reshape(per_epoch, args.batch_size):
                loss = train_step(model, opt, x_train[batch], y_train[batch])
                steps += 1
                progress.update()
            progress.set_postfix(epoch=epoch + 1, loss=f"{loss.item():.4f}")
    elapsed = time.perf_counter() - start

    test_acc = accuracy(model, x_test, y_test)
    compiles = train_step.num_compiles
    plural = "s" if compiles > 1 else ""
    print(f"{steps / elapsed:.0f} steps/s ({steps} steps, {compiles} compilation{plural})")
    print(f"test accuracy: {test_acc:.2%} on {len(x_test)} held-out digits")
    return test_acc


if __name__ == "__main__":
    main()
