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
from axon.nn.attention import CrossAttention, DifferentialAttention, MultiHeadAttention
from axon.nn.container import ModuleDict, ModuleList, Sequential
from axon.nn.conv import Conv1d, Conv2d, ConvTranspose1d, ConvTranspose2d
from axon.nn.dropout import AlphaDropout, Dropout, Dropout2d
from axon.nn.embedding import Embedding
from axon.nn.graph import GATConv, GCNConv
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
from axon.nn.moe import Expert, MoELayer, MoERouter
from axon.nn.norm import (
    BatchNorm1d,
    BatchNorm2d,
    GroupNorm,
    InstanceNorm1d,
    InstanceNorm2d,
    LayerNorm,
    RMSNorm,
)
from axon.nn.parameter import Parameter
from axon.nn.pooling import (
    AdaptiveAvgPool1d,
    AdaptiveAvgPool2d,
    AdaptiveMaxPool1d,
    AdaptiveMaxPool2d,
    AvgPool1d,
    AvgPool2d,
    MaxPool1d,
    MaxPool2d,
)
from axon.nn.residual import ResidualBlock
from axon.nn.rnn import GRU, LSTM, RNN, GRUCell, LSTMCell, RNNCell
from axon.nn.sparse import GroupSparsity, LotteryTicket, SparseLinear
from axon.nn.spectral import STFT, FFT1d
from axon.nn.ternary import PackedTernaryWeights, TernaryLinear
from axon.nn.transformer import (
    Seq2SeqTransformer,
    TransformerDecoder,
    TransformerDecoderLayer,
    TransformerEncoder,
    TransformerEncoderLayer,
)
