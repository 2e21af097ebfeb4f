"""The three models every exporter is verified on (StableHLO, ONNX): an MLP, a CNN with
BatchNorm and max pooling, and a transformer encoder; each with dropout, so eval mode matters."""

from __future__ import annotations

from axon import nn


def mlp():
    return nn.Sequential(nn.Linear(8, 16), nn.ReLU(), nn.Dropout(0.5), nn.Linear(16, 3))


def cnn():
    return nn.Sequential(
        nn.Conv2d(3, 4, 3, padding=1),
        nn.BatchNorm2d(4),
        nn.ReLU(),
        nn.MaxPool2d(2),
        nn.Flatten(),
        nn.Linear(4 * 4 * 4, 3),
    )


def encoder():
    layer = nn.TransformerEncoderLayer(16, 2, dim_feedforward=32, dropout=0.1, batch_first=True)
    return nn.TransformerEncoder(layer, 2)


# name -> (builder, example input shape)
MODELS = {
    "mlp": (mlp, (2, 8)),
    "cnn": (cnn, (2, 3, 8, 8)),
    "transformer_encoder": (encoder, (2, 5, 16)),
}
