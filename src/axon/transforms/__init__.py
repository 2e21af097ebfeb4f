"""Transforms over functions of modules: `axon.jit`, `axon.grad`, `axon.value_and_grad`."""

from axon.transforms.grad import grad, value_and_grad
from axon.transforms.jit import CompiledFunction, jit

__all__ = ["CompiledFunction", "grad", "jit", "value_and_grad"]
