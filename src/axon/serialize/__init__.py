"""`axon.serialize`: state dicts in `.safetensors` files, with PyTorch's keys and layouts.

    axon.save(model.state_dict(), "model.safetensors")
    model.load_state_dict(axon.load("model.safetensors"))

Training checkpoints (model, optimizer, scheduler, RNG stream) live in `axon.checkpoint`.
`export_stablehlo(model, x, path=...)` writes the forward pass as a self-contained StableHLO
program (`jax.export`) that serves without Python model code; `axon.onnx.export(model, x, path)`
writes it as an ONNX file for onnxruntime.
"""

from axon.serialize._stablehlo import export_stablehlo, load_stablehlo
from axon.serialize._state_dict import StateDict, load, save

__all__ = ["StateDict", "export_stablehlo", "load", "load_stablehlo", "save"]
