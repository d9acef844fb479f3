"""Shared fixtures: a tiny DeepFashion tree written by hand (an oracle independent of fashionlib.synthetic)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image

CATEGORIES = [("Blouse", 1), ("Tee", 1), ("Jeans", 2), ("Skirt", 2), ("Dress", 3), ("Cape", 3)]
ATTRIBUTES = [("floral", 1), ("abstract chevron print", 1), ("denim", 2), ("maxi", 3), ("v-neck", 4), ("boho", 5)]
# (name, category_label, box, split, size(w, h))
IMAGES = [
    ("img/Floral_Blouse/img_00000001.jpg", 1, (20, 30, 180, 200), "train", (200, 300)),
    ("img/Floral_Blouse/img_00000002.jpg", 1, (10, 10, 120, 150), "val", (300, 200)),
    ("img/Basic_Tee/img_00000001.jpg", 2, (0, 0, 300, 301), "train", (300, 301)),
    ("img/Skinny_Jeans/img_00000001.jpg", 3, (50, 40, 150, 290), "test", (200, 300)),
    ("img/Pleated_Skirt/img_00000001.jpg", 4, (5, 6, 25, 30), "train", (240, 300)),
    ("img/Maxi_Dress/img_00000001.jpg", 5, (30, 20, 210, 299), "val", (250, 300)),
]
LANDMARK_COUNTS = {1: 6, 2: 4, 3: 8}


def write_lines(path: Path, count_header_rows: list[str]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("\n".join(count_header_rows) + "\n", encoding="utf-8")


def write_tiny_deepfashion(root: Path, *, with_images: bool = True) -> Path:
    """Write a 6-image DeepFashion tree in the benchmark's exact format; return root."""
    anno = root / "Anno"
    n = len(IMAGES)
    write_lines(anno / "list_category_cloth.txt",
                [str(len(CATEGORIES)), "category_name  category_type"] + [f"{c:<29}{t}" for c, t in CATEGORIES])
    write_lines(anno / "list_attr_cloth.txt",
                [str(len(ATTRIBUTES)), "attribute_name  attribute_type"] + [f"{a:<29}{t}" for a, t in ATTRIBUTES])
    write_lines(anno / "list_category_img.txt",
                [str(n), "image_name  category_label"] + [f"{im:<71}{lab}" for im, lab, *_ in IMAGES])
    write_lines(anno / "list_bbox.txt",
                [str(n), "image_name  x_1  y_1  x_2  y_2"]
                + [f"{im:<71}{b[0]:03d} {b[1]:03d} {b[2]:03d} {b[3]:03d}" for im, _, b, *_ in IMAGES])
    rng = np.random.default_rng(0)
    attr_rows = []
    for im, *_ in IMAGES:
        labels = rng.choice([-1, -1, 1, 0], size=len(ATTRIBUTES))
        attr_rows.append(f"{im:<71}" + " ".join(f"{v:>2d}" for v in labels))
    write_lines(anno / "list_attr_img.txt", [str(n), "image_name  attribute_labels"] + attr_rows)
    lm_rows = []
    types = dict(enumerate((t for _, t in CATEGORIES), start=1))
    for im, lab, b, *_ in IMAGES:
        k = LANDMARK_COUNTS[types[lab]]
        trip = " ".join(f"{i % 3} {b[0] + i} {b[1] + i}" for i in range(k))
        lm_rows.append(f"{im:<71}{types[lab]}  {trip} ")  # real rows end in a space
    write_lines(anno / "list_landmarks.txt",
                [str(n), "image_name  clothes_type  " + "  ".join(
                    f"landmark_visibility_{i}  landmark_location_x_{i}  landmark_location_y_{i}" for i in range(1, 9))]
                + lm_rows)
    write_lines(root / "Eval" / "list_eval_partition.txt",
                [str(n), "image_name  evaluation_status"] + [f"{im:<71}{sp}" for im, _, _, sp, _ in IMAGES])
    if with_images:
        for im, _, _, _, (w, h) in IMAGES:
            path = root / im
            path.parent.mkdir(parents=True, exist_ok=True)
            Image.new("RGB", (w, h), (200, 100, 50)).save(path, quality=80)
    return root


@pytest.fixture
def tiny_root(tmp_path: Path) -> Path:
    return write_tiny_deepfashion(tmp_path / "DeepFashion")


# --- detection: a tiny COCO dataset and one trained tiny detector, shared by the detection tests ---------


@pytest.fixture(scope="session")
def tiny_data(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """Return (COCO folder, image root) of a tiny flat-coloured-boxes dataset (tests/detection_helpers.py)."""
    from detection_helpers import make_coco

    root = tmp_path_factory.mktemp("tinycoco")
    return make_coco(root), root


@pytest.fixture(scope="session")
def trained_run(tiny_data: tuple[Path, Path], tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Return the run folder of a tiny detector trained to the end (final evaluation included)."""
    from detection_helpers import tiny_config

    from fashionlib.detection import train

    coco, root = tiny_data
    out = tmp_path_factory.mktemp("run") / "det"
    train(tiny_config(), coco_dir=coco, image_root=root, out_dir=out, progress=False)
    return out
