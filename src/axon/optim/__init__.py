"""`axon.optim`: PyTorch-style optimizers over optax transformations.

opt = axon.optim.Adam(model.parameters(), lr=1e-3)
opt.zero_grad(); loss.backward(); opt.step()
"""

from axon.optim.adam import Adam
from axon.optim.optimizer import OptaxOptimizer, Optimizer
from axon.optim.sgd import SGD

__all__ = ["SGD", "Adam", "OptaxOptimizer", "Optimizer"]
