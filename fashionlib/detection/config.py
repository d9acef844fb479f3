"""The detector's configuration: one YAML file, one dataclass per section.

A config file has the sections ``model``, ``rpn``, ``roi_heads``, ``input``,
``solver`` and ``train``; any key left out takes the default below, which is
torchvision's default for Faster R-CNN R50-FPN. The shipped configs live in the
package (``fashionlib/configs/``, installed with it): ``faster_rcnn_R50_FPN_deepfashion3.yaml``
carries the study's Detectron settings; ``faster_rcnn_sample.yaml`` is the 2-core
CPU teaching stand-in. Every value is type-checked when the file is read
(:mod:`fashionlib.configio`), and ``section.key=value`` overrides (the command
line's) are checked the same way. The run folder keeps the *resolved* config
(every key, plus the COCO folder and image root used) as ``config.yaml``.
"""

from __future__ import annotations

import copy
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any

import yaml

from fashionlib import configio
from fashionlib.configio import ConfigError


@dataclass
class ModelConfig:
    """Backbone, anchors and box head."""

    backbone: str = "resnet50"  # resnet18/34/50/101, or "small" (a narrow ResNet for CPU teaching runs)
    weights: str = "imagenet"  # imagenet | coco | none
    weights_path: str | None = None  # a local weights file; default: the torch hub cache
    download: bool = False  # allow fetching missing weights from download.pytorch.org (Colab)
    norm: str = "auto"  # frozen_bn | bn | gn; auto = frozen_bn with weights, bn from scratch
    trainable_layers: int = 3  # backbone stages trained (5 = all); the rest are frozen
    widths: list[int] = field(default_factory=lambda: [32, 64, 128, 256])  # "small" backbone: stage widths
    blocks: list[int] = field(default_factory=lambda: [1, 1, 1, 1])  # "small" backbone: blocks per stage
    stem: str = "resnet"  # "small" backbone: resnet (7x7 conv + max-pool) or light (two 3x3 stride-2 convs)
    returned_layers: list[int] = field(default_factory=lambda: [1, 2, 3, 4])  # ResNet stages fed to the FPN
    fpn_channels: int = 256
    num_classes: int = 4  # including background
    anchor_sizes: list[int] = field(default_factory=lambda: [32, 64, 128, 256, 512])  # one per FPN level
    aspect_ratios: list[float] = field(default_factory=lambda: [0.5, 1.0, 2.0])
    roi_output_size: int = 7
    roi_sampling_ratio: int = 2
    representation_size: int = 1024  # width of the 2-MLP box head


@dataclass
class RPNConfig:
    """Region proposal network."""

    pre_nms_top_n_train: int = 2000  # per FPN level
    post_nms_top_n_train: int = 2000  # per image
    pre_nms_top_n_test: int = 1000
    post_nms_top_n_test: int = 1000
    nms_thresh: float = 0.7
    fg_iou_thresh: float = 0.7
    bg_iou_thresh: float = 0.3
    batch_size_per_image: int = 256
    positive_fraction: float = 0.5


@dataclass
class RoIHeadsConfig:
    """Box classification and regression on the proposals."""

    batch_size_per_image: int = 512
    positive_fraction: float = 0.25
    fg_iou_thresh: float = 0.5
    bg_iou_thresh: float = 0.5
    score_thresh: float = 0.05
    nms_thresh: float = 0.5
    detections_per_img: int = 100


@dataclass
class InputConfig:
    """Resizing, normalisation and augmentation (done once, in the data pipeline)."""

    min_size: int = 800  # shorter side after resizing (train and test)
    max_size: int = 1333  # cap on the longer side
    size_divisible: int = 32  # batches are padded to a multiple of this
    hflip_prob: float = 0.5
    pixel_mean: list[float] = field(default_factory=lambda: [0.485, 0.456, 0.406])  # RGB, images in [0, 1]
    pixel_std: list[float] = field(default_factory=lambda: [0.229, 0.224, 0.225])


@dataclass
class SolverConfig:
    """Optimiser and learning-rate schedule (iterations, not epochs)."""

    base_lr: float = 0.0025
    momentum: float = 0.9
    weight_decay: float = 1e-4
    bias_lr_factor: float = 1.0  # learning rate multiplier for biases
    bias_weight_decay: bool = True  # apply weight decay to biases
    ims_per_batch: int = 2
    max_iter: int = 360000
    steps: list[int] = field(default_factory=lambda: [240000, 320000])
    gamma: float = 0.1
    warmup_iters: int = 500
    warmup_factor: float = 1.0 / 3
    clip_grad_norm: float | None = None  # None: no clipping


