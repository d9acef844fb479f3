"""Garment crops: square policies, box sources, the crop folder (tree, manifest, uint8 caches), the CLI."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from PIL import Image

from fashionlib import crops as C
from fashionlib.cli import main

# Garment colours per class: a trivially learnable signal for the classifier tests.
CLASS_COLORS = {1: (220, 40, 40), 2: (40, 200, 60), 3: (50, 70, 230)}


def make_garment_images(root: Path, n_per_class: int = 6, *, seed: int = 0, splits=("train", "val")) -> pd.DataFrame:
    """Write PNG photos with one coloured garment box each; return their boxes in crops.BOX_COLUMNS form."""
    rng = np.random.default_rng(seed)
    rows = []
    image_id = 0
    for split in splits:
        for cid in (1, 2, 3):
            for _ in range(n_per_class):
                image_id += 1
                w, h = int(rng.integers(100, 140)), int(rng.integers(130, 170))
                bg = tuple(int(v) for v in rng.integers(150, 230, size=3))
                arr = np.empty((h, w, 3), np.uint8)
                arr[:] = bg
                bw, bh = int(rng.integers(40, w - 10)), int(rng.integers(40, h - 10))
                x, y = int(rng.integers(0, w - bw)), int(rng.integers(0, h - bh))
                arr[y : y + bh, x : x + bw] = CLASS_COLORS[cid]
                # A stripe gives each garment some texture.
                arr[y + bh // 3 : y + bh // 3 + 4, x : x + bw] = 20
                name = f"img/Item_{cid}/img_{image_id:08d}.png"
                (root / name).parent.mkdir(parents=True, exist_ok=True)
                Image.fromarray(arr).save(root / name)
                rows.append((split, image_id, name, cid, x, y, bw, bh, 1.0, 10 + cid))
    return pd.DataFrame(rows, columns=C.BOX_COLUMNS)


def make_crop_folder(tmp: Path, n_per_class: int = 6, *, sizes=(64,), seed: int = 0, **config) -> Path:
    """Return a complete crop folder built from make_garment_images."""
    root = tmp / "photos"
    boxes = make_garment_images(root, n_per_class, seed=seed)
    out = tmp / "crops"
    C.build_crops(boxes, root, out, C.CropConfig(sizes=tuple(sizes), min_size=8, **config), progress=False)
    return out


# ---------------------------------------------------------------------------
# Square policies
# ---------------------------------------------------------------------------


def _region(h: int = 6, w: int = 3) -> np.ndarray:
    return (np.arange(h * w * 3, dtype=np.uint8).reshape(h, w, 3) + 1)


def test_pad_edge_repeats_border_columns() -> None:
    r = _region(6, 3)
    sq = C.make_square(r, "pad-edge")
    assert sq.shape == (6, 6, 3)
    assert np.array_equal(sq[:, 1:4], r)  # centred: pads of 1 before, 2 after
    assert np.array_equal(sq[:, 0], r[:, 0]) and np.array_equal(sq[:, 4], r[:, 2]) and np.array_equal(sq[:, 5], r[:, 2])


def test_pad_reflect_mirrors_and_handles_wide_pads() -> None:
    r = _region(6, 3)
    sq = C.make_square(r, "pad-reflect")
    assert np.array_equal(sq[:, 1:4], r)
    assert np.array_equal(sq[:, 0], r[:, 1])  # reflect (without repeating the edge)
    tall = _region(12, 2)  # pad of 5 on each side from a 2-wide region
    assert C.make_square(tall, "pad-reflect").shape == (12, 12, 3)


def test_center_keeps_the_middle_and_stretch_keeps_the_region() -> None:
    r = _region(7, 3)
    assert np.array_equal(C.make_square(r, "center"), r[2:5])
    assert C.make_square(r, "stretch") is r
    with pytest.raises(C.CropError, match="choose one of"):
        C.make_square(r, "black-bars")


def test_no_policy_adds_black_pixels() -> None:
    img = Image.fromarray(np.full((90, 140, 3), 180, np.uint8))
    for policy in C.POLICIES:
        crop = np.asarray(C.crop_garment(img, (10, 5, 30, 80), policy=policy, size=32))
        assert crop.shape == (32, 32, 3)
        assert crop.min() == 180, policy


def test_pad_context_uses_the_photo_and_slides_inside_it() -> None:
    arr = np.random.default_rng(0).integers(0, 255, size=(100, 200, 3), dtype=np.uint8)
    # A tall box near the left border: the square window slides right instead of padding.
    sq, (x0, y0, x1, y1) = C.square_crop_array(arr, (2, 10, 20, 60), 0.0, "pad-context")
    assert (x1 - x0, y1 - y0) == (60, 60) and x0 == 0 and y0 == 10
    assert np.array_equal(sq, arr[10:70, 0:60])
    # A box taller than the photo is wide: the window cannot fit, the missing columns repeat the border.
    narrow = arr[:, :40]
    sq, (x0, _, x1, _) = C.square_crop_array(narrow, (10, 0, 10, 100), 0.0, "pad-context")
    assert sq.shape == (100, 100, 3) and x1 - x0 == 100
    inside = slice(-x0, -x0 + 40)
    assert np.array_equal(sq[:, inside], narrow)
    assert np.array_equal(sq[:, 0], narrow[:, 0]) and np.array_equal(sq[:, -1], narrow[:, -1])


def test_expand_box_adds_margin_and_clips() -> None:
    assert C.expand_box((10, 20, 100, 50), 0.1, 1000, 1000) == (0, 15, 120, 75)
    assert C.expand_box((0, 0, 50, 50), 0.5, 60, 60) == (0, 0, 60, 60)
    with pytest.raises(C.CropError, match="no area"):
        C.expand_box((70, 70, 5, 5), 0.0, 60, 60)


# ---------------------------------------------------------------------------
# Box sources
# ---------------------------------------------------------------------------


def _write_coco(folder: Path) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    for split, ids in (("train", [1, 2]), ("val", [3]), ("test", [4])):
        data = {
            "images": [{"id": i, "file_name": f"img/X/img_{i:08d}.jpg", "width": 100, "height": 150} for i in ids],
            "annotations": [{"id": i, "image_id": i, "category_id": 1 + i % 3, "bbox": [5, 6, 40 + i, 50],
                             "area": 1, "iscrowd": 0, "deepfashion_category": 7 * i} for i in ids],
            "categories": [{"id": k, "name": n} for k, n in C.CLASS_NAMES.items()],
        }
        (folder / f"{split}.json").write_text(json.dumps(data))
    return folder


def test_boxes_from_coco_reads_every_split(tmp_path: Path) -> None:
    boxes = C.boxes_from_coco(_write_coco(tmp_path / "coco"))
    assert list(boxes["split"]) == ["train", "train", "val", "test"]
    assert list(boxes["source_image"])[2] == "img/X/img_00000003.jpg"
    assert list(boxes["box_w"]) == [41, 42, 43, 44] and list(boxes["deepfashion_category"]) == [7, 14, 21, 28]
    with pytest.raises(C.CropError, match="fashionlib convert"):
        C.boxes_from_coco(tmp_path / "nowhere")


def test_boxes_from_detections_thresholds_and_finds_coco_in_config(tmp_path: Path) -> None:
    coco = _write_coco(tmp_path / "coco")
    det = tmp_path / "det"
    det.mkdir()
    (det / "config.yaml").write_text(f"name: faster_rcnn\ndata:\n  coco_dir: {coco}\n  image_root: /x\n")
    dets = {"train": [{"image_id": 1, "category_id": 2, "bbox": [1, 2, 30, 40], "score": 0.9},
                      {"image_id": 2, "category_id": 1, "bbox": [1, 2, 30, 40], "score": 0.3}],
            "val": [{"image_id": 3, "category_id": 1, "bbox": [0, 0, 50, 60], "score": 0.55}], "test": []}
    for split, rows in dets.items():
        (det / f"detections_{split}.json").write_text(json.dumps(rows))
    assert C.is_detector_run(det)
    boxes = C.boxes_from_detections(det, score_threshold=0.5)
    assert list(boxes["image_id"]) == [1, 3]
    assert list(boxes["score"]) == [0.9, 0.55]
    # The image's DeepFashion category is kept only when the detected type is the annotated one.
    assert list(boxes["deepfashion_category"]) == [7, 21]
    (det / "detections_val.json").write_text(json.dumps([{"image_id": 99, "category_id": 1, "bbox": [0, 0, 9, 9],
                                                          "score": 1.0}]))
    with pytest.raises(C.CropError, match="image_id 99"):
        C.boxes_from_detections(det, coco)
    (det / "detections_test.json").unlink()
    with pytest.raises(C.CropError, match="run the detector"):
        C.boxes_from_detections(det, coco, splits=("test",))


# ---------------------------------------------------------------------------
# The crop folder
# ---------------------------------------------------------------------------


def test_build_crops_writes_tree_manifest_and_matching_caches(tmp_path: Path) -> None:
    root = tmp_path / "photos"
    boxes = make_garment_images(root, 3)
    small = boxes.index[0]
    boxes.loc[small, ["box_w", "box_h"]] = [10, 60]  # below min_size
    out = tmp_path / "crops"
    report = C.build_crops(boxes, root, out, C.CropConfig(min_size=20, policy="pad-edge"), progress=False)
    assert report.dropped_small == 1
    assert report.table().loc["train", "total"] == 8 and report.table().loc["val", "total"] == 9
    manifest = C.read_manifest(out)
    assert len(manifest) == 17
    assert set(manifest.columns) >= {"source_image", "box_x", "box_y", "box_w", "box_h", "class", "score", "policy"}
    for row in manifest.to_dict("records"):
        assert (out / row["path"]).is_file()
        assert row["path"].startswith(f"{row['split']}/{row['class']}/")
    for size in (64, 128):
        train = C.load_crops(out, "train", size)
        assert train.images.shape == (8, size, size, 3) and train.images.dtype == np.uint8
        # Cache row i is exactly the crop of manifest row i.
        r = train.manifest.iloc[5]
        with Image.open(root / r["source_image"]) as im:
            expected = C.crop_garment(im, (r.box_x, r.box_y, r.box_w, r.box_h), policy="pad-edge", size=size)
        assert np.array_equal(train.images[5], np.asarray(expected))
        assert train.labels[5] == C.CLASS_IDS[r["class"]]
    sub = C.load_crops(out, "val", 64, classes=["lower"])
    assert len(sub) == 3 and set(sub.labels) == {2}
    assert json.loads((out / "crops.json").read_text())["counts"] == {"train": 8, "val": 9, "test": 0}


def test_classes_and_cap_select_boxes(tmp_path: Path) -> None:
    boxes = make_garment_images(tmp_path / "p", 4)
    cfg = C.CropConfig(classes=("upper", "full"), max_per_class=2, min_size=8)
    kept, drops = C.select_boxes(boxes, cfg)
    assert set(kept["category_id"]) == {1, 3}
    assert kept.groupby(["split", "category_id"]).size().max() == 2
    assert drops["dropped_classes"] == 8 and drops["dropped_cap"] == 8
    with pytest.raises(C.CropError, match="classes must be among"):
        C.select_boxes(boxes, C.CropConfig(classes=("hats",)))


def test_incomplete_folder_and_missing_size_are_explained(tmp_path: Path) -> None:
    with pytest.raises(C.CropError, match="not a complete crop folder"):
        C.load_crops(tmp_path)
    out = make_crop_folder(tmp_path, 2, sizes=(64,))
    with pytest.raises(C.CropError, match="--size 128"):
        C.load_crops(out, "train", 128)
    with pytest.raises(C.CropError, match="no test crops"):
        C.load_crops(out, "test", 64)


def test_ensure_crops_builds_once_from_ground_truth(tiny_root: Path, tmp_path: Path) -> None:
    from fashionlib.config import Profile

    prof = Profile(name="sample", data_root=tiny_root, run_dir=tmp_path / "run", fast=True, device="cpu")
    source = C.choose_source(prof)
    assert source.kind == "ground truth" and "no detector predictions" in source.reason
    out = C.ensure_crops(prof, source=source)
    cache = out / "cache" / "train_64.npy"
    stamp = cache.stat().st_mtime_ns
    # The tiny benchmark has 6 boxes; one (20x24 px) is below the default 32 px.
    assert len(C.read_manifest(out)) == 5
    assert C.ensure_crops(prof, source=source) == out and cache.stat().st_mtime_ns == stamp
    C.ensure_crops(prof, C.CropConfig(policy="center"), source=source)
    assert cache.stat().st_mtime_ns != stamp and set(C.read_manifest(out)["policy"]) == {"center"}


def test_cli_crop_from_a_coco_folder(tiny_root: Path, tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    from fashionlib.coco import convert

    convert(tiny_root, tmp_path / "coco", progress=False)
    out = tmp_path / "crops"
    code = main(["crop", str(tmp_path / "coco"), "--images", str(tiny_root), "--out", str(out), "--size", "64",
                 "--classes", "upper", "lower", "--min-size", "10"])
    assert code == 0
    printed = capsys.readouterr().out
    assert "from ground truth boxes" in printed
    manifest = C.read_manifest(out)
    assert set(manifest["class"]) == {"upper", "lower"} and len(manifest) == 5  # 3 upper, 2 lower
    assert not (out / "cache" / "train_128.npy").exists()
    assert main(["crop", str(tmp_path), "--images", str(tiny_root), "--out", str(out)]) == 2


# ---------------------------------------------------------------------------
# Garment types come from the COCO file's own categories
# ---------------------------------------------------------------------------


def test_categories_mode_coco_gives_the_same_garment_types(tiny_root: Path, tmp_path: Path) -> None:
    from fashionlib.coco import convert

    convert(tiny_root, tmp_path / "types", classes="types", progress=False)
    convert(tiny_root, tmp_path / "cats", classes="categories", progress=False)
    by_type = C.boxes_from_coco(tmp_path / "types").set_index("source_image")["category_id"]
    by_cat = C.boxes_from_coco(tmp_path / "cats").set_index("source_image")["category_id"]
    pd.testing.assert_series_equal(by_cat.sort_index(), by_type.sort_index())
    # Category 2 (Tee) is an upper garment and 3 (Jeans) a lower one, whatever their ids suggest.
    assert by_cat["img/Basic_Tee/img_00000001.jpg"] == C.CLASS_IDS["upper"]
    assert by_cat["img/Skinny_Jeans/img_00000001.jpg"] == C.CLASS_IDS["lower"]
    report = C.build_crops(C.boxes_from_coco(tmp_path / "cats"), tiny_root, tmp_path / "crops",
                           C.CropConfig(sizes=(64,), min_size=10), progress=False)
    manifest = C.read_manifest(report.out_dir).set_index("source_image")
    assert manifest.loc["img/Basic_Tee/img_00000001.jpg", "class"] == "upper"
    assert manifest.loc["img/Skinny_Jeans/img_00000001.jpg", "class"] == "lower"


def test_detections_of_a_categories_detector_map_to_garment_types(tmp_path: Path) -> None:
    coco = _write_coco(tmp_path / "coco")
    for split in ("train", "val", "test"):
        path = coco / f"{split}.json"
        data = json.loads(path.read_text())
        data["categories"] = [{"id": 1, "name": "Jeans", "supercategory": "lower"},
                              {"id": 2, "name": "Tee", "supercategory": "upper"},
                              {"id": 3, "name": "Dress", "supercategory": "full"}]
        path.write_text(json.dumps(data))
    det = tmp_path / "det"
    det.mkdir()
    (det / "detections_train.json").write_text(json.dumps(
        [{"image_id": 1, "category_id": 2, "bbox": [1, 2, 30, 40], "score": 0.9}]))
    boxes = C.boxes_from_detections(det, coco, splits=("train",))
    assert list(boxes["category_id"]) == [C.CLASS_IDS["upper"]]
    # Image 1 is annotated as category 2 (Tee, upper): the detection of an upper garment keeps its category.
    assert list(boxes["deepfashion_category"]) == [7]
    gt = C.boxes_from_coco(coco, ("train",))
    assert list(gt["category_id"]) == [C.CLASS_IDS["upper"], C.CLASS_IDS["full"]]


def test_coco_categories_without_garment_types_are_refused(tmp_path: Path) -> None:
    coco = _write_coco(tmp_path / "coco")
    data = json.loads((coco / "train.json").read_text())
    data["categories"] = [{"id": k, "name": f"category {k}", "supercategory": "clothes"} for k in (1, 2, 3)]
    (coco / "train.json").write_text(json.dumps(data))
    with pytest.raises(C.CropError, match=r"train\.json: category 1 'category 1' .*--classes types"):
        C.boxes_from_coco(coco, ("train",))
    data["categories"] = [{"id": 1, "name": "upper"}]  # annotations use id 2 too
    (coco / "train.json").write_text(json.dumps(data))
    with pytest.raises(C.CropError, match=r"category_id 2 is not in the file.s categories \(\[1\]\)"):
        C.boxes_from_coco(coco, ("train",))


def test_one_garment_table_for_the_package() -> None:
    from fashionlib import coco, deepfashion, garments, viz

    assert garments.GARMENT_TYPES == ("upper", "lower", "full")
    assert C.CLASS_NAMES is garments.TYPE_NAMES and C.CLASS_IDS is garments.TYPE_IDS
    assert deepfashion.TYPE_NAMES is garments.TYPE_NAMES
    assert C.CropConfig().classes == garments.GARMENT_TYPES
    assert set(garments.GARMENT_TYPES) <= set(viz.TYPE_COLORS) and set(garments.TYPE_NAMES) <= set(viz.TYPE_COLORS)
    types = coco.category_list(None, "types")  # type: ignore[arg-type]  (types mode reads no dataset)
    assert [(c["id"], c["name"]) for c in types] == sorted(garments.TYPE_NAMES.items())


def test_crop_config_values_are_type_checked() -> None:
    from fashionlib.configio import ConfigError

    with pytest.raises(ConfigError, match=r"CropConfig: margin: expected float, found '0\.1' \(str\)"):
        C.CropConfig(margin="0.1")  # type: ignore[arg-type]
    with pytest.raises(ConfigError, match=r"sizes\[0\]: expected int"):
        C.CropConfig(sizes=(64.5,))  # type: ignore[arg-type]
    cfg = C.CropConfig.from_dict({"sizes": [64], "classes": ["upper"], "margin": 0}, source="crops.json")
    assert cfg.sizes == (64,) and cfg.classes == ("upper",) and cfg.margin == 0.0
    with pytest.raises(ConfigError, match="crops.json: unknown key polcy"):
        C.CropConfig.from_dict({"polcy": "center"}, source="crops.json")


def test_cross_class_duplicates_are_suppressed_and_detector_crops_scored() -> None:
    import pandas as pd

    from fashionlib import crops as C

    cols = ["split", "image_id", "source_image", "category_id", "box_x", "box_y", "box_w", "box_h", "score",
            "deepfashion_category"]
    # Photo 1: one dress boxed twice (as "full" 0.9 and as "upper" 0.7); photo 2: one correct pair of trousers.
    det = pd.DataFrame([("val", 1, "a.jpg", 3, 10, 10, 50, 100, 0.9, 0), ("val", 1, "a.jpg", 1, 10, 10, 50, 60, 0.7, 0),
                        ("val", 2, "b.jpg", 2, 0, 0, 40, 80, 0.8, 0)], columns=cols)
    gt = pd.DataFrame([("val", 1, "a.jpg", 3, 12, 10, 48, 100, 1.0, 0), ("val", 2, "b.jpg", 2, 0, 0, 40, 80, 1.0, 0)],
                      columns=cols)
    kept = C.keep_best_per_image(det, 1)
    assert list(kept["category_id"]) == [3, 2]  # the dress keeps its best box, the "upper" duplicate goes
    assert len(C.keep_best_per_image(det, None)) == 3
    raw = C.detector_crop_quality(det, gt)
    assert raw.loc["val", "precision"] == round(2 / 3, 3) and raw.loc["val", "recall"] == 1.0
    clean = C.detector_crop_quality(kept, gt)
    assert clean.loc["val", "precision"] == 1.0 and clean.loc["val", "covered"] == 2
    assert raw.loc["all", "detector boxes"] == 3 and raw.loc["all", "precision"] == round(2 / 3, 3)
