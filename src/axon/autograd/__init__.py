"""Variable, the tape, and grad-mode switches."""

from axon.autograd.tape import (
    backward,
    enable_grad,
    is_grad_enabled,
    no_grad,
    op,
    set_grad_enabled,
)
from axon.autograd.variable import Variable

__all__ = [
    "Variable",
    "backward",
    "enable_grad",
    "is_grad_enabled",
    "no_grad",
    "op",
    "set_grad_enabled",
]
