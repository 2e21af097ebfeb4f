"""`axon.onnx`: a model's forward pass as an ONNX file that onnxruntime runs.

    axon.onnx.export(model, example_input, "model.onnx")
    session = onnxruntime.InferenceSession("model.onnx")
    (y,) = session.run(None, {"input": x})

The conversion is jax2onnx's; it and onnx are imported on the first export (`pip install
'axon[onnx]'`). See docs/serialization.md, "ONNX export", for what converts and how closely.
"""

from axon.serialize._onnx import ExportError, export

__all__ = ["ExportError", "export"]
