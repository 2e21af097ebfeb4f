"""axon: a PyTorch-like, stateful Module facade over JAX.

import axon
from axon import nn, optim, functional as F
"""

from axon import _random
from axon._random import get_rng_state, manual_seed, set_rng_state
from axon._tensor import Tensor
from axon.autograd import Variable, enable_grad, is_grad_enabled, no_grad, set_grad_enabled
from axon import functional, nn, optim
from axon.transforms import grad, jit, value_and_grad

__version__ = "0.1.0"

__all__ = [
    "Tensor",
    "Variable",
    "enable_grad",
    "functional",
    "nn",
    "optim",
    "get_rng_state",
    "grad",
    "is_grad_enabled",
    "jit",
    "manual_seed",
    "no_grad",
    "set_grad_enabled",
    "set_rng_state",
    "value_and_grad",
]

# saving and loading: axon.save / axon.load (safetensors), axon.checkpoint (orbax, imported lazily),
# axon.onnx (jax2onnx, imported on the first export)
from axon import checkpoint, onnx, serialize
from axon.serialize import StateDict, load, save

__all__ += ["StateDict", "checkpoint", "load", "onnx", "save", "serialize"]
