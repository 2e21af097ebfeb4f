"""A small decoder-only character language model, trained with `axon.jit` on text that ships with
Python: the Zen of Python (`this.s`, rot13-decoded) or, with --module, a stdlib module's source.

    python examples/train_char_transformer.py                      # about a minute on 2 CPU cores
    python examples/train_char_transformer.py --module textwrap    # learn to write Python
    python examples/train_char_transformer.py --steps 30 --d-model 32 --layers 1  # smoke test

The model is GPT-shaped: token and position embeddings, a stack of pre-norm
`TransformerEncoderLayer`s run with a causal mask (`is_causal=True`, so position t sees only
positions <= t), a final LayerNorm and a Linear head. Sampling feeds a fixed-size window, so the
compiled predictor is reused for every character.
"""

from __future__ import annotations

import argparse
import codecs
import contextlib
import importlib
import inspect
import io
import time

import numpy as np
from tqdm import tqdm

import axon
from axon import nn, optim


def load_text(module: str | None) -> str:
    if module:
        return inspect.getsource(importlib.import_module(module))
    with contextlib.redirect_stdout(io.StringIO()):  # `import this` prints the Zen
        import this
    return codecs.decode(this.s, "rot13")


class CharTransformer(nn.Module):
    """Embeddings, a causal TransformerEncoder and a linear head: (N, T) ids -> (N, T, vocab)."""

    def __init__(self, vocab: int, block: int, d_model: int, nhead: int, layers: int, dropout):
        super().__init__()
        self.tokens = nn.Embedding(vocab, d_model)
        self.positions = nn.Embedding(block, d_model)
        layer = nn.TransformerEncoderLayer(
            d_model, nhead, 4 * d_model, dropout, activation="gelu", norm_first=True
        )
        self.blocks = nn.TransformerEncoder(layer, layers, norm=nn.LayerNorm(d_model))
        self.head = nn.Linear(d_model, vocab)

    def forward(self, ids):
        positions = np.arange(ids.shape[1])
        x = self.tokens(ids) + self.positions(positions)  # (N, T, d_model)
        return self.head(self.blocks(x, is_causal=True))  # (N, T, vocab)


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--module", default=None, help="train on this stdlib module's source")
    parser.add_argument("--steps", type=int, default=600)
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--block", type=int, default=64, help="context length in characters")
    parser.add_argument("--d-model", type=int, default=64)
    parser.add_argument("--heads", type=int, default=4)
    parser.add_argument("--layers", type=int, default=2)
    parser.add_argument("--dropout", type=float, default=0.1)
    parser.add_argument("--lr", type=float, default=3e-3)
    parser.add_argument("--temperature", type=float, default=0.8, help="0 samples greedily")
    parser.add_argument("--sample-len", type=int, default=300)
    parser.add_argument("--seed", type=int, default=0)
    return parser.parse_args()


def sample(model, predict, start: np.ndarray, block: int, length: int, temperature, rng):
    """Characters after `start`, one at a time, from a fixed (1, block) window."""
    model.eval()
    ids = list(start)
    for _ in range(length):
        context = ids[-block:]
        window = np.zeros((1, block), np.int32)
        window[0, : len(context)] = context  # positions after the context cannot be seen
        logits = np.asarray(predict(model, window).data[0, len(context) - 1], np.float64)
        if temperature == 0:
            ids.append(int(logits.argmax()))
        else:
            p = np.exp((logits - logits.max()) / temperature)
            ids.append(int(rng.choice(len(p), p=p / p.sum())))
    model.train()
    return ids[len(start) :]


def main() -> dict:
    args = parse_args()
    text = load_text(args.module)
    chars = sorted(set(text))
    lookup = {c: i for i, c in enumerate(chars)}
    data = np.array([lookup[c] for c in text], np.int32)
    block = min(args.block, len(data) - 1)
    print(f"{len(text)} characters, vocabulary of {len(chars)}")

    axon.manual_seed(args.seed)
    rng = np.random.default_rng(args.seed)
    model = CharTransformer(len(chars), block, args.d_model, args.heads, args.layers, args.dropout)
    opt = optim.AdamW(model.parameters(), lr=args.lr, weight_decay=0.01)
    loss_fn = nn.CrossEntropyLoss()
    print(f"{model.num_parameters():,} parameters")

    @axon.jit
    def train_step(model, opt, x, y):
        opt.zero_grad()
        logits = model(x)  # (N, T, vocab)
        loss = loss_fn(logits.reshape(-1, len(chars)), y.reshape(-1))
        loss.backward()
        opt.step()
        return loss

    losses, start = [], time.perf_counter()
    with tqdm(total=args.steps, unit="step") as progress:
        for step in range(args.steps):
            offsets = rng.integers(0, len(data) - block, args.batch_size)
            windows = data[offsets[:, None] + np.arange(block + 1)]  # (N, block + 1)
            loss = train_step(model, opt, windows[:, :-1], windows[:, 1:])
            losses.append(loss.item())
            progress.update()
            if step % 20 == 0 or step == args.steps - 1:
                progress.set_postfix(loss=f"{losses[-1]:.3f}")
    elapsed = time.perf_counter() - start
    first, last = float(np.mean(losses[:5])), float(np.mean(losses[-5:]))
    print(f"loss {first:.3f} -> {last:.3f} ({args.steps / elapsed:.0f} steps/s, "
          f"{train_step.num_compiles} compilation(s))")  # fmt: skip

    predict = axon.jit(lambda model, ids: model(ids))
    prompt = data[:block // 4]  # fmt: skip
    out = sample(model, predict, prompt, block, args.sample_len, args.temperature, rng)
    generated = "".join(chars[i] for i in out)
    print("--- sample " + "-" * 60)
    print("".join(chars[i] for i in prompt) + generated)
    return dict(first_loss=first, last_loss=last, sample=generated)


if __name__ == "__main__":
    main()
