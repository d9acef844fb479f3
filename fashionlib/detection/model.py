"""The model: torchvision's Faster R-CNN with a ResNet + FPN backbone, built from a config.

``build_model(cfg)`` maps each config key to its torchvision argument. Two things
differ from ``torchvision.models.detection.fasterrcnn_resnet50_fpn``, neither
changes the maths:

* :class:`PreparedTransform` replaces ``GeneralizedRCNNTransform``: images arrive
  already normalised and resized by the data pipeline (same arithmetic, done once
  per image in the loader), so the model only pads them into a batch;
* :class:`~fashionlib.detection.roi_align.FastMultiScaleRoIAlign`: torchvision's
  RoIAlign forward with a multi-threaded sparse-matrix backward on the CPU;
* optionally channels-last (NHWC) memory layout, which oneDNN convolutions on CPU
  and tensor cores on GPU prefer.

Pretrained weights are never downloaded silently: :func:`weights_file` finds them
in the torch hub cache (or ``model.weights_path``) and otherwise raises
:class:`WeightsNotFoundError` saying where to put the file.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch
from torch import nn
from torchvision.models import resnet
from torchvision.models.detection import FasterRCNN
from torchvision.models.detection.anchor_utils import AnchorGenerator
from torchvision.models.detection.backbone_utils import BackboneWithFPN
from torchvision.models.detection.faster_rcnn import (
    FasterRCNN_ResNet50_FPN_Weights,
    FastRCNNPredictor,
    TwoMLPHead,
)
from torchvision.models.detection.image_list import ImageList
from torchvision.models.detection.transform import GeneralizedRCNNTransform
from torchvision.ops import MultiScaleRoIAlign
from torchvision.ops.feature_pyramid_network import LastLevelMaxPool
from torchvision.ops.misc import FrozenBatchNorm2d

from fashionlib.detection.config import DetectorConfig, norm_kind
from fashionlib.detection.roi_align import FastMultiScaleRoIAlign

# The four losses torchvision's Faster R-CNN returns in training mode, in the order it returns them.
LOSS_NAMES = ("loss_classifier", "loss_box_reg", "loss_objectness", "loss_rpn_box_reg")


class WeightsNotFoundError(FileNotFoundError):
    """Raised when pretrained weights were asked for but the file is not on this machine."""


_IMAGENET = {
    "resnet18": resnet.ResNet18_Weights.IMAGENET1K_V1,
    "resnet34": resnet.ResNet34_Weights.IMAGENET1K_V1,
    "resnet50": resnet.ResNet50_Weights.IMAGENET1K_V1,
    "resnet101": resnet.ResNet101_Weights.IMAGENET1K_V1,
}


def weights_url(cfg: DetectorConfig) -> str | None:
    """Return the torchvision download URL of the weights a config asks for (None for ``weights: none``)."""
    m = cfg.model
    if m.weights == "none":
        return None
    if m.weights == "coco":
        return FasterRCNN_ResNet50_FPN_Weights.COCO_V1.url
    return _IMAGENET[m.backbone].url


def hub_checkpoints_dir() -> Path:
    """Return the torch hub cache folder where torchvision keeps downloaded weights."""
    return Path(torch.hub.get_dir()) / "checkpoints"


def weights_file(cfg: DetectorConfig) -> Path | None:
    """Return the local weights file for ``model.weights``; raise WeightsNotFoundError if it is missing."""
    url = weights_url(cfg)
    if url is None:
        return None
    name = url.rsplit("/", 1)[-1]
    m = cfg.model
    if m.weights_path:
        path = Path(m.weights_path).expanduser()
        if path.is_file():
            return path
        raise WeightsNotFoundError(f"model.weights_path {path} does not exist (expected the file {name} from {url})")
    cached = hub_checkpoints_dir() / name
    if cached.is_file():
        return cached
    if m.download:
        try:
            torch.hub.load_state_dict_from_url(url, progress=True, check_hash=True)
        except Exception as exc:  # offline, proxy, disk full...: all end in the same advice
            raise WeightsNotFoundError(_missing_message(cfg, url, cached, f"download failed: {exc}")) from exc
        return cached
    raise WeightsNotFoundError(_missing_message(cfg, url, cached, "model.download is false"))


def _missing_message(cfg: DetectorConfig, url: str, cached: Path, why: str) -> str:
    what = "COCO Faster R-CNN R50-FPN" if cfg.model.weights == "coco" else f"ImageNet {cfg.model.backbone}"
    return (
        f"model.weights: {cfg.model.weights} needs the {what} weights file {cached.name}, which is not in "
        f"{cached.parent} ({why}). Training will not fall back to random weights. Either\n"
        f"  * copy {cached.name} (from {url}) into {cached.parent}, or\n"
        f"  * set model.weights_path: /path/to/{cached.name} in the config, or\n"
        f"  * on Colab or any machine online, set model.download: true (or run once: python -c "
        f"\"import torch; torch.hub.load_state_dict_from_url('{url}')\"), or\n"
        f"  * to train from random initialisation on purpose, set model.weights: none."
    )


def norm_layer(kind: str) -> Callable[[int], nn.Module]:
    """Return a normalisation-layer factory: frozen BN (pretrained), trainable BN or GroupNorm (from scratch)."""
    if kind == "frozen_bn":
        return FrozenBatchNorm2d
    if kind == "bn":
        return nn.BatchNorm2d
    if kind == "gn":
        return lambda channels: nn.GroupNorm(min(32, channels // 4), channels)
    raise ValueError(f"unknown norm {kind!r}; expected frozen_bn, bn or gn")


class SmallResNet(nn.Module):
    """A narrow ResNet (BasicBlocks) for CPU teaching runs; same layer names as torchvision's ResNet."""

    def __init__(
        self, widths: list[int], blocks: list[int], norm: Callable[[int], nn.Module], stem: str = "resnet"
    ) -> None:
        super().__init__()
        if stem == "resnet":  # 7x7 stride-2 convolution + 3x3 max-pool, as in torchvision's ResNet
            self.conv1: nn.Module = nn.Conv2d(3, widths[0], kernel_size=7, stride=2, padding=3, bias=False)
            self.maxpool: nn.Module = nn.MaxPool2d(kernel_size=3, stride=2, padding=1)
        elif stem == "light":  # two 3x3 stride-2 convolutions: same stride 4, a fraction of the cost at full resolution
            half = widths[0] // 2
            self.conv1 = nn.Sequential(
                nn.Conv2d(3, half, 3, stride=2, padding=1, bias=False), norm(half), nn.ReLU(inplace=True),
                nn.Conv2d(half, widths[0], 3, stride=2, padding=1, bias=False),
            )
            self.maxpool = nn.Identity()
        else:
            raise ValueError(f"unknown stem {stem!r}; expected resnet or light")
        self.bn1 = norm(widths[0])
        self.relu = nn.ReLU(inplace=True)
        self.inplanes = widths[0]
        for i, (width, n) in enumerate(zip(widths, blocks)):
            setattr(self, f"layer{i + 1}", self._stage(width, n, stride=1 if i == 0 else 2, norm=norm))
        for mod in self.modules():
            if isinstance(mod, nn.Conv2d):
                nn.init.kaiming_normal_(mod.weight, mode="fan_out", nonlinearity="relu")

    def _stage(self, width: int, n: int, stride: int, norm: Callable[[int], nn.Module]) -> nn.Sequential:
        down = None
        if stride != 1 or self.inplanes != width:
            down = nn.Sequential(nn.Conv2d(self.inplanes, width, 1, stride=stride, bias=False), norm(width))
        layers = [resnet.BasicBlock(self.inplanes, width, stride, down, norm_layer=norm)]
        self.inplanes = width
        layers += [resnet.BasicBlock(width, width, norm_layer=norm) for _ in range(n - 1)]
        return nn.Sequential(*layers)

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # only used through IntermediateLayerGetter
        x = self.maxpool(self.relu(self.bn1(self.conv1(x))))  # (children run in this order)
        return self.layer4(self.layer3(self.layer2(self.layer1(x))))


