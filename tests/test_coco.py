"""DeepFashion -> COCO: box convention, pycocotools round trip, determinism, atomic writes, CLI."""

from __future__ import annotations

import io
import json
import struct
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from pycocotools.coco import COCO

from fashionlib import coco
from fashionlib.cli import main


def test_converts_to_coco_that_pycocotools_loads(tiny_root: Path, tmp_path: Path) -> None:
    report = coco.convert(tiny_root, tmp_path / "out", progress=False)
    api = COCO(str(tmp_path / "out" / "train.json"))
    assert sorted(c["name"] for c in api.loadCats(api.getCatIds())) == ["full", "lower", "upper"]
    assert len(api.getImgIds()) == 3
    img = api.loadImgs(1)[0]
    assert (img["file_name"], img["width"], img["height"]) == ("img/Floral_Blouse/img_00000001.jpg", 200, 300)
    ann = api.loadAnns(api.getAnnIds(imgIds=[1]))[0]
    # DeepFashion (20, 30, 180, 200) -> COCO [x_1, y_1, x_2 - x_1, y_2 - y_1]
    assert ann["bbox"] == [20, 30, 160, 170] and ann["area"] == 160 * 170 and ann["iscrowd"] == 0
    assert ann["category_id"] == 1
    table = report.table()
    assert table.loc["train", "total"] == 3 and table.loc["val", "full"] == 1
    assert table[["clamped", "dropped"]].to_numpy().sum() == 0
    assert coco.validate(tmp_path / "out", tiny_root)["images"].sum() == 6


def test_boxes_are_clamped_and_dropped_with_counts(tiny_root: Path, tmp_path: Path) -> None:
    bbox = tiny_root / "Anno" / "list_bbox.txt"
    text = bbox.read_text()
    text = text.replace("000 000 300 301", "000 000 350 320")  # Tee (300x301): sticks out -> clamped
    text = text.replace("010 010 120 150", "310 010 320 150")  # image is 300 wide: nothing left -> dropped
    bbox.write_text(text)
    report = coco.convert(tiny_root, tmp_path / "out", progress=False)
    assert report.clamped == {"train": 1, "val": 0, "test": 0}
    assert report.dropped == {"train": 0, "val": 1, "test": 0}
    train = json.loads((tmp_path / "out" / "train.json").read_text())
    tee = next(a for a in train["annotations"] if a["image_id"] == 3)
    assert tee["bbox"] == [0, 0, 300, 301]
    val = json.loads((tmp_path / "out" / "val.json").read_text())
    assert len(val["images"]) == 2 and len(val["annotations"]) == 1


def test_category_mode_uses_the_50_labels(tiny_root: Path, tmp_path: Path) -> None:
    coco.convert(tiny_root, tmp_path / "out", classes="categories", progress=False)
    api = COCO(str(tmp_path / "out" / "val.json"))
    assert [c["name"] for c in api.loadCats(api.getCatIds())][:3] == ["Blouse", "Tee", "Jeans"]
    assert sorted(a["category_id"] for a in api.loadAnns(api.getAnnIds())) == [1, 5]


def test_same_input_gives_byte_identical_output(tiny_root: Path, tmp_path: Path) -> None:
    coco.convert(tiny_root, tmp_path / "a", progress=False)
    coco.convert(tiny_root, tmp_path / "b", workers=2, progress=False)
    for split in ("train", "val", "test"):
        assert (tmp_path / "a" / f"{split}.json").read_bytes() == (tmp_path / "b" / f"{split}.json").read_bytes()


def test_missing_image_fails_before_anything_is_written(tiny_root: Path, tmp_path: Path) -> None:
    (tiny_root / "img" / "Maxi_Dress" / "img_00000001.jpg").unlink()
    out = tmp_path / "out"
    with pytest.raises(FileNotFoundError, match="Maxi_Dress/img_00000001.jpg is listed in the annotations"):
        coco.convert(tiny_root, out, progress=False)
    assert not out.exists() or not any(out.iterdir())


def test_existing_outputs_survive_a_failed_conversion(tiny_root: Path, tmp_path: Path) -> None:
    out = tmp_path / "out"
    coco.convert(tiny_root, out, progress=False)
    before = {p.name: p.read_bytes() for p in out.iterdir()}
    (tiny_root / "img" / "Basic_Tee" / "img_00000001.jpg").unlink()
    with pytest.raises(FileNotFoundError):
        coco.convert(tiny_root, out, progress=False)
    assert {p.name: p.read_bytes() for p in out.iterdir()} == before


@pytest.mark.parametrize("kind", ["baseline", "progressive", "exif", "png", "gray", "cmyk"])
def test_header_sizes_match_pil(tmp_path: Path, kind: str) -> None:
    rng = np.random.default_rng(1)
    img = Image.fromarray(rng.integers(0, 255, (123, 77, 3), dtype=np.uint8))
    path = tmp_path / ("x.png" if kind == "png" else "x.jpg")
    if kind == "progressive":
        img.save(path, progressive=True)
    elif kind == "exif":
        exif = Image.Exif()
        exif[0x010E] = "a description " * 500  # a large APP1 segment before the frame header
        img.save(path, exif=exif)
    elif kind == "gray":
        img.convert("L").save(path)
    elif kind == "cmyk":
        img.convert("CMYK").save(path)
    else:
        img.save(path)
    assert coco.image_size(path) == (77, 123)
    with Image.open(path) as reference:
        assert coco.image_size(path) == reference.size


