"""The benchmark cases of `run.py`: one row per case, one small model definition per framework.

A `Family` says how one kind of model is written in each framework. Every builder except `axon`
takes the axon model's state dict (numpy arrays, PyTorch keys and layouts) so that all contenders
start from the same weights. The training step around the model (cross-entropy, backward, Adam)
is written once per framework in `run.py`; a case only supplies the model.

    axon(**kw)          -> axon.nn.Module (the source of the initial weights)
    jax(sd, **kw)       -> (params pytree, apply(params, x) -> logits)
    torch(sd, **kw)     -> torch.nn.Module
    flax(sd, **kw)      -> flax.nnx.Module, called on a batch
    equinox(sd, **kw)   -> equinox Module, called on ONE example (run.py vmaps it, as Equinox does)

Peers are imported inside the builders, so this module imports without flax or equinox.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np


@dataclass(frozen=True)
class Family:
    axon: Callable[..., Any]
    jax: Callable[..., Any]
    torch: Callable[..., Any]
    flax: Callable[..., Any]
    equinox: Callable[..., Any]


@dataclass(frozen=True)
class Case:
    name: str
    title: str
    batch: int
    input_shape: tuple[int, ...]
    classes: int
    family: Family | None
    kwargs: dict = field(default_factory=dict)
    skip: str | None = None  # why the case cannot run yet


# ------------------------------------------------------------------------------------- MLP
def _linears(sd: dict[str, np.ndarray]) -> list[tuple[np.ndarray, np.ndarray]]:
    """(weight (out, in), bias) of each Linear of an axon/PyTorch Sequential, in order."""
    prefixes = sorted({key.rsplit(".", 1)[0] for key in sd}, key=int)
    return [(sd[f"{p}.weight"], sd[f"{p}.bias"]) for p in prefixes]


def mlp_axon(sizes):
    from axon import nn

    layers = []
    for i, (n_in, n_out) in enumerate(zip(sizes, sizes[1:], strict=False)):
        if i:
            layers.append(nn.ReLU())
        layers.append(nn.Linear(n_in, n_out))
    return nn.Sequential(*layers)


def mlp_jax(sd, sizes):
    params = [{"w": jnp.asarray(w.T), "b": jnp.asarray(b)} for w, b in _linears(sd)]

    def apply(params, x):
        for i, layer in enumerate(params):
            if i:
                x = jax.nn.relu(x)
            x = x @ layer["w"] + layer["b"]
        return x

    return params, apply


def mlp_torch(sd, sizes):
    import torch

    layers = []
    for i, (n_in, n_out) in enumerate(zip(sizes, sizes[1:], strict=False)):
        if i:
            layers.append(torch.nn.ReLU())
        layers.append(torch.nn.Linear(n_in, n_out))
    model = torch.nn.Sequential(*layers)
    model.load_state_dict({k: torch.from_numpy(v.copy()) for k, v in sd.items()})
    return model


def mlp_flax(sd, sizes):
    from flax import nnx

    rngs = nnx.Rngs(0)
    layers = []
    for (w, b), n_in, n_out in zip(_linears(sd), sizes, sizes[1:], strict=False):
        if layers:
            layers.append(nnx.relu)
        linear = nnx.Linear(n_in, n_out, rngs=rngs)
        linear.kernel[...] = jnp.asarray(w.T)  # nnx kernels are (in, out)
        linear.bias[...] = jnp.asarray(b)
        layers.append(linear)
    return nnx.Sequential(*layers)


def mlp_equinox(sd, sizes):
    import equinox as eqx

    keys = jax.random.split(jax.random.key(0), len(sizes) - 1)
    layers = []
    for (w, b), n_in, n_out, key in zip(_linears(sd), sizes, sizes[1:], keys, strict=False):
        if layers:
            layers.append(eqx.nn.Lambda(jax.nn.relu))
        linear = eqx.nn.Linear(n_in, n_out, key=key)  # weight (out, in), as torch
        linear = eqx.tree_at(lambda m: (m.weight, m.bias), linear, (jnp.asarray(w), jnp.asarray(b)))
        layers.append(linear)
    return eqx.nn.Sequential(layers)


MLP = Family(axon=mlp_axon, jax=mlp_jax, torch=mlp_torch, flax=mlp_flax, equinox=mlp_equinox)


# ------------------------------------------------------------------------------------- CNN
# conv(1->16, 3x3, pad 1) relu maxpool(2) conv(16->32, 3x3, pad 1) relu maxpool(2) flatten linear
_CNN_CONVS = ((1, 16), (16, 32))


def cnn_axon(classes):
    from axon import nn

    layers = []
    for c_in, c_out in _CNN_CONVS:
        layers += [nn.Conv2d(c_in, c_out, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2)]
    return nn.Sequential(*layers, nn.Flatten(), nn.Linear(32 * 7 * 7, classes))


def _cnn_arrays(sd):
    convs = [(sd[f"{i}.weight"], sd[f"{i}.bias"]) for i in (0, 3)]
    return convs, (sd["7.weight"], sd["7.bias"])


def cnn_jax(sd, classes):
    convs, (w, b) = _cnn_arrays(sd)
    params = {
        "convs": [{"w": jnp.asarray(cw), "b": jnp.asarray(cb)} for cw, cb in convs],
        "out": {"w": jnp.asarray(w.T), "b": jnp.asarray(b)},
    }

    def apply(params, x):
        for conv in params["convs"]:
            x = jax.lax.conv_general_dilated(
                x, conv["w"], (1, 1), ((1, 1), (1, 1)), dimension_numbers=("NCHW", "OIHW", "NCHW")
            )
            x = jax.nn.relu(x + conv["b"][:, None, None])
            x = jax.lax.reduce_window(x, -jnp.inf, jax.lax.max, (1, 1, 2, 2), (1, 1, 2, 2), "VALID")
        x = x.reshape(x.shape[0], -1)
        return x @ params["out"]["w"] + params["out"]["b"]

    return params, apply


def cnn_torch(sd, classes):
    import torch

    layers = []
    for c_in, c_out in _CNN_CONVS:
        layers += [
            torch.nn.Conv2d(c_in, c_out, 3, padding=1),
            torch.nn.ReLU(),
            torch.nn.MaxPool2d(2),
        ]
    model = torch.nn.Sequential(*layers, torch.nn.Flatten(), torch.nn.Linear(32 * 7 * 7, classes))
    model.load_state_dict({k: torch.from_numpy(v.copy()) for k, v in sd.items()})
    return model


def cnn_flax(sd, classes):
    from flax import nnx

    convs, (w, b) = _cnn_arrays(sd)
    rngs = nnx.Rngs(0)

    class CNN(nnx.Module):  # nnx convolutions are NHWC with (kh, kw, in, out) kernels
        def __init__(self):
            self.convs = nnx.List()
            for (cw, cb), (c_in, c_out) in zip(convs, _CNN_CONVS, strict=True):
                conv = nnx.Conv(c_in, c_out, (3, 3), padding=1, rngs=rngs)
                conv.kernel[...] = jnp.asarray(cw.transpose(2, 3, 1, 0))
                conv.bias[...] = jnp.asarray(cb)
                self.convs.append(conv)
            self.out = nnx.Linear(32 * 7 * 7, classes, rngs=rngs)
            self.out.kernel[...] = jnp.asarray(w.T)
            self.out.bias[...] = jnp.asarray(b)

        def __call__(self, x):
            x = x.transpose(0, 2, 3, 1)
            for conv in self.convs:
                x = nnx.max_pool(nnx.relu(conv(x)), (2, 2), (2, 2))
            x = x.transpose(0, 3, 1, 2).reshape(x.shape[0], -1)  # torch's (C, H, W) order
            return self.out(x)

    return CNN()


def cnn_equinox(sd, classes):
    import equinox as eqx

    convs, (w, b) = _cnn_arrays(sd)
    keys = jax.random.split(jax.random.key(0), 3)
    layers = []
    for (cw, cb), (c_in, c_out), key in zip(convs, _CNN_CONVS, keys, strict=False):
        conv = eqx.nn.Conv2d(c_in, c_out, 3, padding=1, key=key)  # weight OIHW, bias (O, 1, 1)
        conv = eqx.tree_at(
            lambda m: (m.weight, m.bias), conv, (jnp.asarray(cw), jnp.asarray(cb)[:, None, None])
        )
        layers += [conv, eqx.nn.Lambda(jax.nn.relu), eqx.nn.MaxPool2d(2, 2)]
    linear = eqx.nn.Linear(32 * 7 * 7, classes, key=keys[2])
    linear = eqx.tree_at(lambda m: (m.weight, m.bias), linear, (jnp.asarray(w), jnp.asarray(b)))
    return eqx.nn.Sequential([*layers, eqx.nn.Lambda(jnp.ravel), linear])


CNN = Family(axon=cnn_axon, jax=cnn_jax, torch=cnn_torch, flax=cnn_flax, equinox=cnn_equinox)


# ----------------------------------------------------------------------------- Transformer
# a post-norm ReLU TransformerEncoder (dropout 0, batch first), mean-pooled over the sequence,
# then Linear(d, classes). Peers are written by hand from Linear/LayerNorm and jnp attention.
_TF = dict(d=256, heads=4, ff=512, layers=2)


def transformer_axon(classes):
    from axon import nn

    class Classifier(nn.Module):
        def __init__(self):
            super().__init__()
            layer = nn.TransformerEncoderLayer(_TF["d"], _TF["heads"], _TF["ff"], dropout=0.0)
            self.encoder = nn.TransformerEncoder(layer, _TF["layers"])
            self.head = nn.Linear(_TF["d"], classes)

        def forward(self, x):
            return self.head(self.encoder(x).mean(1))  # (N, T, d) -> (N, d) -> (N, classes)

    return Classifier()


def _tf_arrays(sd):
    """Per layer: the torch-layout arrays of `encoder.layers.{i}.*`, keyed by the suffix."""
    layers = []
    for i in range(_TF["layers"]):
        prefix = f"encoder.layers.{i}."
        layers.append({k[len(prefix) :]: v for k, v in sd.items() if k.startswith(prefix)})
    return layers, (sd["head.weight"], sd["head.bias"])


def _attention(q, k, v, heads):
    """softmax(q kᵀ/√dh) v per head on (T, d) or (N, T, d) projections."""
    *lead, t, d = q.shape

    def split(x):  # (..., T, d) -> (..., H, T, dh)
        return jnp.swapaxes(x.reshape(*lead, t, heads, d // heads), -2, -3)

    q, k, v = split(q), split(k), split(v)
    w = jax.nn.softmax(q @ jnp.swapaxes(k, -1, -2) / np.sqrt(d // heads), axis=-1)
    return jnp.swapaxes(w @ v, -2, -3).reshape(*lead, t, d)  # (..., T, d)


def _layer_norm(x, w, b, eps=1e-5):
    mean = x.mean(-1, keepdims=True)
    var = ((x - mean) ** 2).mean(-1, keepdims=True)
    return (x - mean) / jnp.sqrt(var + eps) * w + b


def transformer_jax(sd, classes):
    layers, (w, b) = _tf_arrays(sd)
    names = ("in_proj_weight", "out_proj.weight", "linear1.weight", "linear2.weight")
    params = {
        "layers": [
            {k: jnp.asarray(a.T if k.replace("self_attn.", "") in names else a)
             for k, a in layer.items()}
            for layer in layers
        ],
        "out": {"w": jnp.asarray(w.T), "b": jnp.asarray(b)},
    }  # fmt: skip

    def apply(params, x):
        for p in params["layers"]:
            qkv = x @ p["self_attn.in_proj_weight"] + p["self_attn.in_proj_bias"]
            a = _attention(*jnp.split(qkv, 3, axis=-1), _TF["heads"])
            a = a @ p["self_attn.out_proj.weight"] + p["self_attn.out_proj.bias"]
            x = _layer_norm(x + a, p["norm1.weight"], p["norm1.bias"])
            h = jax.nn.relu(x @ p["linear1.weight"] + p["linear1.bias"])
            h = h @ p["linear2.weight"] + p["linear2.bias"]
            x = _layer_norm(x + h, p["norm2.weight"], p["norm2.bias"])
        return x.mean(1) @ params["out"]["w"] + params["out"]["b"]

    return params, apply


def transformer_torch(sd, classes):
    import torch

    class Classifier(torch.nn.Module):
        def __init__(self):
            super().__init__()
            layer = torch.nn.TransformerEncoderLayer(
                _TF["d"], _TF["heads"], _TF["ff"], dropout=0.0, batch_first=True
            )
            self.encoder = torch.nn.TransformerEncoder(
                layer, _TF["layers"], enable_nested_tensor=False
            )
            self.head = torch.nn.Linear(_TF["d"], classes)

        def forward(self, x):
            return self.head(self.encoder(x).mean(1))

    model = Classifier()
    model.load_state_dict({k: torch.from_numpy(v.copy()) for k, v in sd.items()})
    return model


def transformer_flax(sd, classes):
    from flax import nnx

    layers, (w, b) = _tf_arrays(sd)
    rngs = nnx.Rngs(0)
    d, ff = _TF["d"], _TF["ff"]

    def linear(n_in, n_out, weight, bias):
        m = nnx.Linear(n_in, n_out, rngs=rngs)
        m.kernel[...] = jnp.asarray(weight.T)  # nnx kernels are (in, out)
        m.bias[...] = jnp.asarray(bias)
        return m

    def norm(weight, bias):
        m = nnx.LayerNorm(d, epsilon=1e-5, rngs=rngs)
        m.scale[...] = jnp.asarray(weight)
        m.bias[...] = jnp.asarray(bias)
        return m

    class Layer(nnx.Module):
        def __init__(self, p):
            self.in_proj = linear(
                d, 3 * d, p["self_attn.in_proj_weight"], p["self_attn.in_proj_bias"]
            )
            self.out_proj = linear(
                d, d, p["self_attn.out_proj.weight"], p["self_attn.out_proj.bias"]
            )
            self.linear1 = linear(d, ff, p["linear1.weight"], p["linear1.bias"])
            self.linear2 = linear(ff, d, p["linear2.weight"], p["linear2.bias"])
            self.norm1 = norm(p["norm1.weight"], p["norm1.bias"])
            self.norm2 = norm(p["norm2.weight"], p["norm2.bias"])

        def __call__(self, x):
            a = _attention(*jnp.split(self.in_proj(x), 3, axis=-1), _TF["heads"])
            x = self.norm1(x + self.out_proj(a))
            return self.norm2(x + self.linear2(nnx.relu(self.linear1(x))))

    class Classifier(nnx.Module):
        def __init__(self):
            self.layers = nnx.List([Layer(p) for p in layers])
            self.head = linear(d, classes, w, b)

        def __call__(self, x):
            for layer in self.layers:
                x = layer(x)
            return self.head(x.mean(1))

    return Classifier()


def transformer_equinox(sd, classes):
    import equinox as eqx

    layers, (w, b) = _tf_arrays(sd)
    keys = iter(jax.random.split(jax.random.key(0), 5 * len(layers)))
    d, ff = _TF["d"], _TF["ff"]

    def linear(n_in, n_out, weight, bias):  # weight (out, in), as torch
        m = eqx.nn.Linear(n_in, n_out, key=next(keys))
        return eqx.tree_at(
            lambda m: (m.weight, m.bias), m, (jnp.asarray(weight), jnp.asarray(bias))
        )

    def norm(weight, bias):
        m = eqx.nn.LayerNorm(d, eps=1e-5)
        return eqx.tree_at(
            lambda m: (m.weight, m.bias), m, (jnp.asarray(weight), jnp.asarray(bias))
        )

    class Layer(eqx.Module):  # on one sequence (T, d); Linear and LayerNorm act on one token
        in_proj: eqx.nn.Linear
        out_proj: eqx.nn.Linear
        linear1: eqx.nn.Linear
        linear2: eqx.nn.Linear
        norm1: eqx.nn.LayerNorm
        norm2: eqx.nn.LayerNorm

        def __call__(self, x):
            a = _attention(*jnp.split(jax.vmap(self.in_proj)(x), 3, axis=-1), _TF["heads"])
            x = jax.vmap(self.norm1)(x + jax.vmap(self.out_proj)(a))
            h = jax.vmap(self.linear2)(jax.nn.relu(jax.vmap(self.linear1)(x)))
            return jax.vmap(self.norm2)(x + h)

    class Classifier(eqx.Module):
        layers: list
        head: eqx.nn.Linear

        def __call__(self, x):
            for layer in self.layers:
                x = layer(x)
            return self.head(x.mean(0))

    built = [
        Layer(
            linear(d, 3 * d, p["self_attn.in_proj_weight"], p["self_attn.in_proj_bias"]),
            linear(d, d, p["self_attn.out_proj.weight"], p["self_attn.out_proj.bias"]),
            linear(d, ff, p["linear1.weight"], p["linear1.bias"]),
            linear(ff, d, p["linear2.weight"], p["linear2.bias"]),
            norm(p["norm1.weight"], p["norm1.bias"]),
            norm(p["norm2.weight"], p["norm2.bias"]),
        )
        for p in layers
    ]
    return Classifier(built, linear(d, classes, w, b))


TRANSFORMER = Family(
    axon=transformer_axon,
    jax=transformer_jax,
    torch=transformer_torch,
    flax=transformer_flax,
    equinox=transformer_equinox,
)


# ------------------------------------------------------------------------------------ table
CASES: dict[str, Case] = {
    case.name: case
    for case in [
        Case("tiny", "MLP 32-32-32-10, batch 8", 8, (32,), 10, MLP, {"sizes": (32, 32, 32, 10)}),
        Case(
            "mlp",
            "MLP 784-256-128-10, batch 128",
            128,
            (784,),
            10,
            MLP,
            {"sizes": (784, 256, 128, 10)},
        ),
        Case(
            "cnn",
            "CNN conv16-pool-conv32-pool-linear on 1x28x28, batch 128",
            128,
            (1, 28, 28),
            10,
            CNN,
            {"classes": 10},
        ),
        Case(
            "transformer",
            "2-layer encoder, d=256, 4 heads, ff 512, seq 128, mean-pool, batch 16",
            16,
            (128, 256),
            10,
            TRANSFORMER,
            {"classes": 10},
        ),
    ]
}
