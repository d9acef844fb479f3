"""Our detector config as a detectron2 ``CfgNode`` (the rows of :mod:`fashionlib.detection.d2.translate`)."""

from __future__ import annotations

from pathlib import Path

from detectron2.config import CfgNode, get_cfg

from fashionlib.detection.config import DetectorConfig
from fashionlib.detection.d2.translate import translation


def add_fashionlib_keys(cfg: CfgNode) -> CfgNode:
    """Add the ``FASHIONLIB`` node (settings detectron2 has no key for) with defaults; return ``cfg``."""
    cfg.FASHIONLIB = CfgNode({
        "BACKBONE": "resnet50", "WEIGHTS": "imagenet", "WEIGHTS_PATH": "", "DOWNLOAD": False,
        "WIDTHS": [32, 64, 128, 256], "BLOCKS": [1, 1, 1, 1], "STEM": "resnet", "SIZE_DIVISIBLE": 32,
        "HFLIP_PROB": 0.5, "LOG_EVERY": 20, "EVAL_MAX_IMAGES": 0, "FINAL_EVAL_MAX_IMAGES": 0, "MAX_MINUTES": 0.0,
        "TIME_SCHEDULE": False, "NUM_THREADS": 0, "KEEP_FREED_MEMORY": True,
    })
    cfg.SOLVER.CLIP_GRADIENTS.CLIP_TYPE = "full_model"  # one norm over all gradients (see translate.py)
    return cfg


def to_d2_config(cfg: DetectorConfig, device: str = "cpu") -> CfgNode:
    """Return detectron2's default config with every setting of ``cfg`` carried over (frozen)."""
    import fashionlib.detection.d2.modeling  # noqa: F401 - registers the backbone the config names

    out = add_fashionlib_keys(get_cfg())
    for row in translation(cfg, device):
        *parents, leaf = row.key.split(".")
        node = out
        for part in parents:
            node = node[part]
        if leaf not in node:  # a typo in translate.py must not create a key detectron2 never reads
            raise KeyError(f"{row.key} is not a detectron2 config key")
        node[leaf] = row.value
    out.freeze()
    return out


def load_d2_config(path: str | Path) -> CfgNode:
    """Return a config from a ``detectron2.yaml`` written beside a run (detectron2's merge checks every key)."""
    import fashionlib.detection.d2.modeling  # noqa: F401

    out = add_fashionlib_keys(get_cfg())
    out.merge_from_file(str(path))
    out.freeze()
    return out
