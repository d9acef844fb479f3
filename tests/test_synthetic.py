"""The synthetic sample: exact DeepFashion format, determinism, tight boxes, marker and atomic writes."""

from __future__ import annotations

import argparse
import hashlib
import json
import re
from collections import Counter
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from fashionlib import synthetic
from fashionlib.deepfashion import load
from fashionlib.synthetic import (
    ATTRIBUTES,
    CATEGORIES,
    DRAWN_CATEGORIES,
    MARKER,
    SampleExistsError,
    ensure_sample,
    generate_sample,
    plan_sample,
    read_marker,
    render_image,
    size_class,
)

ANNO_FILES = {
    "Anno/list_category_cloth.txt": "category_name  category_type",
    "Anno/list_category_img.txt": "image_name  category_label",
    "Anno/list_bbox.txt": "image_name  x_1  y_1  x_2  y_2",
    "Anno/list_attr_cloth.txt": "attribute_name  attribute_type",
    "Anno/list_attr_img.txt": "image_name  attribute_labels",
    "Anno/list_landmarks.txt": "image_name  clothes_type  "
    + "  ".join(f"landmark_visibility_{i}  landmark_location_x_{i}  landmark_location_y_{i}" for i in range(1, 9)),
    "Eval/list_eval_partition.txt": "image_name  evaluation_status",
}
IMAGE_NAME = re.compile(r"^img/([A-Za-z0-9-]+(?:_[A-Za-z0-9-]+)*)/img_(\d{8})\.jpg$")


def _rows(root: Path, rel: str) -> list[str]:
    return (root / rel).read_text(encoding="utf-8").split("\n")[2:-1]


def _tree_digest(root: Path) -> dict[str, str]:
    return {
        str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(root.rglob("*"))
        if p.is_file() and p.name != MARKER
    }