def build_backbone(cfg: DetectorConfig) -> BackboneWithFPN:
    """Return the ResNet + FPN backbone, with ImageNet weights loaded and early stages frozen as configured."""
    m = cfg.model
    norm = norm_layer(norm_kind(cfg))
    if m.backbone == "small":
        body: nn.Module = SmallResNet(m.widths, m.blocks, norm, m.stem)
        stage_channels = list(m.widths)
    else:
        body = getattr(resnet, m.backbone)(weights=None, norm_layer=norm)
        if m.weights == "imagenet":
            state = torch.load(weights_file(cfg), map_location="cpu", weights_only=True)
            body.load_state_dict(state, strict=False)  # the classifier (fc) is not used
        expansion = 4 if m.backbone in ("resnet50", "resnet101") else 1
        stage_channels = [64 * expansion, 128 * expansion, 256 * expansion, 512 * expansion]
    # Freeze the first stages, as torchvision and Detectron do (FREEZE_AT).
    train_prefixes = ["layer4", "layer3", "layer2", "layer1", "conv1"][: m.trainable_layers]
    if m.trainable_layers == 5:
        train_prefixes.append("bn1")
    for name, param in body.named_parameters():
        if not any(name.startswith(p) for p in train_prefixes):
            param.requires_grad_(False)
    return_layers = {f"layer{k}": str(i) for i, k in enumerate(m.returned_layers)}
    in_channels = [stage_channels[k - 1] for k in m.returned_layers]
    return BackboneWithFPN(body, return_layers, in_channels, m.fpn_channels, extra_blocks=LastLevelMaxPool())


