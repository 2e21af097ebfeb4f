"""`Embedding`: a lookup table of learned vectors."""

from __future__ import annotations

import jax
import jax.numpy as jnp

from axon import _errors, _random
from axon.autograd.variable import as_array
from axon.functional.embedding import embedding_checked
from axon.nn.module import Module
from axon.nn.parameter import Parameter


def _check_size(where, name: str, value) -> None:
    if not isinstance(value, int) or isinstance(value, bool) or value < 0:
        raise _errors.value_error(where, f"{name} must be a non-negative int, got {value!r}.")


class Embedding(Module):
    """A table of `num_embeddings` vectors of size `embedding_dim`, looked up by integer index.

    Args:
        num_embeddings: the number of rows (the vocabulary size).
        embedding_dim: the size of each vector.
        padding_idx: this row starts at zero and gets no gradient, so it stays what it is set
            to (a negative index counts from the end).
        max_norm: on each lookup, referenced rows whose `norm_type`-norm exceeds `max_norm` are
            rescaled to `max_norm`, in place (the weight's `.data` is rebound, as PyTorch
            modifies it in place).
        norm_type: the p of the p-norm for `max_norm`.
        scale_grad_by_freq: divide each row's gradient by its index's count in the batch.
        sparse: accepted for PyTorch compatibility; gradients are dense (same values).
        dtype: (keyword-only) the weight's dtype (float32).

    Shape:
        - input: (*), integers in [0, num_embeddings)
        - output: (*, embedding_dim)

    Attributes:
        weight: (num_embeddings, embedding_dim), N(0, 1), the `padding_idx` row zero.

    Note:
        An index outside [0, num_embeddings) raises `IndexError` in eager mode. Under
        `axon.jit` or `jax.jit` the indices are unknown while tracing, so nothing is raised: such
        an index (negative ones included) gives a row of NaN and passes no gradient back.

    Example:
        >>> import jax.numpy as jnp
        >>> from axon import nn
        >>> emb = nn.Embedding(10, 3, padding_idx=0)
        >>> emb(jnp.array([[0, 2, 4], [9, 1, 0]])).shape
        (2, 3, 3)
    """

    def __init__(
        self,
        num_embeddings: int,
        embedding_dim: int,
        padding_idx: int | None = None,
        max_norm: float | None = None,
        norm_type: float = 2.0,
        scale_grad_by_freq: bool = False,
        sparse: bool = False,
        _weight=None,
        _freeze: bool = False,
        *,
        dtype=jnp.float32,
    ):
        super().__init__()
        _check_size(self, "num_embeddings", num_embeddings)
        _check_size(self, "embedding_dim", embedding_dim)
        if padding_idx is not None:
            if not isinstance(padding_idx, int) or isinstance(padding_idx, bool):
                raise _errors.value_error(
                    self, f"padding_idx must be an int or None, got {padding_idx!r}."
                )
            if not -num_embeddings <= padding_idx < num_embeddings:
                raise _errors.value_error(
                    self,
                    f"padding_idx must be within [-num_embeddings, num_embeddings) = "
                    f"[-{num_embeddings}, {num_embeddings}), got {padding_idx}.",
                )
            padding_idx %= num_embeddings
        if max_norm is not None and (
            isinstance(max_norm, bool) or not isinstance(max_norm, (int, float)) or max_norm <= 0
        ):
            raise _errors.value_error(
                self, f"max_norm must be a positive number or None, got {max_norm!r}."
            )
        self.num_embeddings = num_embeddings
        self.embedding_dim = embedding_dim
        self.padding_idx = padding_idx
        self.max_norm = max_norm
        self.norm_type = norm_type
        self.scale_grad_by_freq = scale_grad_by_freq
        self.sparse = sparse
        if _weight is None:
            self.weight = Parameter(jnp.empty((num_embeddings, embedding_dim), dtype))
            self.reset_parameters()
        else:
            weight = as_array(_weight)
            if tuple(weight.shape) != (num_embeddings, embedding_dim):
                raise _errors.value_error(
                    self,
                    f"expected a weight of shape ({num_embeddings}, {embedding_dim}), got "
                    f"{_errors.shape_str(weight.shape)}.",
                )
            self.weight = Parameter(weight, requires_grad=not _freeze)

    def reset_parameters(self) -> None:
        w = self.weight.data
        w = jax.random.normal(_random.next_key(), w.shape, w.dtype)
        if self.padding_idx is not None:
            w = w.at[self.padding_idx].set(0)
        self.weight.data = w

    # the seed's constructors
    @classmethod
    def new(cls, num_embeddings: int, embedding_dim: int) -> Embedding:
        return cls(num_embeddings, embedding_dim)

    @classmethod
    def with_options(
        cls, num_embeddings: int, embedding_dim: int, padding_idx: int | None
    ) -> Embedding:
        return cls(num_embeddings, embedding_dim, padding_idx)

    @classmethod
    def from_pretrained(
        cls,
        embeddings,
        freeze: bool = True,
        padding_idx: int | None = None,
        max_norm: float | None = None,
        norm_type: float = 2.0,
        scale_grad_by_freq: bool = False,
        sparse: bool = False,
    ) -> Embedding:
        """An Embedding holding `embeddings` (num_embeddings, embedding_dim) as its weight,
        unchanged (the `padding_idx` row is not zeroed); `freeze` makes it untrainable."""
        weight = as_array(embeddings)
        if weight.ndim != 2:
            raise _errors.value_error(
                "axon.nn.Embedding.from_pretrained",
                "expected 2-D embeddings (num_embeddings, embedding_dim), got "
                f"{_errors.shape_str(weight.shape)}.",
            )
        return cls(
            weight.shape[0], weight.shape[1], padding_idx, max_norm, norm_type,
            scale_grad_by_freq, sparse, _weight=weight, _freeze=freeze,
        )  # fmt: skip

    def forward(self, input):  # noqa: A002
        with jax.named_scope("axon.nn.Embedding"):
            return embedding_checked(
                self, input, self.weight, self.padding_idx, self.max_norm, self.norm_type,
                self.scale_grad_by_freq,
            )  # fmt: skip

    lookup = forward  # the seed's name

    def extra_repr(self) -> str:
        s = f"{self.num_embeddings}, {self.embedding_dim}"
        if self.padding_idx is not None:
            s += f", padding_idx={self.padding_idx}"
        if self.max_norm is not None:
            s += f", max_norm={self.max_norm}"
        if self.norm_type != 2:
            s += f", norm_type={self.norm_type}"
        if self.scale_grad_by_freq:
            s += ", scale_grad_by_freq=True"
        if self.sparse:
            s += ", sparse=True"
        return s
