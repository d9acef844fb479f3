"""The small CNN body both crop models share (the garment-type classifier and the attribute predictor)."""

from __future__ import annotations

from torch import nn


def crop_cnn_body(width: int, feature_dim: int) -> nn.Sequential:
    """Return four stride-2 stages (3x3 conv + BN + ReLU, twice) and global average pooling: 64x64 crop -> features.

    Channels grow 3 -> width -> 2 width -> 4 width -> feature_dim; the output is (B, feature_dim).
    """
    chans = [3, width, 2 * width, 4 * width, feature_dim]
    layers: list[nn.Module] = []
    for cin, cout in zip(chans[:-1], chans[1:]):
        layers += [nn.Conv2d(cin, cout, 3, 2, 1, bias=False), nn.BatchNorm2d(cout), nn.ReLU(inplace=True),
                   nn.Conv2d(cout, cout, 3, 1, 1, bias=False), nn.BatchNorm2d(cout), nn.ReLU(inplace=True)]
    return nn.Sequential(*layers, nn.AdaptiveAvgPool2d(1), nn.Flatten())
