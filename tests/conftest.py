"""Shared test setup: quick XLA compiles, exact matmuls on both sides and a fixed seed before
every test."""

import os

# XLA compiling is most of this suite's time, and LLVM's optimisation passes most of that: the
# tests check what programs compute, not how fast they run, so they compile at XLA's backend
# optimisation level 0 (the suite takes about 20% less time; every test passes either way).
# AXON_TEST_XLA_OPT=default runs them with XLA's own default instead. (Set before jax starts
# its CPU client, which reads XLA_FLAGS once; xdist workers inherit the variable.)
_QUICK = "--xla_backend_optimization_level=0"
if os.environ.get("AXON_TEST_XLA_OPT") != "default" and _QUICK not in os.environ.get(
    "XLA_FLAGS", ""
):
    os.environ["XLA_FLAGS"] = f"{os.environ.get('XLA_FLAGS', '')} {_QUICK}".strip()

import jax  # noqa: E402
import pytest  # noqa: E402
import torch  # noqa: E402

import axon  # noqa: E402

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
