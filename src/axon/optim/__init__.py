"""`axon.optim`: PyTorch-style optimizers over optax transformations, and LR schedulers.

opt = axon.optim.Adam(model.parameters(), lr=1e-3)
opt.zero_grad(); loss.backward(); opt.step()
"""

from axon.optim import lr_scheduler
from axon.optim.adagrad import Adagrad
from axon.optim.adam import Adam
from axon.optim.adamw import AdamW
from axon.optim.lamb import LAMB
from axon.optim.lr_scheduler import (
    CosineAnnealingLR,
    ExponentialLR,
    LinearLR,
    LRScheduler,
    MultiStepLR,
    OneCycleLR,
    ReduceLROnPlateau,
    StepLR,
)
from axon.optim.optimizer import OptaxOptimizer, Optimizer
from axon.optim.rmsprop import RMSprop
from axon.optim.sgd import SGD

__all__ = [
    "LAMB",
    "SGD",
    "Adagrad",
    "Adam",
    "AdamW",
    "CosineAnnealingLR",
    "ExponentialLR",
    "LRScheduler",
    "LinearLR",
    "MultiStepLR",
    "OneCycleLR",
    "OptaxOptimizer",
    "Optimizer",
    "RMSprop",
    "ReduceLROnPlateau",
    "StepLR",
    "lr_scheduler",
]
