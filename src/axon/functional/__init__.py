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

from axon.functional.attention import scaled_dot_product_attention
from axon.functional.conv import conv1d, conv2d, conv_transpose1d, conv_transpose2d
from axon.functional.dropout import alpha_dropout, dropout, dropout2d
from axon.functional.embedding import embedding
from axon.functional.graph import gat_conv, gcn_conv
from axon.functional.linear import linear
from axon.functional.loss import (
    binary_cross_entropy,
    binary_cross_entropy_with_logits,
    cross_entropy,
    huber_loss,
    kl_div,
    l1_loss,
    mse_loss,
    nll_loss,
    smooth_l1_loss,
)
from axon.functional.norm import batch_norm, group_norm, instance_norm, layer_norm, rms_norm
from axon.functional.pooling import (
    adaptive_avg_pool1d,
    adaptive_avg_pool2d,
    adaptive_max_pool1d,
    adaptive_max_pool2d,
    avg_pool1d,
    avg_pool2d,
    max_pool1d,
    max_pool2d,
)
from axon.functional.rnn import (
    gru,
    gru_cell,
    lstm,
    lstm_cell,
    rnn_relu,
    rnn_relu_cell,
    rnn_tanh,
    rnn_tanh_cell,
)
from axon.functional.spectral import fft1d, stft

# Variable's operators and methods dispatch to these op modules (they cannot import them
# themselves: the ops import the tape, which imports Variable).
from axon.autograd import variable as _variable  # noqa: E402
from axon.functional import activation as _activation  # noqa: E402
from axon.functional import math as _math  # noqa: E402

_variable._ops, _variable._act = _math, _activation
