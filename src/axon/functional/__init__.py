"""`axon.functional` (imported as `F`): pure jax on arrays, one tape op each on Variables."""

from axon.functional.activation import (
    elu,
    gelu,
    leaky_relu,
    log_softmax,
    mish,
    relu,
    sigmoid,
    silu,
    softmax,
    softplus,
    tanh,
)
from axon.functional.math import (
    abs,
    add,
    amax,
    amin,
    argmax,
    argmin,
    cat,
    clamp,
    cos,
    div,
    exp,
    expand,
    flatten,
    getitem,
    log,
    matmul,
    maximum,
    mean,
    minimum,
    mul,
    neg,
    permute,
    pow,
    reshape,
    sin,
    sqrt,
    squeeze,
    stack,
    std,
    sub,
    sum,
    transpose,
    unsqueeze,
    var,
    where,
)

from axon.autograd import variable as _variable
from axon.functional import activation as _activation
from axon.functional import math as _math

_variable._ops, _variable._act = _math, _activation

from axon.functional.dropout import dropout  # noqa: E402
from axon.functional.linear import linear  # noqa: E402