class PreparedTransform(GeneralizedRCNNTransform):
    """Batching for images that the data pipeline already normalised and resized.

    ``GeneralizedRCNNTransform`` normalises and resizes every image at every step;
    here that was done once in the loader with the same arithmetic, so this only
    pads the images into one (optionally channels-last) tensor. In training it
    draws the same one random number per image that torchvision's resize draws, so
    the RPN and RoI samplers see the same random stream as the stock model.
    """

    def __init__(self, cfg: DetectorConfig, channels_last: bool = False) -> None:
        inp = cfg.input
        super().__init__(inp.min_size, inp.max_size, inp.pixel_mean, inp.pixel_std, size_divisible=inp.size_divisible)
        self.channels_last = channels_last

    def forward(
        self, images: list[torch.Tensor], targets: list[dict[str, torch.Tensor]] | None = None
    ) -> tuple[ImageList, list[dict[str, torch.Tensor]] | None]:
        if self.training:
            for _ in images:  # keep the RNG stream aligned with torchvision's torch_choice()
                torch.empty(1).uniform_(0.0, 1.0)
        sizes = [(int(img.shape[-2]), int(img.shape[-1])) for img in images]
        div = self.size_divisible
        height = -(-max(h for h, _ in sizes) // div) * div
        width = -(-max(w for _, w in sizes) // div) * div
        fmt = torch.channels_last if self.channels_last else torch.contiguous_format
        batch = torch.empty(
            (len(images), images[0].shape[0], height, width),
            dtype=images[0].dtype, device=images[0].device, memory_format=fmt,
        ).zero_()
        for i, img in enumerate(images):
            batch[i, :, : img.shape[-2], : img.shape[-1]].copy_(img)
        return ImageList(batch, sizes), targets


def build_model(
    cfg: DetectorConfig, *, stock_transform: bool = False, channels_last: bool = False, fast_roi_align: bool = True
) -> FasterRCNN:
    """Return the Faster R-CNN of a config (pretrained parts loaded), in train mode on the CPU.

    ``stock_transform=True`` keeps torchvision's GeneralizedRCNNTransform (raw [0, 1]
    images of any size in); the default expects images from :mod:`fashionlib.detection.data`.
    ``fast_roi_align`` swaps in RoIAlign with the sparse CPU backward (same outputs).
    """
    m, rpn, roi = cfg.model, cfg.rpn, cfg.roi_heads
    backbone = build_backbone(cfg)
    levels = [str(i) for i in range(len(m.returned_layers))]
    anchors = AnchorGenerator(
        sizes=tuple((s,) for s in m.anchor_sizes), aspect_ratios=(tuple(m.aspect_ratios),) * len(m.anchor_sizes)
    )
    res = m.roi_output_size
    model = FasterRCNN(
        backbone,
        num_classes=None,
        min_size=cfg.input.min_size,
        max_size=cfg.input.max_size,
        image_mean=cfg.input.pixel_mean,
        image_std=cfg.input.pixel_std,
        rpn_anchor_generator=anchors,
        rpn_pre_nms_top_n_train=rpn.pre_nms_top_n_train,
        rpn_pre_nms_top_n_test=rpn.pre_nms_top_n_test,
        rpn_post_nms_top_n_train=rpn.post_nms_top_n_train,
        rpn_post_nms_top_n_test=rpn.post_nms_top_n_test,
        rpn_nms_thresh=rpn.nms_thresh,
        rpn_fg_iou_thresh=rpn.fg_iou_thresh,
        rpn_bg_iou_thresh=rpn.bg_iou_thresh,
        rpn_batch_size_per_image=rpn.batch_size_per_image,
        rpn_positive_fraction=rpn.positive_fraction,
        box_roi_pool=(FastMultiScaleRoIAlign if fast_roi_align else MultiScaleRoIAlign)(
            featmap_names=levels, output_size=res, sampling_ratio=m.roi_sampling_ratio
        ),
        box_head=TwoMLPHead(m.fpn_channels * res * res, m.representation_size),
        box_predictor=FastRCNNPredictor(m.representation_size, m.num_classes),
        box_score_thresh=roi.score_thresh,
        box_nms_thresh=roi.nms_thresh,
        box_detections_per_img=roi.detections_per_img,
        box_fg_iou_thresh=roi.fg_iou_thresh,
        box_bg_iou_thresh=roi.bg_iou_thresh,
        box_batch_size_per_image=roi.batch_size_per_image,
        box_positive_fraction=roi.positive_fraction,
    )
    if m.weights == "coco":
        _load_coco(model, weights_file(cfg))
    if not stock_transform:
        model.transform = PreparedTransform(cfg, channels_last=channels_last)
    if channels_last:
        model = model.to(memory_format=torch.channels_last)
    return model


def _load_coco(model: FasterRCNN, path: Path) -> None:
    """Load COCO weights into every layer whose shape matches (the 91-class predictor is re-initialised)."""
    state = torch.load(path, map_location="cpu", weights_only=True)
    own = model.state_dict()
    usable = {k: v for k, v in state.items() if k in own and own[k].shape == v.shape}
    model.load_state_dict(usable, strict=False)
    for mod in model.modules():  # torchvision's COCO_V1 weights were trained with eps=0 in FrozenBN
        if isinstance(mod, FrozenBatchNorm2d):
            mod.eps = 0.0


def param_groups(model: nn.Module, cfg: DetectorConfig) -> list[dict[str, Any]]:
    """Return SGD parameter groups: weights, and biases with their own LR factor and weight decay (Detectron)."""
    s = cfg.solver
    weights, biases = [], []
    for name, param in model.named_parameters():
        if param.requires_grad:
            (biases if name.endswith(".bias") else weights).append(param)
    groups = [{"params": weights, "lr": s.base_lr, "weight_decay": s.weight_decay, "lr_factor": 1.0}]
    if biases:
        groups.append({
            "params": biases,
            "lr": s.base_lr * s.bias_lr_factor,
            "weight_decay": s.weight_decay if s.bias_weight_decay else 0.0,
            "lr_factor": s.bias_lr_factor,
        })
    return groups


def model_summary(cfg: DetectorConfig) -> Any:
    """Return a table of parameter counts per part of the network of ``cfg`` (built without pretrained files)."""
    import pandas as pd

    bare = cfg.copy()
    bare.model.norm = norm_kind(cfg)
    bare.model.weights = "none"
    model = build_model(bare)
    parts = {"backbone body": model.backbone.body, "FPN": model.backbone.fpn, "RPN head": model.rpn.head,
             "box head (2-MLP)": model.roi_heads.box_head, "box predictor": model.roi_heads.box_predictor}
    rows = {name: sum(p.numel() for p in part.parameters()) for name, part in parts.items()}
    rows["total"] = sum(rows.values())
    return pd.DataFrame({"parameters": rows})
