"""detectron2 as a second detector engine (``fashionlib train-detector --engine detectron2``).

Importing this package does not import detectron2: each entry point checks for it and,
when it is missing, raises :class:`Detectron2MissingError` with the one line to run.
Modules: ``translate`` (our config -> detectron2 keys, pure Python), ``config``
(the ``CfgNode``), ``modeling`` (our backbone in detectron2, weight conversion),
``data`` (dataset registration, mapper), ``trainer`` (trainer, hooks, run folder).
"""

from __future__ import annotations

import importlib.util
from pathlib import Path
from typing import Any

from fashionlib.detection.d2.translate import Setting, d2_yaml, translation

__all__ = ["Detectron2MissingError", "Setting", "available", "d2_yaml", "launch_train", "load_d2_config",
           "register_datasets", "require_detectron2", "to_d2_config", "train", "translation"]


class Detectron2MissingError(RuntimeError):
    """Raised when the detectron2 engine is asked for but detectron2 is not installed."""


def available() -> bool:
    """Return whether detectron2 can be imported (without importing it)."""
    return importlib.util.find_spec("detectron2") is not None


def require_detectron2() -> None:
    """Raise Detectron2MissingError unless detectron2 is installed."""
    if not available():
        raise Detectron2MissingError("detectron2 is not installed: run `make detectron2`")


def to_d2_config(cfg: Any, device: str = "cpu") -> Any:
    """Return ``cfg`` (a DetectorConfig) as a frozen detectron2 CfgNode."""
    require_detectron2()
    from fashionlib.detection.d2.config import to_d2_config as convert

    return convert(cfg, device)


def load_d2_config(path: str | Path) -> Any:
    """Return the CfgNode of a run's ``detectron2.yaml``."""
    require_detectron2()
    from fashionlib.detection.d2.config import load_d2_config as load

    return load(path)


def register_datasets(coco_dir: str | Path, image_root: str | Path, splits: tuple[str, ...] = ("train", "val")) -> dict[str, str]:
    """Register our COCO splits with detectron2 (idempotent); return ``{split: dataset name}``."""
    require_detectron2()
    from fashionlib.detection.d2.data import register_datasets as register

    return register(coco_dir, image_root, splits)


def train(cfg: Any, **kwargs: Any) -> Any:
    """Train with detectron2; same arguments and result as ``fashionlib.detection.engine.train``."""
    require_detectron2()
    from fashionlib.detection.d2.trainer import train as run

    return run(cfg, **kwargs)


def launch_train(cfg: Any, **kwargs: Any) -> None:
    """Train with detectron2 on several processes through detectron2's own ``launch`` (see ``trainer.launch_train``)."""
    require_detectron2()
    from fashionlib.detection.d2.trainer import launch_train as run

    run(cfg, **kwargs)
