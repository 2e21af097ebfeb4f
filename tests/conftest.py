"""Shared test setup: exact matmuls on both sides and a fixed seed before every test."""

import jax
import pytest
import torch

import axon

# Compare like with like: no reduced-precision matmul passes in jax (on TPU/GPU) or torch (TF32).
jax.config.update("jax_default_matmul_precision", "highest")
torch.backends.cuda.matmul.allow_tf32 = False
torch.backends.cudnn.allow_tf32 = False
torch.set_float32_matmul_precision("highest")


@pytest.fixture(autouse=True)
def _seed():
    """Every test starts from the same random state in axon, torch and numpy helpers."""
    axon.manual_seed(0)
    torch.manual_seed(0)
    yield
