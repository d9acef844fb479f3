"""Our ResNet + FPN as a detectron2 backbone, and detectron2 weights -> the torchvision engine's state dict.

Both engines train the same backbone module (``fashionlib.detection.model.build_backbone``)
from the same weights file; the RPN and RoI heads are detectron2's. Their layers have
the same shapes as torchvision's, so :func:`to_torchvision_state` renames them (and moves
the background class from detectron2's last index to torchvision's first): the run's
``checkpoints/last.pt`` then loads in ``fashionlib.detection.predict.load_detector``, and
``evaluate-detector``, ``predict`` and the crop stage work on either engine unchanged.
"""

from __future__ import annotations

from typing import Any

import torch
from detectron2.config import CfgNode
from detectron2.layers import ShapeSpec
from detectron2.modeling import BACKBONE_REGISTRY, Backbone

from fashionlib.detection.config import DetectorConfig, ModelConfig
from fashionlib.detection.d2.translate import D2_NORM
from fashionlib.detection.model import build_backbone
from fashionlib.detection.roi_align import roi_align_fast_backward


def model_config(cfg: CfgNode) -> ModelConfig:
    """Return the backbone part of our config, read back from a detectron2 config."""
    norm = {v: k for k, v in D2_NORM.items()}[cfg.MODEL.RESNETS.NORM]
    f = cfg.FASHIONLIB
    return ModelConfig(
        backbone=f.BACKBONE, weights=f.WEIGHTS, weights_path=f.WEIGHTS_PATH or None, download=f.DOWNLOAD, norm=norm,
        trainable_layers=5 - cfg.MODEL.BACKBONE.FREEZE_AT, widths=list(f.WIDTHS), blocks=list(f.BLOCKS), stem=f.STEM,
        returned_layers=[int(name[3:]) - 1 for name in cfg.MODEL.FPN.IN_FEATURES],
        fpn_channels=cfg.MODEL.FPN.OUT_CHANNELS,
    )


class FashionlibFPN(Backbone):
    """torchvision's BackboneWithFPN (``body`` + ``fpn``) with detectron2's p2..p6 names, strides and padding."""

    def __init__(self, model: ModelConfig, size_divisible: int) -> None:
        super().__init__()
        tv = build_backbone(DetectorConfig(model=model))
        self.body, self.fpn = tv.body, tv.fpn  # same attribute names: state dict keys match torchvision's
        names = [f"p{k + 1}" for k in model.returned_layers]
        self._names = names + [f"p{model.returned_layers[-1] + 2}"]  # "pool": LastLevelMaxPool's extra level
        self._out_features = list(self._names)
        self._out_feature_strides = {name: 2 ** int(name[1:]) for name in self._names}
        self._out_feature_channels = {name: model.fpn_channels for name in self._names}
        self._size_divisible = size_divisible

    @property
    def size_divisibility(self) -> int:
        """Return the multiple detectron2 pads batches to (input.size_divisible)."""
        return self._size_divisible

    def forward(self, x: torch.Tensor) -> dict[str, torch.Tensor]:
        """Return the FPN levels, finest first, keyed p2..p6."""
        return dict(zip(self._names, self.fpn(self.body(x)).values()))

    def output_shape(self) -> dict[str, ShapeSpec]:
        """Return channels and stride of every level."""
        return {n: ShapeSpec(channels=self._out_feature_channels[n], stride=self._out_feature_strides[n])
                for n in self._names}


def build_fashionlib_fpn_backbone(cfg: CfgNode, input_shape: ShapeSpec) -> FashionlibFPN:
    """Return the backbone named by MODEL.BACKBONE.NAME ``build_fashionlib_fpn_backbone``."""
    return FashionlibFPN(model_config(cfg), cfg.FASHIONLIB.SIZE_DIVISIBLE)


# Registering twice raises in detectron2; a re-imported module (autoreload, a re-run cell) must not.
if "build_fashionlib_fpn_backbone" not in BACKBONE_REGISTRY:
    BACKBONE_REGISTRY.register(build_fashionlib_fpn_backbone)


class FastROIAlign(torch.nn.Module):
    """detectron2's ROIAlign (aligned=False) with the torchvision engine's sparse CPU backward: same outputs, faster."""

    def __init__(self, output_size: int, spatial_scale: float, sampling_ratio: int) -> None:
        super().__init__()
        self.output_size, self.spatial_scale, self.sampling_ratio = output_size, spatial_scale, sampling_ratio

    def forward(self, features: torch.Tensor, rois: torch.Tensor) -> torch.Tensor:
        """Return the pooled (R, C, size, size) features of ``rois`` (batch index, x1, y1, x2, y2)."""
        return roi_align_fast_backward(features, rois, self.output_size, self.spatial_scale, self.sampling_ratio)


def use_fast_roi_align(model: torch.nn.Module) -> int:
    """Swap the box pooler's unaligned RoIAligns for :class:`FastROIAlign`; return how many were swapped."""
    from detectron2.layers import ROIAlign

    pooler = getattr(getattr(model, "roi_heads", None), "box_pooler", None)
    swapped = 0
    for i, level in enumerate(getattr(pooler, "level_poolers", [])):
        if isinstance(level, ROIAlign) and not level.aligned and level.sampling_ratio > 0:
            pooler.level_poolers[i] = FastROIAlign(level.output_size[0], level.spatial_scale, level.sampling_ratio)
            swapped += 1
    return swapped


# detectron2 name -> torchvision name (prefixes), for the parts outside the shared backbone.
_RENAME = {
    "proposal_generator.rpn_head.conv.": "rpn.head.conv.0.0.",
    "proposal_generator.rpn_head.objectness_logits.": "rpn.head.cls_logits.",
    "proposal_generator.rpn_head.anchor_deltas.": "rpn.head.bbox_pred.",
    "roi_heads.box_head.fc1.": "roi_heads.box_head.fc6.",
    "roi_heads.box_head.fc2.": "roi_heads.box_head.fc7.",
    "roi_heads.box_predictor.": "roi_heads.box_predictor.",
}


def to_torchvision_state(state: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """Return a detectron2 GeneralizedRCNN state dict as our torchvision FasterRCNN's (fashionlib.detection.model)."""
    out: dict[str, Any] = {}
    for key, value in state.items():
        if key.startswith("backbone."):
            out[key] = value
            continue
        prefix = next((p for p in _RENAME if key.startswith(p)), None)
        if prefix is None:  # pixel_mean / pixel_std buffers: torchvision's transform holds them as plain lists
            continue
        new = _RENAME[prefix] + key[len(prefix):]
        if new.startswith("roi_heads.box_predictor.cls_score."):
            value = torch.cat([value[-1:], value[:-1]])  # background: last class in detectron2, first in torchvision
        elif new.startswith("roi_heads.box_predictor.bbox_pred."):
            value = torch.cat([torch.zeros_like(value[:4]), value])  # torchvision keeps (unused) background deltas
        out[new] = value
    return out
