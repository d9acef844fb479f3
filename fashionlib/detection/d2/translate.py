"""The detector config in detectron2's terms: one row per setting, each with the reason it maps so.

Pure Python (no detectron2 import), so notebooks and tests can show the table anywhere.
:func:`fashionlib.detection.d2.to_d2_config` merges these rows into detectron2's ``get_cfg()``.
Settings detectron2 has no key for live under ``FASHIONLIB.*`` (added by ``add_fashionlib_keys``).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from fashionlib.detection.config import DetectorConfig, norm_kind

# detectron2's names for our normalisation layers.
D2_NORM = {"frozen_bn": "FrozenBN", "bn": "BN", "gn": "GN"}


@dataclass(frozen=True)
class Setting:
    """One detectron2 config key, the value carried into it and why."""

    key: str
    value: Any
    comment: str


def levels(cfg: DetectorConfig) -> tuple[list[str], list[str]]:
    """Return the FPN level names fed to the RoI heads (p2-p5 style) and to the RPN (plus the pooled level)."""
    roi = [f"p{k + 1}" for k in cfg.model.returned_layers]  # ResNet stage k has stride 2**(k+1)
    return roi, roi + [f"p{cfg.model.returned_layers[-1] + 2}"]  # LastLevelMaxPool: one level coarser


def iou_rule(bg: float, fg: float) -> tuple[list[float], list[int]]:
    """Return detectron2's (IOU_THRESHOLDS, IOU_LABELS): background below ``bg``, foreground from ``fg``."""
    return ([bg], [0, 1]) if bg == fg else ([bg, fg], [0, -1, 1])


