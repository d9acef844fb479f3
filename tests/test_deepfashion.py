"""The DeepFashion reader: what it accepts, what it refuses, and how it says so."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from conftest import ATTRIBUTES, CATEGORIES, IMAGES

from fashionlib import deepfashion as df
from fashionlib.deepfashion import DeepFashionFormatError


def edit(path: Path, old: str, new: str, count: int = 1) -> None:
    text = path.read_text(encoding="utf-8")
    assert old in text, f"{old!r} not in {path}"
    path.write_text(text.replace(old, new, count), encoding="utf-8")


def test_load_reads_every_file(tiny_root: Path) -> None:
    ds = df.load(tiny_root)
    assert len(ds) == len(IMAGES)
    assert list(ds.categories["name"]) == [c for c, _ in CATEGORIES]
    first = ds.images.iloc[0]
    assert (first["category_name"], first["type_name"], first["split"]) == ("Blouse", "upper", "train")
    assert [first[c] for c in ("x_1", "y_1", "x_2", "y_2")] == [20, 30, 180, 200]  # "020" parsed as 20
    assert ds.images["type_name"].tolist() == ["upper", "upper", "upper", "lower", "lower", "full"]
    assert ds.image_path(0).is_file()


def test_attribute_names_keep_spaces_and_type_is_last_token(tiny_root: Path) -> None:
    attrs = df.load(tiny_root).attributes
    assert attrs.loc[2, "name"] == "abstract chevron print"
    assert attrs.loc[2, "type_name"] == "texture"
    assert attrs["type"].tolist() == [t for _, t in ATTRIBUTES]


def test_attribute_labels_are_int8_and_match_the_file(tiny_root: Path) -> None:
    ds = df.load(tiny_root)
    labels = ds.attribute_labels
    assert labels.dtype == np.int8 and labels.shape == (len(IMAGES), len(ATTRIBUTES))
    rows = (tiny_root / "Anno" / "list_attr_img.txt").read_text().splitlines()[2:]
    expected = np.array([[int(v) for v in r.split()[1:]] for r in rows], dtype=np.int8)
    np.testing.assert_array_equal(labels, expected)
    assert set(np.unique(labels)) <= {-1, 0, 1}


def test_attr_img_parses_across_chunk_boundaries(tiny_root: Path) -> None:
    path = tiny_root / "Anno" / "list_attr_img.txt"
    names_big, big = df.read_attr_img(path)
    names_small, small = df.read_attr_img(path, chunk_bytes=97)  # forces many partial blocks
    assert names_big == names_small
    np.testing.assert_array_equal(big, small)


def test_landmarks_parse_by_position_with_trailing_space(tiny_root: Path) -> None:
    lm = df.load(tiny_root).landmarks
    jeans = lm.iloc[3]  # lower body: 4 landmarks, the rest absent
    assert jeans["clothes_type"] == 2
    assert jeans["landmark_visibility_4"] == 0 and jeans["landmark_location_x_4"] == 50 + 3
    assert jeans["landmark_visibility_5"] == -1
    dress = lm.iloc[5]
    assert dress["landmark_location_y_8"] == 20 + 7 and dress["landmark_visibility_8"] == 7 % 3


def test_tolerates_bom_crlf_and_trailing_blanks(tiny_root: Path) -> None:
    reference = df.load(tiny_root)
    for path in (tiny_root / "Anno").glob("*.txt"):
        text = path.read_text(encoding="utf-8")
        lines = [line + "   " for line in text.splitlines()]
        path.write_bytes(b"\xef\xbb\xbf" + ("\r\n".join(lines) + "\r\n\r\n  \r\n").encode())
    ds = df.load(tiny_root)
    assert ds.images.equals(reference.images)
    np.testing.assert_array_equal(ds.attribute_labels, reference.attribute_labels)
    assert ds.attributes.equals(reference.attributes)


def test_images_may_live_under_Img_img(tiny_root: Path) -> None:
    (tiny_root / "Img").mkdir()
    (tiny_root / "img").rename(tiny_root / "Img" / "img")
    ds = df.load(tiny_root)
    assert ds.image_root == tiny_root / "Img"
    assert ds.image_path(0).is_file()


def edit_line(path: Path, line: int, old: str, new: str) -> None:
    """Replace the last ``old`` on 1-based ``line`` of ``path`` with ``new``."""
    lines = path.read_text(encoding="utf-8").split("\n")
    head, sep, tail = lines[line - 1].rpartition(old)
    assert sep, f"{old!r} not on line {line} of {path}"
    lines[line - 1] = head + new + tail
    path.write_text("\n".join(lines), encoding="utf-8")


@pytest.mark.parametrize(
    ("file", "line", "old", "new", "message"),
    [
        ("Anno/list_bbox.txt", 1, "6", "7", "count line says 7 rows but the file has 6"),
        ("Anno/list_bbox.txt", 1, "6", "six", "expected the number of rows, found 'six'"),
        ("Anno/list_category_img.txt", 2, "image_name  category_label", "", "expected a header line"),
        ("Anno/list_bbox.txt", 3, "030", "0x0", "expected an integer, found '0x0'"),
        ("Anno/list_category_img.txt", 5, "2", "77", "category_label 77 is out of range 1..6"),
        ("Anno/list_category_cloth.txt", 4, "1", "4", "category_type 4 is out of range"),
        ("Anno/list_attr_cloth.txt", 6, "3", "9", "attribute_type 9 is out of range"),
        ("Eval/list_eval_partition.txt", 4, "val", "validation", "evaluation_status must be one of"),
        ("Anno/list_landmarks.txt", 6, "2  0 50", "9  0 50", "clothes_type must be 1, 2 or 3"),
        ("Anno/list_landmarks.txt", 6, " 1 ", " one ", "expected an integer, found 'one'"),
    ],
)
def test_malformed_files_name_file_and_line(tiny_root: Path, file: str, line: int, old: str, new: str, message: str) -> None:
    edit_line(tiny_root / file, line, old, new)
    with pytest.raises(DeepFashionFormatError, match=message) as info:
        df.load(tiny_root)
    assert info.value.path == tiny_root / file
    assert info.value.line == line
    assert f"{Path(file).name}:{line}:" in str(info.value)


def test_landmark_row_with_wrong_number_of_values(tiny_root: Path) -> None:
    path = tiny_root / "Anno" / "list_landmarks.txt"
    lines = path.read_text().splitlines()
    lines[3] = lines[3].rstrip() + " 0 1"  # one landmark's worth too many values, minus one
    path.write_text("\n".join(lines) + "\n")
    with pytest.raises(DeepFashionFormatError, match=r"list_landmarks.txt:4: clothes_type 1 has 6 landmarks, so 18 values"):
        df.read_landmarks(path)


@pytest.mark.parametrize(
    ("replace", "message"),
    [
        (lambda r: r[:-2] + " 2", "out of range"),
        (lambda r: r[:-2] + "11", "out of range"),
        (lambda r: r[:-2] + " x", "non-numeric 'x'"),
        (lambda r: r[:-3] + " 1-1", "attribute label must be 1, -1 or 0, found non-numeric '1-1'"),
        (lambda r: r[:-3] + " --1", "attribute label --1 is out of range"),
        (lambda r: r[:-3] + " - 1", "expected 6 attribute labels, found 7|non-numeric '-'"),
        (lambda r: r[:-2] + " 1.0", "non-numeric '1.0'"),
        (lambda r: r[:-3], "expected 6 attribute labels, found 5"),
        (lambda r: r.split()[0], "expected 6 attribute labels, found 0"),
    ],
)
def test_malformed_attr_img_lines(tiny_root: Path, replace, message: str) -> None:
    path = tiny_root / "Anno" / "list_attr_img.txt"
    lines = path.read_text().splitlines()
    lines[4] = replace(lines[4])
    path.write_text("\n".join(lines) + "\n")
    with pytest.raises(DeepFashionFormatError, match=message) as info:
        df.read_attr_img(path, n_attributes=6)
    assert info.value.line == 5


def test_attr_img_count_and_blank_lines(tiny_root: Path) -> None:
    path = tiny_root / "Anno" / "list_attr_img.txt"
    text = path.read_text()
    path.write_text("5" + text[1:])
    with pytest.raises(DeepFashionFormatError, match="says 5 rows but there are more"):
        df.read_attr_img(path)
    lines = text.splitlines()
    path.write_text("\n".join(lines[:4] + [""] + lines[4:]) + "\n")
    with pytest.raises(DeepFashionFormatError, match="blank line in the middle"):
        df.read_attr_img(path)


def test_image_missing_from_another_file(tiny_root: Path) -> None:
    path = tiny_root / "Anno" / "list_bbox.txt"
    lines = path.read_text().splitlines()
    del lines[4]  # img/Basic_Tee/img_00000001.jpg
    path.write_text("\n".join(["5"] + lines[1:]) + "\n")
    with pytest.raises(DeepFashionFormatError, match=r"list_category_img.txt:5: image img/Basic_Tee/img_00000001.jpg is missing from list_bbox.txt"):
        df.load(tiny_root)


def test_image_listed_only_in_another_file(tiny_root: Path) -> None:
    path = tiny_root / "Eval" / "list_eval_partition.txt"
    edit(path, "img/Maxi_Dress/img_00000001.jpg", "img/Maxi_Dress/img_00000099.jpg")
    with pytest.raises(DeepFashionFormatError, match="Maxi_Dress/img_00000001.jpg is missing from list_eval_partition.txt"):
        df.load(tiny_root)


def test_rows_in_a_different_order_are_aligned_by_name(tiny_root: Path) -> None:
    reference = df.load(tiny_root)
    for name in ("list_bbox.txt", "list_attr_img.txt"):
        path = tiny_root / "Anno" / name
        lines = path.read_text().splitlines()
        path.write_text("\n".join(lines[:2] + lines[2:][::-1]) + "\n")
    ds = df.load(tiny_root)
    assert ds.images[["x_1", "y_1", "x_2", "y_2"]].equals(reference.images[["x_1", "y_1", "x_2", "y_2"]])
    np.testing.assert_array_equal(ds.attribute_labels, reference.attribute_labels)


def test_missing_folders_say_what_to_do(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match="does not exist"):
        df.load(tmp_path / "nowhere")
    (tmp_path / "DF").mkdir()
    with pytest.raises(FileNotFoundError, match="no Anno/ folder"):
        df.load(tmp_path / "DF")