@dataclass
class TrainConfig:
    """Everything about the loop that is not the optimiser."""

    seed: int = 0
    log_every: int = 20  # loss rows are written (and the bar refreshed) every this many iterations
    eval_every: int = 20000  # validation AP + loss; 0 = only at the end
    eval_max_images: int | None = 500  # periodic validation on the first N val images (final eval: all)
    checkpoint_every: int = 5000
    num_workers: int = 2
    micro_batches: int = 1  # forward/backward passes per process per step (gradient accumulation; same result)
    num_threads: int | None = None  # torch CPU threads while training; None = torch's default
    amp: bool = True  # mixed precision, CUDA only
    max_minutes: float | None = None  # stop (checkpointed) when the next iteration would pass this budget
    time_schedule: bool = False  # with max_minutes: LR steps also happen at their share of the time budget
    channels_last: bool = True  # NHWC memory layout on CUDA (tensor cores); the CPU always uses NCHW
    keep_freed_memory: bool = False  # CPU only, opt-in: no page-fault storm per step (fashionlib.cpumem); costs memory
    fast_max_iter: int = 40  # FASHIONLIB_FAST=1: train this many iterations (the schedule shrinks with it)
    fast_eval_max_images: int = 60  # FASHIONLIB_FAST=1: evaluate on this many val images
    final_eval_max_images: int | None = None  # final evaluation on the first N val images (None: all)


@dataclass
class DataConfig:
    """Where the data came from; filled in when a run starts, so config.yaml records it."""

    coco_dir: str | None = None
    image_root: str | None = None
    train_split: str = "train"
    val_split: str = "val"


@dataclass
class DetectorConfig:
    """A whole detector config: the sections above plus a name and a description."""

    name: str = "faster_rcnn"
    description: str = ""
    model: ModelConfig = field(default_factory=ModelConfig)
    rpn: RPNConfig = field(default_factory=RPNConfig)
    roi_heads: RoIHeadsConfig = field(default_factory=RoIHeadsConfig)
    input: InputConfig = field(default_factory=InputConfig)
    solver: SolverConfig = field(default_factory=SolverConfig)
    train: TrainConfig = field(default_factory=TrainConfig)
    data: DataConfig = field(default_factory=DataConfig)

    def to_dict(self) -> dict[str, Any]:
        """Return the config as a plain nested dict (what config.yaml holds)."""
        return asdict(self)

    def to_yaml(self) -> str:
        """Return the config as YAML text, sections in a fixed order, lists on one line."""
        return yaml.dump(self.to_dict(), Dumper=_Dumper, sort_keys=False, default_flow_style=False)

    def copy(self) -> DetectorConfig:
        """Return a deep copy."""
        return copy.deepcopy(self)

    def model_dict(self) -> dict[str, Any]:
        """Return the sections that define the network (what a checkpoint needs to rebuild it)."""
        d = self.to_dict()
        return {k: d[k] for k in ("model", "rpn", "roi_heads", "input")}


class _Dumper(yaml.SafeDumper):
    """YAML dumper writing lists inline ([32, 64]) and mappings as blocks."""


_Dumper.add_representer(list, lambda d, v: d.represent_sequence("tag:yaml.org,2002:seq", v, flow_style=True))

_CHOICES = {
    ("model", "weights"): ("imagenet", "coco", "none"),
    ("model", "norm"): ("auto", "frozen_bn", "bn", "gn"),
    ("model", "backbone"): ("small", "resnet18", "resnet34", "resnet50", "resnet101"),
    ("model", "stem"): ("resnet", "light"),
}


def from_dict(raw: Mapping[str, Any] | None, *, source: str = "config") -> DetectorConfig:
    """Return a :class:`DetectorConfig` from a nested dict, rejecting unknown keys and values of the wrong type."""
    cfg = configio.validate(DetectorConfig, raw, source=source)
    validate(cfg, source=source)
    return cfg


