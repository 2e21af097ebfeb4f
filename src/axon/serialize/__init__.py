"""`axon.serialize`: state dicts in `.safetensors` files, with PyTorch's keys and layouts.

    axon.save(model.state_dict(), "model.safetensors")
    model.load_state_dict(axon.load("model.safetensors"))

Training checkpoints (model, optimizer, scheduler, RNG stream) live in `axon.checkpoint`.
"""

from axon.serialize._state_dict import StateDict, load, save

__all__ = ["StateDict", "load", "save"]
