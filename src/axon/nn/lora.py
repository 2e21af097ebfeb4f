"""LoRA (low-rank adaptation) on `Linear`: y = x Wᵀ + b + (alpha / rank) · x Aᵀ Bᵀ.

`Linear.attach_lora(rank, alpha)` adds two Parameters to the layer, `lora_A` (rank, in_features)
and `lora_B` (out_features, rank), initialised as PEFT does: A with PyTorch's Linear law
(kaiming-uniform, a=√5, i.e. U(±1/√in_features)), B zeros, so the layer's output is unchanged
until B is trained. They are ordinary parameters: they appear in `named_parameters()` and
`state_dict()` as `lora_A` and `lora_B`. `freeze_base()` stops gradients to `weight` and `bias`;
`merge_lora()` folds the update into `weight` and removes A and B (same outputs, a plain Linear
again); `detach_lora()` removes them without merging.

Attaching or removing changes the module's structure, so a function compiled with `axon.jit`
traces once more on its next call; build the optimizer after attaching (or from the LoRA
parameters alone).

These are the functions behind the `Linear` methods; they take the layer as first argument.
"""

from __future__ import annotations

import math

import jax.numpy as jnp

from axon import _errors
from axon.autograd.tape import op
from axon.nn import init
from axon.nn.parameter import Parameter


@op
def lora_linear(input, weight, bias, lora_A, lora_B, scaling):  # noqa: A002, N803
    """x Wᵀ + b + scaling · (x Aᵀ) Bᵀ, the low-rank path computed without forming B A.

    Shape:
        - input: (*, in_features); weight: (out_features, in_features); bias: (out_features,)
        - lora_A: (r, in_features); lora_B: (out_features, r); output: (*, out_features)

    Example:
        >>> import jax.numpy as jnp
        >>> from axon.nn.lora import lora_linear
        >>> lora_linear(jnp.ones((2, 3)), jnp.ones((4, 3)), None, jnp.ones((1, 3)),
        ...             jnp.zeros((4, 1)), 2.0).tolist()[0]
        [3.0, 3.0, 3.0, 3.0]
    """
    out = jnp.matmul(input, weight.T)
    if bias is not None:
        out = out + bias
    return out + scaling * jnp.matmul(jnp.matmul(input, lora_A.T), lora_B.T)


def has_lora(layer) -> bool:
    return layer.__dict__.get("lora_A") is not None


def attach(layer, rank: int, alpha: float | None = None):
    if has_lora(layer):
        raise _errors.value_error(
            layer,
            f"LoRA is already attached (rank={layer.lora_rank}).",
            "Call merge_lora() or detach_lora() first.",
        )
    if not isinstance(rank, int) or isinstance(rank, bool) or rank < 1:
        raise _errors.value_error(layer, f"LoRA rank must be a positive int, got {rank!r}.")
    if alpha is None:
        alpha = float(rank)
    if isinstance(alpha, bool) or not isinstance(alpha, (int, float)) or not math.isfinite(alpha):
        raise _errors.value_error(layer, f"LoRA alpha must be a finite number, got {alpha!r}.")
    dtype = layer.weight.dtype
    layer.lora_A = Parameter(jnp.zeros((rank, layer.in_features), dtype))
    layer.lora_B = Parameter(jnp.zeros((layer.out_features, rank), dtype))
    init.kaiming_uniform_(layer.lora_A, a=math.sqrt(5))
    layer.lora_rank, layer.lora_alpha = rank, float(alpha)
    return layer


def scaling(layer) -> float:
    return layer.lora_alpha / layer.lora_rank


def _require(layer, what: str) -> None:
    if not has_lora(layer):
        raise _errors.value_error(
            layer, f"{what} needs LoRA attached.", "Call attach_lora(rank, alpha) first."
        )


def forward(layer, input):  # noqa: A002
    return lora_linear(input, layer.weight, layer.bias, layer.lora_A, layer.lora_B, scaling(layer))


def detach(layer):
    _require(layer, "detach_lora()")
    for name in ("lora_A", "lora_B", "lora_rank", "lora_alpha"):
        delattr(layer, name)
    return layer


def merge(layer):
    _require(layer, "merge_lora()")
    delta = scaling(layer) * jnp.matmul(layer.lora_B.data, layer.lora_A.data)
    layer.weight.data = (layer.weight.data + delta).astype(layer.weight.dtype)
    return detach(layer)


def freeze_base(layer):
    layer.weight.requires_grad_(False)
    if layer.bias is not None:
        layer.bias.requires_grad_(False)
    return layer