def validate(cfg: DetectorConfig, *, source: str = "config") -> None:
    """Raise :class:`ConfigError` if values are out of range or inconsistent."""
    for (section, key), allowed in _CHOICES.items():
        value = getattr(getattr(cfg, section), key)
        if value not in allowed:
            raise ConfigError(f"{source}: {section}.{key}={value!r}; expected one of {', '.join(allowed)}")
    m, s = cfg.model, cfg.solver
    levels = len(m.returned_layers) + 1  # the FPN adds one max-pooled level on top
    if len(m.anchor_sizes) != levels:
        raise ConfigError(
            f"{source}: model.anchor_sizes has {len(m.anchor_sizes)} sizes but the FPN has {levels} levels "
            f"(returned_layers {m.returned_layers} + 1 pooled); give one size per level"
        )
    if not set(m.returned_layers) <= {1, 2, 3, 4}:
        raise ConfigError(f"{source}: model.returned_layers must be among 1, 2, 3, 4")
    if m.weights == "coco" and m.backbone != "resnet50":
        raise ConfigError(f"{source}: COCO weights exist for resnet50 only, not {m.backbone}")
    if m.weights != "none" and m.backbone == "small":
        raise ConfigError(f"{source}: the 'small' backbone has no pretrained weights; use weights: none")
    if not 0 <= m.trainable_layers <= 5:
        raise ConfigError(f"{source}: model.trainable_layers must be in 0..5")
    if m.weights == "none" and m.trainable_layers != 5:
        raise ConfigError(
            f"{source}: model.weights is none but model.trainable_layers={m.trainable_layers}: frozen layers "
            "would stay random; use trainable_layers: 5 when training from scratch"
        )
    if norm_kind(cfg) == "frozen_bn" and m.weights == "none":
        raise ConfigError(
            f"{source}: frozen BatchNorm with random weights never learns; use model.norm: bn (or gn) with weights: none"
        )
    if m.num_classes < 2:
        raise ConfigError(f"{source}: model.num_classes counts the background; it must be at least 2")
    if s.ims_per_batch < 1 or s.max_iter < 1:
        raise ConfigError(f"{source}: solver.ims_per_batch and solver.max_iter must be positive")
    if cfg.train.micro_batches < 1 or s.ims_per_batch % cfg.train.micro_batches:
        raise ConfigError(f"{source}: train.micro_batches must divide solver.ims_per_batch ({s.ims_per_batch}), "
                          f"found {cfg.train.micro_batches}")
    if list(s.steps) != sorted(s.steps):
        raise ConfigError(f"{source}: solver.steps must be increasing")


def with_global_batch(cfg: DetectorConfig, ims_per_batch: int) -> DetectorConfig:
    """Return a copy with another global batch and the learning rate scaled by the linear rule.

    The rule of Goyal et al. (2017) that torchvision's detection references follow: LR 0.02 for 16 images
    per step, i.e. 0.00125 per image; the study's 0.0025 for 2 images is the same rule. Warm-up and the
    LR steps stay in iterations, as in those references.
    """
    out = cfg.copy()
    out.solver.base_lr = cfg.solver.base_lr * ims_per_batch / cfg.solver.ims_per_batch
    out.solver.ims_per_batch = ims_per_batch
    return out


def norm_kind(cfg: DetectorConfig) -> str:
    """Return the normalisation layer actually used: frozen BN with pretrained weights, trainable BN without."""
    if cfg.model.norm != "auto":
        return cfg.model.norm
    return "bn" if cfg.model.weights == "none" else "frozen_bn"


def configs_dir() -> Path:
    """Return the folder of the shipped configs (``fashionlib/configs``, package data in an installed wheel)."""
    return Path(str(resources.files("fashionlib") / "configs"))


def shipped_configs() -> list[str]:
    """Return the names of the configs shipped with the package."""
    return sorted(p.stem for p in configs_dir().glob("*.yaml"))


def config_path(name: str | Path) -> Path:
    """Return the path of a config given a file path or a shipped config's name (``configs/NAME.yaml`` works too)."""
    path = Path(name)
    if path.is_file():
        return path
    # A bare name, or the repository's former configs/NAME.yaml path: the file shipped with the package.
    stem = path.stem if path.suffix in (".yaml", ".yml") and path.parent.name in ("", "configs") else str(path)
    candidate = configs_dir() / f"{stem}.yaml"
    if candidate.is_file():
        return candidate
    raise FileNotFoundError(f"no detector config {str(name)!r}; give a YAML file or one of: "
                            f"{', '.join(shipped_configs()) or 'none'}")