def translation(cfg: DetectorConfig, device: str = "cpu") -> list[Setting]:
    """Return every setting of ``cfg`` as detectron2 config keys, with the reason for each mapping."""
    m, rpn, roi, inp, s, t = cfg.model, cfg.rpn, cfg.roi_heads, cfg.input, cfg.solver, cfg.train
    roi_levels, rpn_levels = levels(cfg)
    rpn_iou, rpn_labels = iou_rule(rpn.bg_iou_thresh, rpn.fg_iou_thresh)
    roi_iou, roi_labels = iou_rule(roi.bg_iou_thresh, roi.fg_iou_thresh)
    px = [round(v * 255, 4) for v in inp.pixel_mean]
    sd = [round(v * 255, 4) for v in inp.pixel_std]
    S = Setting
    return [
        # Model: the network is detectron2's GeneralizedRCNN; the backbone is ours (same code, same weights).
        S("MODEL.META_ARCHITECTURE", "GeneralizedRCNN", "Faster R-CNN: backbone -> RPN -> RoI heads"),
        S("MODEL.DEVICE", device, "cpu or cuda"),
        S("MODEL.WEIGHTS", "", "no detectron2 checkpoint: the backbone loads its own pretrained file (FASHIONLIB.WEIGHTS)"),
        S("MODEL.BACKBONE.NAME", "build_fashionlib_fpn_backbone",
          "our ResNet + FPN (fashionlib.detection.model.build_backbone), registered with detectron2, so both "
          "engines train the same backbone from the same weights file"),
        S("MODEL.BACKBONE.FREEZE_AT", 5 - m.trainable_layers,
          f"model.trainable_layers {m.trainable_layers}: stages frozen from the stem (2 = stem + res2, Detectron's)"),
        S("MODEL.RESNETS.DEPTH", {"resnet18": 18, "resnet34": 34, "resnet50": 50, "resnet101": 101}.get(m.backbone, 0),
          f"model.backbone {m.backbone} (0: the narrow 'small' ResNet, see FASHIONLIB.*)"),
        S("MODEL.RESNETS.NORM", D2_NORM[norm_kind(cfg)], f"model.norm {m.norm}: {norm_kind(cfg)}"),
        S("MODEL.RESNETS.OUT_FEATURES", [f"res{k + 1}" for k in m.returned_layers],
          f"model.returned_layers {m.returned_layers}: ResNet stages fed to the FPN"),
        S("MODEL.FPN.IN_FEATURES", [f"res{k + 1}" for k in m.returned_layers], "the same stages"),
        S("MODEL.FPN.OUT_CHANNELS", m.fpn_channels, "model.fpn_channels"),
        S("MODEL.FPN.FUSE_TYPE", "sum", "top-down pathway adds (Detectron's and torchvision's)"),
        S("MODEL.PIXEL_MEAN", px, "input.pixel_mean x 255: detectron2 normalises 0-255 pixels"),
        S("MODEL.PIXEL_STD", sd, "input.pixel_std x 255"),
        S("MODEL.ANCHOR_GENERATOR.SIZES", [[a] for a in m.anchor_sizes], "model.anchor_sizes: one size per FPN level"),
        S("MODEL.ANCHOR_GENERATOR.ASPECT_RATIOS", [list(m.aspect_ratios)], "model.aspect_ratios, every level"),
        S("MODEL.ANCHOR_GENERATOR.OFFSET", 0.0, "anchors centred on the feature-map grid points, as torchvision"),
        S("MODEL.PROPOSAL_GENERATOR.NAME", "RPN", "region proposal network"),
        S("MODEL.RPN.HEAD_NAME", "StandardRPNHead", "3x3 conv + objectness and box-delta 1x1 convs"),
        S("MODEL.RPN.IN_FEATURES", rpn_levels, "every FPN level, the pooled one included"),
        S("MODEL.RPN.PRE_NMS_TOPK_TRAIN", rpn.pre_nms_top_n_train, "rpn.pre_nms_top_n_train (per FPN level)"),
        S("MODEL.RPN.POST_NMS_TOPK_TRAIN", rpn.post_nms_top_n_train, "rpn.post_nms_top_n_train (per image)"),
        S("MODEL.RPN.PRE_NMS_TOPK_TEST", rpn.pre_nms_top_n_test, "rpn.pre_nms_top_n_test (per FPN level)"),
        S("MODEL.RPN.POST_NMS_TOPK_TEST", rpn.post_nms_top_n_test, "rpn.post_nms_top_n_test (per image)"),
        S("MODEL.RPN.NMS_THRESH", rpn.nms_thresh, "rpn.nms_thresh"),
        S("MODEL.RPN.IOU_THRESHOLDS", rpn_iou, f"rpn.bg_iou_thresh {rpn.bg_iou_thresh} / fg_iou_thresh {rpn.fg_iou_thresh}"),
        S("MODEL.RPN.IOU_LABELS", rpn_labels, "negative below, ignored between, positive above"),
        S("MODEL.RPN.BATCH_SIZE_PER_IMAGE", rpn.batch_size_per_image, "rpn.batch_size_per_image (anchors per image)"),
        S("MODEL.RPN.POSITIVE_FRACTION", rpn.positive_fraction, "rpn.positive_fraction"),
        S("MODEL.RPN.BBOX_REG_WEIGHTS", [1.0, 1.0, 1.0, 1.0], "torchvision's and Detectron's RPN box coder"),
        S("MODEL.ROI_HEADS.NAME", "StandardROIHeads", "box head only (no masks)"),
        S("MODEL.ROI_HEADS.NUM_CLASSES", m.num_classes - 1, f"model.num_classes {m.num_classes} counts the background; detectron2 does not"),
        S("MODEL.ROI_HEADS.IN_FEATURES", roi_levels, "RoIAlign reads p2-p5, not the pooled level"),
        S("MODEL.ROI_HEADS.BATCH_SIZE_PER_IMAGE", roi.batch_size_per_image, "roi_heads.batch_size_per_image (RoIs per image)"),
        S("MODEL.ROI_HEADS.POSITIVE_FRACTION", roi.positive_fraction, "roi_heads.positive_fraction"),
        S("MODEL.ROI_HEADS.IOU_THRESHOLDS", roi_iou, f"roi_heads.bg_iou_thresh {roi.bg_iou_thresh} / fg_iou_thresh {roi.fg_iou_thresh}"),
        S("MODEL.ROI_HEADS.IOU_LABELS", roi_labels, "background below, foreground from the threshold"),
        S("MODEL.ROI_HEADS.SCORE_THRESH_TEST", roi.score_thresh, "roi_heads.score_thresh"),
        S("MODEL.ROI_HEADS.NMS_THRESH_TEST", roi.nms_thresh, "roi_heads.nms_thresh (test NMS per class)"),
        S("TEST.DETECTIONS_PER_IMAGE", roi.detections_per_img, "roi_heads.detections_per_img"),
        S("MODEL.ROI_BOX_HEAD.NAME", "FastRCNNConvFCHead", "with NUM_CONV 0 and NUM_FC 2: the 2-MLP head"),
        S("MODEL.ROI_BOX_HEAD.NUM_CONV", 0, "no conv layers in the box head"),
        S("MODEL.ROI_BOX_HEAD.NUM_FC", 2, "two fully connected layers (Detectron's add_roi_2mlp_head)"),
        S("MODEL.ROI_BOX_HEAD.FC_DIM", m.representation_size, "model.representation_size"),
        S("MODEL.ROI_BOX_HEAD.POOLER_RESOLUTION", m.roi_output_size, "model.roi_output_size (7x7)"),
        S("MODEL.ROI_BOX_HEAD.POOLER_SAMPLING_RATIO", m.roi_sampling_ratio, "model.roi_sampling_ratio"),
        S("MODEL.ROI_BOX_HEAD.POOLER_TYPE", "ROIAlign",
          "RoIAlign without the half-pixel shift, as Detectron and torchvision (detectron2's default is ROIAlignV2)"),
        S("MODEL.ROI_BOX_HEAD.BBOX_REG_WEIGHTS", [10.0, 10.0, 5.0, 5.0], "torchvision's and Detectron's box coder"),
        S("MODEL.ROI_BOX_HEAD.CLS_AGNOSTIC_BBOX_REG", False, "one box regressor per class"),
        # Input: images are resized once, with torchvision's arithmetic (fashionlib.detection.d2.data).
        S("INPUT.FORMAT", "RGB", "our pixel_mean/std are RGB (detectron2's model-zoo means are BGR)"),
        S("INPUT.MIN_SIZE_TRAIN", [inp.min_size], "input.min_size: one training scale"),
        S("INPUT.MIN_SIZE_TRAIN_SAMPLING", "choice", "(only one scale to choose from)"),
        S("INPUT.MAX_SIZE_TRAIN", inp.max_size, "input.max_size"),
        S("INPUT.MIN_SIZE_TEST", inp.min_size, "input.min_size"),
        S("INPUT.MAX_SIZE_TEST", inp.max_size, "input.max_size"),
        S("INPUT.RANDOM_FLIP", "horizontal" if inp.hflip_prob > 0 else "none", f"input.hflip_prob {inp.hflip_prob}"),
        S("DATALOADER.NUM_WORKERS", t.num_workers if device.startswith("cuda") else 0,
          f"train.num_workers {t.num_workers} on a GPU; 0 on the CPU, where a worker would steal compute"),
        S("DATALOADER.ASPECT_RATIO_GROUPING", True, "batch portrait with portrait images: less padding"),
        S("DATALOADER.FILTER_EMPTY_ANNOTATIONS", True, "images without a box teach the RPN nothing here"),
        # Solver.
        S("SOLVER.IMS_PER_BATCH", s.ims_per_batch, "solver.ims_per_batch"),
        S("SOLVER.BASE_LR", s.base_lr, "solver.base_lr"),
        S("SOLVER.MOMENTUM", s.momentum, "solver.momentum"),
        S("SOLVER.NESTEROV", False, "plain momentum, as Detectron"),
        S("SOLVER.WEIGHT_DECAY", s.weight_decay, "solver.weight_decay"),
        S("SOLVER.WEIGHT_DECAY_NORM", s.weight_decay, "norm weights decay like the others, as in the torchvision engine"),
        S("SOLVER.BIAS_LR_FACTOR", s.bias_lr_factor, "solver.bias_lr_factor (Detectron's BIAS_DOUBLE_LR: 2)"),
        S("SOLVER.WEIGHT_DECAY_BIAS", s.weight_decay if s.bias_weight_decay else 0.0,
          f"solver.bias_weight_decay {s.bias_weight_decay}"),
        S("SOLVER.MAX_ITER", s.max_iter, "solver.max_iter"),
        S("SOLVER.STEPS", list(s.steps), "solver.steps: LR x gamma at each"),
        S("SOLVER.GAMMA", s.gamma, "solver.gamma"),
        S("SOLVER.LR_SCHEDULER_NAME", "WarmupMultiStepLR", "linear warm-up, then steps (Detectron's steps_with_decay)"),
        S("SOLVER.WARMUP_ITERS", s.warmup_iters, "solver.warmup_iters"),
        S("SOLVER.WARMUP_FACTOR", s.warmup_factor, "solver.warmup_factor"),
        S("SOLVER.WARMUP_METHOD", "linear", "Detectron's WARM_UP_METHOD"),
        S("SOLVER.CLIP_GRADIENTS.ENABLED", s.clip_grad_norm is not None, f"solver.clip_grad_norm {s.clip_grad_norm}"),
        S("SOLVER.CLIP_GRADIENTS.CLIP_TYPE", "full_model",
          "one norm over all gradients, as the torchvision engine (detectron2's 'norm' clips each tensor alone)"),
        S("SOLVER.CLIP_GRADIENTS.CLIP_VALUE", float(s.clip_grad_norm or 1.0), "the norm limit"),
        S("SOLVER.CLIP_GRADIENTS.NORM_TYPE", 2.0, "L2 norm"),
        S("SOLVER.CHECKPOINT_PERIOD", t.checkpoint_every, "train.checkpoint_every"),
        S("SOLVER.AMP.ENABLED", bool(t.amp and device.startswith("cuda")), f"train.amp {t.amp}: mixed precision on CUDA only"),
        S("TEST.EVAL_PERIOD", t.eval_every, "train.eval_every: validation loss + COCO AP (0: only at the end)"),
        S("SEED", t.seed, "train.seed"),
        S("VERSION", 2, "detectron2 config format"),
        # Settings detectron2 has no key for.
        S("FASHIONLIB.BACKBONE", m.backbone, "model.backbone (resnet18-101 or the narrow 'small' ResNet)"),
        S("FASHIONLIB.WEIGHTS", m.weights, "model.weights: imagenet | coco | none"),
        S("FASHIONLIB.WEIGHTS_PATH", m.weights_path or "", "model.weights_path ('' = the torch hub cache)"),
        S("FASHIONLIB.DOWNLOAD", m.download, "model.download"),
        S("FASHIONLIB.WIDTHS", list(m.widths), "model.widths ('small' backbone)"),
        S("FASHIONLIB.BLOCKS", list(m.blocks), "model.blocks ('small' backbone)"),
        S("FASHIONLIB.STEM", m.stem, "model.stem ('small' backbone)"),
        S("FASHIONLIB.SIZE_DIVISIBLE", inp.size_divisible, "input.size_divisible: batches padded to a multiple"),
        S("FASHIONLIB.HFLIP_PROB", inp.hflip_prob, "input.hflip_prob (detectron2's RandomFlip is fixed at 0.5)"),
        S("FASHIONLIB.LOG_EVERY", t.log_every, "train.log_every: rows written to metrics.jsonl"),
        S("FASHIONLIB.EVAL_MAX_IMAGES", t.eval_max_images or 0, "train.eval_max_images (0: all of val)"),
        S("FASHIONLIB.FINAL_EVAL_MAX_IMAGES", t.final_eval_max_images or 0, "train.final_eval_max_images (0: all)"),
        S("FASHIONLIB.MAX_MINUTES", float(t.max_minutes or 0.0), "train.max_minutes (0: no budget)"),
        S("FASHIONLIB.TIME_SCHEDULE", t.time_schedule, "train.time_schedule: LR steps also at their share of the budget"),
        S("FASHIONLIB.NUM_THREADS", t.num_threads or 0, "train.num_threads (0: torch's default)"),
        S("FASHIONLIB.KEEP_FREED_MEMORY", t.keep_freed_memory, "train.keep_freed_memory (CPU)"),
    ]