def test_sizes_in_parallel_equal_serial(tiny_root: Path) -> None:
    paths = sorted(tiny_root.glob("img/*/*.jpg")) * 400  # > 2000 paths: the process pool is used
    serial = coco.image_sizes(paths, workers=1, progress=False)
    parallel = coco.image_sizes(paths, workers=2, progress=False)
    np.testing.assert_array_equal(serial, parallel)


def test_broken_image_names_the_file(tmp_path: Path) -> None:
    path = tmp_path / "broken.jpg"
    path.write_bytes(b"not an image at all")
    with pytest.raises(coco.ImageHeaderError, match="broken.jpg"):
        coco.image_size(path)


def test_cli_convert_prints_summary(tiny_root: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["convert", str(tiny_root), str(tmp_path / "out"), "--classes", "types"]) == 0
    out = capsys.readouterr().out
    assert "train.json" in out and "upper" in out and "clamped" in out
    assert (tmp_path / "out" / "test.json").is_file()
    assert main(["convert", str(tmp_path / "nowhere"), str(tmp_path / "o2")]) == 2


def test_ensure_coco_converts_once_and_again_when_the_lists_change(tiny_root: Path, tmp_path: Path) -> None:
    import os
    from types import SimpleNamespace

    profile = SimpleNamespace(data_root=tiny_root, coco_dir=tmp_path / "run" / "coco")
    out = coco.ensure_coco(profile)
    first = (out / "train.json").stat().st_mtime_ns
    assert coco.ensure_coco(profile) == out
    assert (out / "train.json").stat().st_mtime_ns == first  # up to date: not rewritten
    bbox = tiny_root / "Anno" / "list_bbox.txt"
    bbox.write_text(bbox.read_text().replace("020 030 180 200", "021 030 180 200"))
    os.utime(bbox, (1, 1))  # a different mtime, as an edit would give
    coco.ensure_coco(profile)
    train = json.loads((out / "train.json").read_text())
    assert train["annotations"][0]["bbox"] == [21, 30, 159, 170]


def _jpeg_with_segments_before_frame(path: Path, filler: int, big: int = 65535) -> Path:
    """Write a valid JPEG whose frame header follows a COM segment of ``filler`` bytes and an APP15 of ``big``."""
    buf = io.BytesIO()
    Image.new("RGB", (91, 57), (40, 80, 120)).save(buf, format="JPEG")
    body = buf.getvalue()[2:]  # everything after SOI

    def segment(marker: int, total: int) -> bytes:  # total = bytes after the marker, length field included
        return bytes([0xFF, marker]) + struct.pack(">H", total) + b"\x00" * (total - 2)

    data = b"\xff\xd8" + segment(0xFE, filler) + segment(0xEF, big) + body
    path.write_bytes(data)
    return path


@pytest.mark.parametrize("filler", range(65518, 65536, 2))
def test_header_reader_handles_segments_that_cross_its_read_size(tmp_path: Path, filler: int) -> None:
    # Segments that end right after a 64 KiB read boundary once made the reader index past its buffer.
    path = _jpeg_with_segments_before_frame(tmp_path / "x.jpg", filler)
    with Image.open(path) as reference:
        assert reference.size == (91, 57)
    assert coco.image_size(path) == (91, 57)


@pytest.mark.parametrize("kind", ["icc70k", "exif_and_icc", "progressive_icc", "png_named_jpg"])
def test_header_sizes_of_real_world_shapes(tmp_path: Path, kind: str) -> None:
    img = Image.fromarray(np.random.default_rng(2).integers(0, 255, (64, 99, 3), dtype=np.uint8))
    path = tmp_path / "x.jpg"
    if kind == "icc70k":
        img.save(path, icc_profile=b"x" * 70000)  # split over two APP2 segments
    elif kind == "exif_and_icc":
        img.save(path, exif=b"Exif\x00\x00" + b"a" * 65000, icc_profile=b"x" * 200000)
    elif kind == "progressive_icc":
        img.save(path, progressive=True, icc_profile=b"x" * 140000)
    else:
        img.save(path, format="PNG")
    assert coco.image_size(path) == (99, 64)


@pytest.mark.parametrize("damage", ["truncated_before_frame", "bad_length", "no_frame"])
def test_unparsable_jpeg_headers_fall_back_to_pil_or_a_named_error(tmp_path: Path, damage: str) -> None:
    path = _jpeg_with_segments_before_frame(tmp_path / "x.jpg", 100, big=70)
    data = path.read_bytes()
    if damage == "truncated_before_frame":
        data = data[:150]
    elif damage == "bad_length":
        data = data[:2] + b"\xff\xfe\x00\x01" + data[2:]  # a length below 2 is not a JPEG segment
    else:
        data = b"\xff\xd8\xff\xd9"
    path.write_bytes(data)
    try:
        size = coco.image_size(path)
    except coco.ImageHeaderError as exc:
        assert "x.jpg" in str(exc)
    else:
        with Image.open(path) as reference:
            assert size == reference.size
