"""Every public name that API.md promises (for the layers built so far) is importable and usable.

One test per name, so a failure lists exactly which names are missing.
"""

from __future__ import annotations

import importlib
import inspect

import pytest

# ---------------------------------------------------------------------------------------- the lists
TOP_LEVEL = ["Tensor", "Variable", "no_grad", "manual_seed", "nn", "optim", "functional"]

TENSOR_FACTORIES = [
    "zeros",
    "ones",
    "rand",
    "randn",
    "full",
    "arange",
    "eye",
    "from_numpy",
    "from_vec",
]

VARIABLE_ATTRIBUTES = ["data", "grad", "requires_grad", "shape", "dtype", "ndim"]
VARIABLE_METHODS = [
    "backward", "detach", "numpy", "item", "zero_grad",
    "sum", "mean", "max", "min", "reshape", "view", "transpose", "permute", "flatten", "squeeze",
    "unsqueeze", "exp", "log", "sqrt", "abs", "pow", "clamp", "matmul",
    "relu", "sigmoid", "tanh", "gelu", "silu", "softmax", "log_softmax", "leaky_relu", "elu",
]  # fmt: skip
VARIABLE_OPERATORS = [
    "__add__", "__radd__", "__sub__", "__rsub__", "__mul__", "__rmul__", "__truediv__",
    "__rtruediv__", "__matmul__", "__rmatmul__", "__pow__", "__neg__", "__getitem__",
    "__lt__", "__le__", "__gt__", "__ge__", "__eq__", "__ne__",
]  # fmt: skip

NN_LAYERS = [
    "Module", "Parameter", "Sequential", "ModuleList", "ModuleDict", "Linear", "ReLU", "Sigmoid",
    "Tanh", "GELU", "SiLU", "Identity", "Mish", "Flatten", "Softmax", "LogSoftmax", "LeakyReLU",
    "ELU", "Dropout", "BatchNorm1d",
    "MaxPool1d", "MaxPool2d", "AvgPool1d", "AvgPool2d", "AdaptiveAvgPool1d", "AdaptiveAvgPool2d",
    "AdaptiveMaxPool1d", "AdaptiveMaxPool2d", "Dropout2d", "AlphaDropout",
    "Conv1d", "Conv2d", "ConvTranspose1d", "ConvTranspose2d",
    "BatchNorm2d", "LayerNorm", "GroupNorm", "InstanceNorm1d", "InstanceNorm2d", "RMSNorm",
    "MultiHeadAttention", "CrossAttention", "DifferentialAttention", "Embedding",
    "TransformerEncoderLayer", "TransformerDecoderLayer", "TransformerEncoder",
    "TransformerDecoder", "Seq2SeqTransformer",
    "RNN", "LSTM", "GRU", "RNNCell", "LSTMCell", "GRUCell",
    "ResidualBlock", "Expert", "MoERouter", "MoELayer", "SparseLinear", "GroupSparsity",
    "LotteryTicket", "TernaryLinear",
    "GCNConv", "GATConv", "FFT1d", "STFT",
]  # fmt: skip
NN_LOSSES = [
    "MSELoss", "CrossEntropyLoss", "BCELoss", "BCEWithLogitsLoss", "L1Loss", "SmoothL1Loss",
    "NLLLoss", "KLDivLoss", "HuberLoss", "Reduction",
]  # fmt: skip
OPTIM = ["SGD", "Adam", "Optimizer"]
ONNX = ["export", "ExportError"]  # axon.onnx.export(model, example_input, path)
# PyTorch's torch.nn.init, which API.md's "follow PyTorch" rule brings in.
NN_INIT = [
    "calculate_gain", "uniform_", "normal_", "trunc_normal_", "constant_", "ones_", "zeros_",
    "eye_", "dirac_", "xavier_uniform_", "xavier_normal_", "kaiming_uniform_", "kaiming_normal_",
    "orthogonal_", "sparse_",
]  # fmt: skip

MODULE_METHODS = [
    "forward", "parameters", "named_parameters", "buffers", "named_buffers", "children",
    "named_children", "modules", "named_modules", "num_parameters", "train", "eval",
    "set_training", "is_training", "zero_grad", "state_dict", "load_state_dict", "apply", "to",
    "summary", "register_buffer", "register_forward_hook", "requires_grad_",
]  # fmt: skip

# seed constructors that API.md's layer and loss tables name (class, classmethod)
SEED_CONSTRUCTORS = [
    ("GCNConv", "new"), ("GCNConv", "without_bias"), ("GATConv", "new"), ("FFT1d", "new"),
    ("FFT1d", "with_normalization"), ("STFT", "new"), ("STFT", "with_normalization"),
    ("RNN", "new"), ("RNN", "with_options"), ("LSTM", "new"), ("LSTM", "with_options"),
    ("GRU", "new"), ("GRU", "with_options"), ("RNNCell", "new"), ("LSTMCell", "new"),
    ("GRUCell", "new"),
    ("Linear", "new"), ("Linear", "with_bias"), ("Linear", "from_weights"),
    ("LeakyReLU", "with_slope"), ("ELU", "with_alpha"), ("BatchNorm1d", "with_options"),
    ("SmoothL1Loss", "with_beta"), ("MaxPool2d", "with_options"), ("AdaptiveAvgPool2d", "square"),
    ("Conv1d", "with_options"), ("Conv2d", "new"), ("Conv2d", "with_options"),
    ("ConvTranspose2d", "with_options"),
    ("BatchNorm1d", "new"), ("BatchNorm2d", "new"), ("LayerNorm", "new"), ("GroupNorm", "new"),
    ("GroupNorm", "with_options"), ("InstanceNorm2d", "new"), ("RMSNorm", "new"),
    ("MultiHeadAttention", "new"), ("MultiHeadAttention", "with_options"),
    ("CrossAttention", "with_options"), ("DifferentialAttention", "with_lambda"),
    ("Embedding", "new"), ("Embedding", "with_options"), ("Embedding", "from_pretrained"),
]  # fmt: skip
SEQUENTIAL_METHODS = ["add", "add_named", "__getitem__", "__len__", "__iter__"]