def load_config(name: str | Path, overrides: Sequence[str] | Mapping[str, Any] = ()) -> DetectorConfig:
    """Return the config read from a YAML file (or a shipped name), with ``section.key=value`` overrides applied."""
    path = config_path(name)
    raw = configio.load_yaml_mapping(path)
    return with_overrides(from_dict(raw, source=str(path)), overrides)


def with_overrides(cfg: DetectorConfig, overrides: Sequence[str] | Mapping[str, Any]) -> DetectorConfig:
    """Return a copy of ``cfg`` with overrides (``["solver.base_lr=0.01"]`` or a nested dict), type-checked."""
    if not overrides:
        return cfg
    update = configio.parse_overrides(overrides) if not isinstance(overrides, Mapping) else overrides
    return from_dict(configio.merge(cfg.to_dict(), update), source="override")


def sample_config() -> DetectorConfig:
    """Return the CPU teaching config (``fashionlib/configs/faster_rcnn_sample.yaml``)."""
    return load_config("faster_rcnn_sample")


def study_config() -> DetectorConfig:
    """Return the study's config (``fashionlib/configs/faster_rcnn_R50_FPN_deepfashion3.yaml``)."""
    return load_config("faster_rcnn_R50_FPN_deepfashion3")


def with_schedule(cfg: DetectorConfig, max_iter: int) -> DetectorConfig:
    """Return a copy trained for ``max_iter`` iterations, with LR steps, warm-up and eval spacing scaled alike."""
    out = cfg.copy()
    s, t = out.solver, out.train
    ratio = max_iter / s.max_iter
    s.steps = [max(1, round(step * ratio)) for step in s.steps]
    s.warmup_iters = min(round(s.warmup_iters * ratio), max_iter)
    if t.eval_every:
        t.eval_every = max(1, round(t.eval_every * ratio))
    t.checkpoint_every = max(1, round(t.checkpoint_every * ratio))
    s.max_iter = max_iter
    return out


def fast_version(cfg: DetectorConfig) -> DetectorConfig:
    """Return the FASHIONLIB_FAST variant: a short schedule and a small validation subset, same model and data."""
    if cfg.solver.max_iter <= cfg.train.fast_max_iter:
        return cfg.copy()
    out = with_schedule(cfg, cfg.train.fast_max_iter)
    out.train.eval_max_images = min(out.train.eval_max_images or 10**9, cfg.train.fast_eval_max_images)
    out.train.final_eval_max_images = out.train.eval_max_images
    half = max(1, out.solver.max_iter // 2)  # one periodic validation and a few checkpoints are enough here
    out.train.eval_every = max(out.train.eval_every, half) if out.train.eval_every else 0
    out.train.checkpoint_every = max(out.train.checkpoint_every, half)
    out.name = f"{cfg.name}-fast"
    return out


def yaml_comments(name: str | Path) -> dict[str, str]:
    """Return ``{"section.key": comment}`` for every commented key line of a config file."""
    out: dict[str, str] = {}
    section = None
    for line in config_path(name).read_text(encoding="utf-8").splitlines():
        if line and not line.startswith((" ", "#")) and line.rstrip().endswith(":"):
            section = line.rstrip()[:-1]
        elif section and line.startswith("  ") and "#" in line and ":" in line.split("#")[0]:
            key = line.split(":")[0].strip()
            out[f"{section}.{key}"] = line.split("#", 1)[1].strip()
    return out


def config_table(
    study: str | Path = "faster_rcnn_R50_FPN_deepfashion3", other: str | Path = "faster_rcnn_sample"
) -> Any:
    """Return a table of the study's settings (value + the Detectron setting it carries) beside another config's."""
    import pandas as pd

    a, b = load_config(study).to_dict(), load_config(other).to_dict()
    notes = yaml_comments(study)
    rows = []
    for section in ("model", "rpn", "roi_heads", "input", "solver"):
        for key, value in a[section].items():
            if key in ("weights_path", "download", "widths", "blocks", "stem") and value == b[section][key]:
                continue
            rows.append({"setting": f"{section}.{key}", "study": _short(value), "Detectron setting": notes.get(
                f"{section}.{key}", ""), load_config(other).name: _short(b[section][key]),
                "same": value == b[section][key]})
    return pd.DataFrame(rows).set_index("setting")


def _short(value: Any) -> str:
    return str(value) if not isinstance(value, float) else f"{value:g}"
