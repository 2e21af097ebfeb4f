"""`axon.nn`: Module, Parameter, containers, layers and losses."""

from axon.nn import init
from axon.nn import utils

from axon.nn.activation import (
    ELU,
    GELU,
    Flatten,
    LeakyReLU,
    LogSoftmax,
    Mish,
    ReLU,
    Sigmoid,
    SiLU,
    Softmax,
    Tanh,
)
from axon.nn.container import ModuleDict, ModuleList, Sequential
from axon.nn.dropout import Dropout
from axon.nn.linear import Identity, Linear
from axon.nn.loss import (
    BCELoss,
    BCEWithLogitsLoss,
    CrossEntropyLoss,
    HuberLoss,
    KLDivLoss,
    L1Loss,
    MSELoss,
    NLLLoss,
    Reduction,
    SmoothL1Loss,
)
from axon.nn.module import Module
from axon.nn.norm import BatchNorm1d, BatchNorm2d
from axon.nn.parameter import Parameter