@pytest.fixture(scope="module")
def sample300(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A 300-image sample (two worker processes), shared by the format tests."""
    return generate_sample(tmp_path_factory.mktemp("s300") / "DeepFashion", 300, seed=7, workers=2, progress=False)


# ---------------------------------------------------------------------------
# Vocabulary and plan
# ---------------------------------------------------------------------------


def test_categories_are_the_real_50_in_file_order():
    assert len(CATEGORIES) == 50
    assert Counter(t for _, t in CATEGORIES) == {1: 20, 2: 16, 3: 14}
    names = [n for n, _ in CATEGORIES]
    assert names[:3] == ["Anorak", "Blazer", "Blouse"] and names[19] == "Turtleneck"
    assert names[20:22] == ["Capris", "Chinos"] and names[35] == "Trunks"
    assert names[36:38] == ["Caftan", "Cape"] and names[-1] == "Sundress"
    drawn_types = Counter(dict(CATEGORIES)[c] for c in DRAWN_CATEGORIES)
    assert len(DRAWN_CATEGORIES) >= 12 and all(drawn_types[t] >= 3 for t in (1, 2, 3))
    assert not {"Cape", "Nightdress", "Shirtdress", "Sundress"} & set(DRAWN_CATEGORIES)


def test_attributes_cover_the_five_types_with_spaced_names():
    assert 40 <= len(ATTRIBUTES) <= 60
    assert {t for _, t in ATTRIBUTES} == {1, 2, 3, 4, 5}
    names = [n for n, _ in ATTRIBUTES]
    assert names == sorted(names) and len(set(names)) == len(names)
    assert {"floral print", "abstract chevron print", "color block"} <= set(names)
    assert all(len(n) < 29 for n in names)  # fits the padded name column


def test_plan_products_split_and_attributes():
    specs = plan_sample(2000, seed=0)
    assert [s.index for s in specs] == list(range(2000))
    by_folder: dict[str, list] = {}
    for s in specs:
        match = IMAGE_NAME.match(s.image_name)
        assert match, s.image_name
        assert len(s.image_name) < synthetic.NAME_WIDTH
        assert match.group(1).split("_")[-1] == s.category  # the product name ends with the category
        by_folder.setdefault(match.group(1), []).append(s)
    assert set(s.category for s in specs) == set(DRAWN_CATEGORIES)
    for folder, items in by_folder.items():
        # Numbers restart at 1 in each folder; a product has one category, look, attribute set and split.
        assert [int(IMAGE_NAME.match(s.image_name).group(2)) for s in items] == list(range(1, len(items) + 1))
        assert len({(s.category, s.split, s.attributes, json.dumps(s.item)) for s in items}) == 1, folder
        assert 1 <= len(items) <= 8
    assert len(by_folder) > 200
    fractions = Counter(s.split for s in specs)
    assert abs(fractions["train"] / 2000 - 0.72) < 0.03
    assert abs(fractions["val"] / 2000 - 0.14) < 0.03 and abs(fractions["test"] / 2000 - 0.14) < 0.03
    # Stratified: every category drawn has images in every split.
    per_cat = Counter((s.category, s.split) for s in specs)
    assert all(per_cat[(c, sp)] > 0 for c in DRAWN_CATEGORIES for sp in ("train", "val", "test"))


def test_attributes_follow_the_drawn_texture():
    attr_names = [n for n, _ in ATTRIBUTES]
    expected = {"denim": {"denim"}, "floral": {"floral", "floral print"}, "hstripe": {"stripe", "striped"},
                "dots": {"dot", "polka dot"}, "plaid": {"plaid"}, "chevron": {"abstract chevron print"},
                "leather": {"faux leather"}, "knit": {"knit", "ribbed"}, "lace": {"lace"}}
    seen = set()
    for s in plan_sample(1000, seed=1):
        positive = {attr_names[i] for i in s.attributes}
        texture = s.item["texture"]
        if texture in expected:
            assert positive & expected[texture], (s.image_name, texture, positive)
            seen.add(texture)
        if s.category == "Hoodie":
            assert "hooded" in positive
        assert 1 <= len(positive) <= 12  # mostly -1, never all
    assert seen == set(expected)


def test_plan_rejects_empty_sample():
    with pytest.raises(ValueError, match="at least 1"):
        plan_sample(0)


# ---------------------------------------------------------------------------
# Drawing: tight boxes, landmarks on the garment, scale mix
# ---------------------------------------------------------------------------


def test_box_is_tight_around_the_drawn_garment():
    specs = plan_sample(400, seed=2)[::8]
    darker = []
    for spec in specs:
        r = render_image(spec)
        w, h = r.image.size
        assert max(w, h) in (300, 301) and 150 <= min(w, h) <= 301
        x1, y1, x2, y2 = r.bbox
        assert 0 <= x1 < x2 <= w and 0 <= y1 < y2 <= h
        ys, xs = np.nonzero(r.mask)
        assert (x1, y1, x2, y2) == (xs.min(), ys.min(), xs.max() + 1, ys.max() + 1)
        # The garment is really drawn there, with a dark outline: darker than the background just
        # outside and than the garment just inside (what makes garments separable from clutter).
        img = np.asarray(r.image.convert("L"), dtype=float)
        row = y1 + (y2 - y1) // 2
        left = int(np.flatnonzero(r.mask[row])[0])
        if left >= 2 and r.mask[row, left + 3]:
            darker.append((img[row, left - 2] - img[row, left], img[row, left + 3] - img[row, left]))
        # Visible landmarks lie on the garment (within 2 px of its mask); truncated ones are 0 0.
        k = synthetic.LANDMARK_NAMES[spec.clothes_type]
        assert len(r.landmarks) == len(k)
        for v, x, y in r.landmarks:
            if v == 2:
                assert (x, y) == (0, 0)
            else:
                assert r.mask[max(0, y - 2): y + 3, max(0, x - 2): x + 3].any(), (spec.image_name, v, x, y)
    assert len(darker) > 30
    outside, inside = np.median(darker, axis=0)
    assert outside > 50 and inside > 30


def test_render_is_deterministic_and_differs_by_seed():
    spec = plan_sample(5, seed=3)[4]
    a, b = render_image(spec), render_image(spec)
    assert np.array_equal(np.asarray(a.image), np.asarray(b.image)) and a.bbox == b.bbox
    other = plan_sample(5, seed=4)[4]
    assert not np.array_equal(np.asarray(render_image(other).image), np.asarray(a.image))


def test_size_classes_small_medium_large_all_occur(sample300: Path):
    areas = []
    for row in _rows(sample300, "Anno/list_bbox.txt"):
        x1, y1, x2, y2 = map(int, row.split()[1:])
        areas.append((x2 - x1) * (y2 - y1))
    share = Counter(size_class(a) for a in areas)
    assert share["small"] / 300 >= 0.04
    assert 0.15 <= share["medium"] / 300 <= 0.35
    assert share["large"] / 300 >= 0.5
    assert size_class(32 * 32 - 1) == "small" and size_class(32 * 32) == "medium" and size_class(96 * 96) == "large"


# ---------------------------------------------------------------------------
# The written tree: exact format, read back by the real reader
# ---------------------------------------------------------------------------


def test_files_have_count_header_and_rows(sample300: Path):
    for rel, header in ANNO_FILES.items():
        raw = (sample300 / rel).read_bytes()
        assert b"\r" not in raw and raw.endswith(b"\n")
        lines = raw.decode("utf-8").split("\n")[:-1]
        assert lines[1] == header
        assert int(lines[0]) == len(lines) - 2
    cloth = _rows(sample300, "Anno/list_category_cloth.txt")
    assert [(r[:29].rstrip(), int(r[29:])) for r in cloth] == CATEGORIES
    attr = _rows(sample300, "Anno/list_attr_cloth.txt")
    assert [(r[:29].rstrip(), int(r[29:])) for r in attr] == ATTRIBUTES


def test_rows_list_the_same_images_in_the_same_order(sample300: Path):
    names = None
    for rel in ANNO_FILES:
        if "cloth" in rel:
            continue
        rows = _rows(sample300, rel)
        assert all(r[:71].rstrip() == r.split()[0] and r[70] == " " for r in rows)  # name padded to 71
        these = [r[:71].rstrip() for r in rows]
        names = names or these
        assert these == names, rel
    assert len(names) == 300 == len(set(names))
    for name in names:
        assert (sample300 / name).is_file()


def test_row_contents(sample300: Path):
    labels = {i + 1: t for i, (_, t) in enumerate(CATEGORIES)}
    category = [int(r.split()[1]) for r in _rows(sample300, "Anno/list_category_img.txt")]
    assert not {i + 1 for i, (n, _) in enumerate(CATEGORIES) if n in ("Cape", "Nightdress", "Shirtdress", "Sundress")} & set(category)
    assert len(set(category)) >= 12
    for row in _rows(sample300, "Anno/list_bbox.txt"):
        name, *coords = row.split()
        assert all(re.fullmatch(r"\d{3}", c) for c in coords)  # zero-padded like the real file
        x1, y1, x2, y2 = map(int, coords)
        with Image.open(sample300 / name) as img:
            assert img.format == "JPEG"
            w, h = img.size
        assert 0 <= x1 < x2 <= w and 0 <= y1 < y2 <= h
    visibility = Counter()
    for row, cat in zip(_rows(sample300, "Anno/list_landmarks.txt"), category):
        assert row.endswith(" ") and row[71:74] == f"{labels[cat]}  "
        values = list(map(int, row.split()[1:]))
        assert values[0] == labels[cat]
        triplets = np.array(values[1:]).reshape(-1, 3)
        assert len(triplets) == {1: 6, 2: 4, 3: 8}[labels[cat]]
        visibility.update(triplets[:, 0].tolist())
        assert set(triplets[:, 0]) <= {0, 1, 2}
    assert visibility[0] > 10 * visibility[1] > 0  # mostly visible, some occluded
    k = len(ATTRIBUTES)
    for row in _rows(sample300, "Anno/list_attr_img.txt"):
        values = row.split()[1:]
        assert len(values) == k and set(values) <= {"1", "-1"}
        assert len(row) == 71 + 3 * k - 1  # each value right-aligned in 2 columns, one space between
    splits = Counter(r.split()[1] for r in _rows(sample300, "Eval/list_eval_partition.txt"))
    assert set(splits) == {"train", "val", "test"} and splits["train"] > splits["val"] + splits["test"]


def test_the_reader_loads_the_sample(sample300: Path):
    ds = load(sample300)
    assert len(ds) == 300 and len(ds.categories) == 50
    assert ds.attribute_labels.shape == (300, len(ATTRIBUTES))
    assert set(np.unique(ds.attribute_labels)) == {-1, 1}
    assert (ds.attribute_labels == -1).mean() > 0.8  # mostly -1, like the real labels
    assert set(ds.images["type_name"]) == {"upper", "lower", "full"}
    assert (ds.landmarks["clothes_type"].to_numpy() == ds.images["category_type"].to_numpy()).all()


def test_marker_records_parameters_and_summary(sample300: Path):
    marker = read_marker(sample300)
    assert marker["n_images"] == 300 and marker["seed"] == 7 and marker["version"] == synthetic.GENERATOR_VERSION
    summary = marker["summary"]
    assert summary["images"] == 300 == sum(summary["splits"].values()) == sum(summary["size_classes"].values())


# ---------------------------------------------------------------------------
# Determinism, ensure_sample, atomicity, command line
# ---------------------------------------------------------------------------


def test_same_parameters_give_identical_bytes_with_any_worker_count(tmp_path: Path):
    a = generate_sample(tmp_path / "a", 40, seed=5, workers=1, progress=False)
    b = generate_sample(tmp_path / "b", 40, seed=5, workers=2, progress=False)
    digest = _tree_digest(a)
    assert len(digest) == 40 + 7
    assert digest == _tree_digest(b)
    c = generate_sample(tmp_path / "c", 40, seed=6, workers=1, progress=False)
    assert _tree_digest(c) != digest


def test_ensure_sample_generates_once_and_again_when_parameters_change(tmp_path: Path, monkeypatch):
    root = tmp_path / "DeepFashion"
    assert ensure_sample(root, n_images=12, seed=1) == root.resolve()
    assert read_marker(root)["n_images"] == 12
    stamp = (root / "Anno" / "list_bbox.txt").stat().st_mtime_ns

    def must_not_run(*args, **kwargs):
        raise AssertionError("ensure_sample regenerated a current sample")

    with monkeypatch.context() as m:
        m.setattr(synthetic, "generate_sample", must_not_run)
        ensure_sample(root, n_images=12, seed=1)
    assert (root / "Anno" / "list_bbox.txt").stat().st_mtime_ns == stamp

    ensure_sample(root, n_images=15, seed=1)  # different size
    assert read_marker(root)["n_images"] == 15
    assert len(_rows(root, "Anno/list_bbox.txt")) == 15
    ensure_sample(root, n_images=15, seed=2)  # different seed
    assert read_marker(root)["seed"] == 2
    marker = read_marker(root)
    marker["version"] = -1  # an older generator
    (root / MARKER).write_text(json.dumps(marker))
    ensure_sample(root, n_images=15, seed=2)
    assert read_marker(root)["version"] == synthetic.GENERATOR_VERSION
    assert sorted(p.name for p in tmp_path.iterdir() if p.name != ".DeepFashion.lock") == ["DeepFashion"]


def test_a_failure_midway_leaves_no_partial_tree(tmp_path: Path, monkeypatch):
    real = synthetic.render_image
    calls = []

    def flaky(spec):
        calls.append(spec.index)
        if len(calls) == 10:
            raise RuntimeError("disk full (simulated)")
        return real(spec)

    monkeypatch.setattr(synthetic, "render_image", flaky)
    root = tmp_path / "new"
    with pytest.raises(RuntimeError, match="simulated"):
        generate_sample(root, 20, workers=1, progress=False)
    assert not root.exists() and list(tmp_path.iterdir()) == []

    # An existing sample survives a failed regeneration untouched.
    monkeypatch.setattr(synthetic, "render_image", real)
    old = generate_sample(tmp_path / "old", 8, workers=1, progress=False)
    before = _tree_digest(old)
    calls.clear()
    monkeypatch.setattr(synthetic, "render_image", flaky)
    with pytest.raises(RuntimeError):
        generate_sample(old, 12, workers=1, progress=False)
    assert _tree_digest(old) == before and read_marker(old)["n_images"] == 8
    assert sorted(p.name for p in tmp_path.iterdir()) == ["old"]


def test_refuses_to_replace_a_folder_that_is_not_a_sample(tmp_path: Path):
    (tmp_path / "mine").mkdir()
    (tmp_path / "mine" / "notes.txt").write_text("keep me")
    with pytest.raises(SampleExistsError, match="not empty"):
        generate_sample(tmp_path / "mine", 5, progress=False)
    assert (tmp_path / "mine" / "notes.txt").read_text() == "keep me"


def test_sample_data_command(tmp_path: Path, capsys):
    parser = argparse.ArgumentParser()
    synthetic.add_commands(parser.add_subparsers(dest="command"))
    args = parser.parse_args(["sample-data", str(tmp_path / "out"), "--images", "10", "--seed", "3", "--quiet"])
    assert args.func(args) == 0
    out = capsys.readouterr().out
    assert "wrote 10 images" in out and "train" in out and "small" in out
    assert read_marker(tmp_path / "out")["seed"] == 3
    assert args.func(args) == 0  # always regenerates, over its own previous output
