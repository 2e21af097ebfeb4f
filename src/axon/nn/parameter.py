"""`Parameter`: a Variable that a Module owns and optimizers update."""

from __future__ import annotations

from axon.autograd.variable import Variable, register_variable_pytree


class Parameter(Variable):
    """A leaf Variable registered by the Module it is assigned to.

    Args:
        data: the initial value (a jax array, numpy array or nested list).
        requires_grad: whether optimizers and backward() treat it as trainable.

    Example:
        >>> import axon, jax.numpy as jnp
        >>> p = axon.nn.Parameter(jnp.zeros((2, 3)))
        >>> p.shape, p.requires_grad
        ((2, 3), True)
    """

    __slots__ = ()

    def __init__(self, data, requires_grad: bool = True):
        super().__init__(data, requires_grad)

    def __repr__(self) -> str:
        return "Parameter containing:\n" + super().__repr__()


register_variable_pytree(Parameter)