def d2_yaml(cfg: DetectorConfig, device: str = "cpu") -> str:
    """Return the translated settings as a commented detectron2 YAML file (every other key: get_cfg()'s default)."""
    import yaml

    tree: dict[str, Any] = {}
    notes: dict[str, str] = {}
    for row in translation(cfg, device):
        *parents, leaf = row.key.split(".")
        node = tree
        for part in parents:
            node = node.setdefault(part, {})
        node[leaf] = row.value
        notes[row.key] = row.comment
    lines = [f"# {cfg.name} translated for detectron2 by fashionlib.detection.d2; keys not listed keep",
             "# detectron2's get_cfg() defaults. Load with fashionlib.detection.d2.load_d2_config(path)."]

    def walk(node: dict[str, Any], prefix: str, depth: int) -> None:
        for key, value in node.items():
            full = f"{prefix}{key}"
            if isinstance(value, dict):
                lines.append(f"{'  ' * depth}{key}:")
                walk(value, full + ".", depth + 1)
            else:
                text = yaml.safe_dump(value, default_flow_style=True, width=10**6).strip()
                text = text[:-4].rstrip() if text.endswith("\n...") else text.removesuffix("...").strip()
                lines.append(f"{'  ' * depth}{key}: {text}  # {notes[full]}")

    walk(tree, "", 0)
    return "\n".join(lines) + "\n"