def _get(module_name: str, name: str):
    module = importlib.import_module(module_name)
    assert hasattr(module, name), f"{module_name}.{name} is missing"
    return getattr(module, name)


# ---------------------------------------------------------------------------------------- tests
def test_import_block_of_api_md():
    import axon
    from axon import Tensor, Variable, manual_seed, nn, no_grad, optim  # noqa: F401
    from axon import functional as F  # noqa: F401

    assert axon.functional is F


@pytest.mark.parametrize("name", TOP_LEVEL)
def test_top_level(name):
    _get("axon", name)


@pytest.mark.parametrize("name", TENSOR_FACTORIES)
def test_tensor_factories(name):
    assert callable(getattr(_get("axon", "Tensor"), name, None)), f"Tensor.{name} is missing"


@pytest.mark.parametrize("name", VARIABLE_ATTRIBUTES)
def test_variable_attributes(name):
    import jax.numpy as jnp

    v = _get("axon", "Variable")(jnp.ones((2, 3)), requires_grad=True)
    assert hasattr(v, name), f"Variable.{name} is missing"


@pytest.mark.parametrize("name", VARIABLE_METHODS + VARIABLE_OPERATORS + ["T"])
def test_variable_methods(name):
    Variable = _get("axon", "Variable")
    assert hasattr(Variable, name), f"Variable.{name} is missing"
    if name != "T":
        assert callable(getattr(Variable, name))


@pytest.mark.parametrize("name", NN_LAYERS + NN_LOSSES)
def test_nn_names(name):
    obj = _get("axon.nn", name)
    assert inspect.isclass(obj), f"axon.nn.{name} should be a class"


@pytest.mark.parametrize("name", NN_LOSSES)
def test_losses_import_from_axon_nn(name):
    exec(f"from axon.nn import {name}", {})


def test_reduction_members():
    Reduction = _get("axon.nn", "Reduction")
    for member in ("MEAN", "SUM", "NONE"):
        assert hasattr(Reduction, member), f"Reduction.{member} is missing"


@pytest.mark.parametrize("name", [n for n in NN_LOSSES if n != "Reduction"])
def test_losses_have_seed_compute(name):
    assert callable(getattr(_get("axon.nn", name), "compute", None)), f"{name}.compute is missing"


@pytest.mark.parametrize("name", OPTIM)
def test_optim(name):
    assert inspect.isclass(_get("axon.optim", name))


@pytest.mark.parametrize("name", ONNX)
def test_onnx(name):
    assert callable(_get("axon.onnx", name))


@pytest.mark.parametrize("name", NN_INIT)
def test_nn_init(name):
    assert callable(_get("axon.nn.init", name))


@pytest.mark.parametrize("name", MODULE_METHODS)
def test_module_methods(name):
    Module = _get("axon.nn", "Module")
    assert callable(getattr(Module, name, None)), f"Module.{name} is missing"


@pytest.mark.parametrize(
    "cls, method", SEED_CONSTRUCTORS, ids=[f"{c}.{m}" for c, m in SEED_CONSTRUCTORS]
)
def test_seed_constructors(cls, method):
    klass = _get("axon.nn", cls)
    attr = inspect.getattr_static(klass, method, None)
    assert isinstance(attr, classmethod), f"{cls}.{method} should be a classmethod"


@pytest.mark.parametrize("name", SEQUENTIAL_METHODS)
def test_sequential_methods(name):
    assert callable(getattr(_get("axon.nn", "Sequential"), name, None))


@pytest.mark.parametrize("name", NN_LAYERS[2:])
def test_layers_are_modules(name):
    Module = _get("axon.nn", "Module")
    assert issubclass(_get("axon.nn", name), Module)


def test_parameter_is_a_variable():
    assert issubclass(_get("axon.nn", "Parameter"), _get("axon", "Variable"))


def test_subpackages_reachable_as_attributes_after_import_axon():
    """`import axon; axon.optim.SGD` works without importing the sub-packages by hand (run in a
    fresh interpreter: inside pytest other tests have already imported them)."""
    import subprocess
    import sys

    code = (
        "import axon; axon.nn.Linear; axon.nn.init.zeros_; axon.optim.SGD; axon.functional.relu; "
        "axon.onnx.export"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=120
    )
    assert result.returncode == 0, result.stderr.strip().splitlines()[-1]
