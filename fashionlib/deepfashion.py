"""Read the DeepFashion *Category and Attribute Prediction* benchmark.

Every annotation file has the same shape: a count line, a header line, then
one row per item with columns separated by runs of spaces::

    289222
    image_name  x_1  y_1  x_2  y_2
    img/Sheer_Pleated-Front_Blouse/img_00000001.jpg      072 079 232 273

The reader tolerates a UTF-8 BOM, CRLF line endings and trailing blanks, and
refuses anything else it does not understand with a
:class:`DeepFashionFormatError` naming the file and line. The same code reads
the real benchmark and the synthetic sample from :mod:`fashionlib.synthetic`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from fashionlib.garments import TYPE_NAMES

ATTRIBUTE_TYPE_NAMES = {1: "texture", 2: "fabric", 3: "shape", 4: "part", 5: "style"}
# Landmarks per clothes_type (upper: collar, sleeve, hem x L/R; lower: waist, hem; full: all four pairs).
LANDMARKS_PER_TYPE = {1: 6, 2: 4, 3: 8}
SPLITS = ("train", "val", "test")
# The benchmark's 50 categories as listed in list_category_cloth.txt: (name, category_type).
CATEGORIES: list[tuple[str, int]] = [
    *[(n, 1) for n in ("Anorak", "Blazer", "Blouse", "Bomber", "Button-Down", "Cardigan", "Flannel", "Halter",
                       "Henley", "Hoodie", "Jacket", "Jersey", "Parka", "Peacoat", "Poncho", "Sweater", "Tank",
                       "Tee", "Top", "Turtleneck")],
    *[(n, 2) for n in ("Capris", "Chinos", "Culottes", "Cutoffs", "Gauchos", "Jeans", "Jeggings", "Jodhpurs",
                       "Joggers", "Leggings", "Sarong", "Shorts", "Skirt", "Sweatpants", "Sweatshorts", "Trunks")],
    *[(n, 3) for n in ("Caftan", "Cape", "Coat", "Coverup", "Dress", "Jumpsuit", "Kaftan", "Kimono", "Nightdress",
                       "Onesie", "Robe", "Romper", "Shirtdress", "Sundress")],
]
MERGED_CATEGORIES = ("Cape", "Nightdress", "Shirtdress", "Sundress")  # folded into Dress: no images
ANNO_DIRS = ("Anno", "Anno_coarse")
IMAGE_DIRS = ("", "Img")  # images live at ROOT/img/... or ROOT/Img/img/...


class DeepFashionFormatError(ValueError):
    """A DeepFashion annotation file does not have the expected format (names file and line)."""

    def __init__(self, path: str | Path, line: int | None, message: str) -> None:
        self.path = Path(path)
        self.line = line
        where = f"{self.path}:{line}" if line is not None else f"{self.path}"
        super().__init__(f"{where}: {message}")


# ---------------------------------------------------------------------------
# Generic table reading
# ---------------------------------------------------------------------------


def _read_text(path: Path) -> list[str]:
    """Return the lines of a UTF-8 file (BOM, CRLF and trailing blank lines removed)."""
    try:
        text = path.read_bytes().decode("utf-8-sig")
    except FileNotFoundError:
        raise
    except UnicodeDecodeError as exc:
        line = path.read_bytes()[: exc.start].count(b"\n") + 1
        raise DeepFashionFormatError(path, line, "is not valid UTF-8 text") from exc
    lines = text.splitlines()
    while lines and not lines[-1].strip():
        lines.pop()
    return lines


def _check_count_and_header(path: Path, lines: list[str], first_col: str) -> int:
    """Validate the count and header lines; return the declared row count."""
    if not lines:
        raise DeepFashionFormatError(path, 1, "the file is empty; expected a count line, a header line and rows")
    count_text = lines[0].strip()
    if not count_text.isdigit():
        raise DeepFashionFormatError(path, 1, f"expected the number of rows, found {count_text!r}")
    header = lines[1].split() if len(lines) > 1 else []
    if not header or header[0] != first_col:
        found = lines[1].strip() if len(lines) > 1 else "end of file"
        raise DeepFashionFormatError(
            path, 2, f"expected a header line starting with {first_col!r}, found {found!r}"
        )
    return int(count_text)


def read_table(path: str | Path, first_col: str) -> tuple[list[list[str]], list[int]]:
    """Return the whitespace-split rows of a DeepFashion file and their 1-based line numbers."""
    path = Path(path)
    lines = _read_text(path)
    count = _check_count_and_header(path, lines, first_col)
    rows, numbers = [], []
    for number, line in enumerate(lines[2:], start=3):
        tokens = line.split()
        if not tokens:
            raise DeepFashionFormatError(path, number, "blank line in the middle of the rows")
        rows.append(tokens)
        numbers.append(number)
    if len(rows) != count:
        raise DeepFashionFormatError(
            path, 1, f"the count line says {count} rows but the file has {len(rows)}"
        )
    return rows, numbers


def _ints(path: Path, rows: list[list[str]], numbers: list[int], what: str) -> np.ndarray:
    """Convert equal-length rows of integer tokens to an int64 array, naming the first bad line."""
    try:
        return np.array(rows, dtype=np.int64).reshape(len(rows), -1)
    except (ValueError, OverflowError):
        pass
    for tokens, number in zip(rows, numbers):
        for token in tokens:
            try:
                int(token)
            except ValueError:
                raise DeepFashionFormatError(path, number, f"{what}: expected an integer, found {token!r}") from None
    raise DeepFashionFormatError(path, None, f"{what}: rows have different numbers of columns")  # pragma: no cover


def _expect_columns(path: Path, rows: list[list[str]], numbers: list[int], n: int, what: str) -> None:
    for tokens, number in zip(rows, numbers):
        if len(tokens) != n:
            raise DeepFashionFormatError(
                path, number, f"expected {n} columns ({what}), found {len(tokens)}: {' '.join(tokens)!r}"
            )


def _check_range(path: Path, values: np.ndarray, numbers: list[int], lo: int, hi: int, what: str) -> None:
    bad = np.flatnonzero((values < lo) | (values > hi))
    if bad.size:
        i = int(bad[0])
        raise DeepFashionFormatError(path, numbers[i], f"{what} {int(values[i])} is out of range {lo}..{hi}")


# ---------------------------------------------------------------------------
# One reader per file
# ---------------------------------------------------------------------------


def _read_named_types(path: Path, kind: str, type_names: dict[int, str]) -> pd.DataFrame:
    """Read a ``<kind>_name  <kind>_type`` list; names may contain spaces, so the type is the last token."""
    rows, numbers = read_table(path, f"{kind}_name")
    _check_min_columns(path, rows, numbers, 2, f"{kind}_name {kind}_type")
    types = _ints(path, [[r[-1]] for r in rows], numbers, f"{kind}_type")[:, 0]
    _check_range(path, types, numbers, min(type_names), max(type_names), f"{kind}_type")
    frame = pd.DataFrame(
        {"name": [" ".join(r[:-1]) for r in rows], "type": types.astype(np.int8)},
        index=pd.RangeIndex(1, len(rows) + 1, name="category_label" if kind == "category" else "attribute_id"),
    )
    frame["type_name"] = frame["type"].map(type_names)
    return frame


def read_category_cloth(path: str | Path) -> pd.DataFrame:
    """Return the 50 categories: index category_label (1-based), columns name, type, type_name."""
    return _read_named_types(Path(path), "category", TYPE_NAMES)


def read_attr_cloth(path: str | Path) -> pd.DataFrame:
    """Return the attributes: index attribute_id (1-based), columns name (may contain spaces), type, type_name."""
    return _read_named_types(Path(path), "attribute", ATTRIBUTE_TYPE_NAMES)


def _check_min_columns(path: Path, rows: list[list[str]], numbers: list[int], n: int, what: str) -> None:
    for tokens, number in zip(rows, numbers):
        if len(tokens) < n:
            raise DeepFashionFormatError(path, number, f"expected at least {n} columns ({what}), found {len(tokens)}")


def read_category_img(path: str | Path, n_categories: int | None = None) -> pd.DataFrame:
    """Return image_name and category_label for every image (labels checked against n_categories)."""
    path = Path(path)
    rows, numbers = read_table(path, "image_name")
    _expect_columns(path, rows, numbers, 2, "image_name category_label")
    labels = _ints(path, [r[1:] for r in rows], numbers, "category_label")[:, 0]
    _check_range(path, labels, numbers, 1, n_categories or 10**9, "category_label")
    return pd.DataFrame({"image_name": [r[0] for r in rows], "category_label": labels.astype(np.int16)}).assign(
        _line=numbers
    )


def read_bbox(path: str | Path) -> pd.DataFrame:
    """Return image_name, x_1, y_1, x_2, y_2 for every image (pixels, x_2 - x_1 = width)."""
    path = Path(path)
    rows, numbers = read_table(path, "image_name")
    _expect_columns(path, rows, numbers, 5, "image_name x_1 y_1 x_2 y_2")
    boxes = _ints(path, [r[1:] for r in rows], numbers, "bounding box")
    _check_range(path, boxes.min(axis=1), numbers, 0, 10**6, "box coordinate")
    frame = pd.DataFrame(boxes.astype(np.int32), columns=["x_1", "y_1", "x_2", "y_2"])
    frame.insert(0, "image_name", [r[0] for r in rows])
    return frame.assign(_line=numbers)


def read_eval_partition(path: str | Path) -> pd.DataFrame:
    """Return image_name and split (train / val / test) for every image."""
    path = Path(path)
    rows, numbers = read_table(path, "image_name")
    _expect_columns(path, rows, numbers, 2, "image_name evaluation_status")
    for tokens, number in zip(rows, numbers):
        if tokens[1] not in SPLITS:
            raise DeepFashionFormatError(
                path, number, f"evaluation_status must be one of {', '.join(SPLITS)}, found {tokens[1]!r}"
            )
    return pd.DataFrame({"image_name": [r[0] for r in rows], "split": [r[1] for r in rows]}).assign(_line=numbers)


def read_landmarks(path: str | Path) -> pd.DataFrame:
    """Return clothes_type and 8 (visibility, x, y) landmark columns per image; absent landmarks are -1."""
    path = Path(path)
    rows, numbers = read_table(path, "image_name")
    n = len(rows)
    clothes = np.zeros(n, dtype=np.int8)
    vis = np.full((n, 8), -1, dtype=np.int8)
    xy = np.full((n, 8, 2), -1, dtype=np.int32)
    for i, (tokens, number) in enumerate(zip(rows, numbers)):
        # Parse by position: the number of triplets follows from clothes_type.
        try:
            values = [int(t) for t in tokens[1:]]
        except ValueError:
            bad = next(t for t in tokens[1:] if not t.lstrip("-").isdigit())
            raise DeepFashionFormatError(path, number, f"expected an integer, found {bad!r}") from None
        if not values or values[0] not in LANDMARKS_PER_TYPE:
            found = values[0] if values else "nothing"
            raise DeepFashionFormatError(path, number, f"clothes_type must be 1, 2 or 3, found {found}")
        k = LANDMARKS_PER_TYPE[values[0]]
        if len(values) != 1 + 3 * k:
            raise DeepFashionFormatError(
                path, number,
                f"clothes_type {values[0]} has {k} landmarks, so {3 * k} values are expected, found {len(values) - 1}",
            )
        triplets = np.asarray(values[1:], dtype=np.int32).reshape(k, 3)
        if ((triplets[:, 0] < 0) | (triplets[:, 0] > 2)).any():
            raise DeepFashionFormatError(path, number, "landmark visibility must be 0 (visible), 1 (occluded) or 2 (truncated)")
        clothes[i] = values[0]
        vis[i, :k] = triplets[:, 0]
        xy[i, :k] = triplets[:, 1:]
    frame = pd.DataFrame({"image_name": [r[0] for r in rows], "clothes_type": clothes})
    for j in range(8):
        frame[f"landmark_visibility_{j + 1}"] = vis[:, j]
        frame[f"landmark_location_x_{j + 1}"] = xy[:, j, 0]
        frame[f"landmark_location_y_{j + 1}"] = xy[:, j, 1]
    return frame.assign(_line=numbers)


def read_attr_img(
    path: str | Path, n_attributes: int | None = None, *, chunk_bytes: int = 1 << 25
) -> tuple[list[str], np.ndarray]:
    """Return (image names, int8 labels of shape (N, K)) from list_attr_img; labels are 1, -1 or 0 (unknown).

    At full scale the file holds 289,222 x 1,000 labels. It is parsed in
    chunks with bytes methods and NumPy straight into an int8 array (289 MB),
    never through Python ints or pandas' int64 (2.3 GB). Only when a check
    fails are the chunk's lines walked one by one to name the bad line.
    """
    path = Path(path)
    with path.open("rb") as handle:
        first = handle.readline()
        if first.startswith(b"\xef\xbb\xbf"):
            first = first[3:]
        count_text = first.decode("utf-8", "replace").strip()
        if not count_text.isdigit():
            raise DeepFashionFormatError(path, 1, f"expected the number of rows, found {count_text!r}")
        header = handle.readline().split()
        if not header or header[0] != b"image_name":
            found = b" ".join(header).decode(errors="replace")
            raise DeepFashionFormatError(path, 2, f"expected a header line starting with 'image_name', found {found!r}")
        state = _AttrParser(path, int(count_text), n_attributes)
        leftover = b""
        while True:
            block = handle.read(chunk_bytes)
            if not block:
                break
            block = leftover + block
            cut = block.rfind(b"\n") + 1
            leftover = block[cut:]
            if cut:
                state.feed(block[:cut])
        if leftover.strip():
            state.feed(leftover + b"\n")
    return state.finish()


class _AttrParser:
    """Chunk-by-chunk parser for list_attr_img.txt: a fast checked path and a slow path that names the bad line."""

    def __init__(self, path: Path, count: int, n_attributes: int | None) -> None:
        self.path, self.count, self.k = path, count, n_attributes
        self.names: list[str] = []
        self.labels: np.ndarray | None = None
        self.blank_seen_at: int | None = None  # line number of the first blank line

    @property
    def next_line(self) -> int:
        return 3 + len(self.names)

    def feed(self, block: bytes) -> None:
        lines = block.split(b"\n")[:-1]  # every block ends with a newline
        names, rests = [], []
        for i, line in enumerate(lines):
            name, _, rest = line.partition(b" ")
            if not line.strip():
                if self.blank_seen_at is None:
                    self.blank_seen_at = self.next_line + len(names)
                continue
            if self.blank_seen_at is not None:
                raise DeepFashionFormatError(self.path, self.blank_seen_at, "blank line in the middle of the rows")
            if not name or name != name.strip():
                raise DeepFashionFormatError(self.path, self.next_line + i, "a row must start with the image name")
            names.append(name)
            rests.append(rest)
        if not names:
            return
        if len(self.names) + len(names) > self.count:
            raise DeepFashionFormatError(
                self.path, 3 + self.count, f"the count line says {self.count} rows but there are more"
            )
        values = self._fast(rests)
        if values is None:
            self._explain(rests)  # raises with the file and line
        first = len(self.names)
        self.names.extend(n.decode("utf-8", "replace") for n in names)
        if self.labels is None:
            self.labels = np.empty((self.count, self.k), dtype=np.int8)
        self.labels[first : first + len(names)] = values

    def _fast(self, rests: list[bytes]) -> np.ndarray | None:
        """Return the (lines, K) int8 labels, or None when anything is off (then _explain finds it)."""
        # Every label is one digit; count them per line with C-speed bytes.count.
        per_line = np.fromiter((r.count(b"1") + r.count(b"0") for r in rests), dtype=np.int64, count=len(rests))
        if self.k is None:
            self.k = int(per_line[0])
        if (per_line != self.k).any():
            return None
        text = b" " + b"\n".join(rests) + b"\n"  # the leading space: every digit has a predecessor
        if text.translate(None, b" \t\r\n-01"):
            return None  # a character that is not part of a label
        t = np.frombuffer(text, dtype=np.uint8)
        at = np.flatnonzero(t >= 48)  # after the check above only '0' and '1' are >= 48
        negative = t[at - 1] == 45
        # Each '-' must sit right before a digit, and consecutive labels need whitespace between
        # them: this rejects "11", "1-1", "--1" and "- 1" without a per-token loop.
        if int(negative.sum()) != text.count(b"-") or (np.diff(at) < 2 + negative[1:]).any():
            return None
        value = (t[at] == 49).view(np.int8)
        return np.where(negative, -value, value).reshape(len(rests), self.k)

    def _explain(self, rests: list[bytes]) -> None:
        """Raise a DeepFashionFormatError for the first bad line among ``rests``."""
        for i, rest in enumerate(rests):
            line = self.next_line + i
            tokens = rest.split()
            for token in tokens:
                if token not in (b"1", b"-1", b"0"):
                    text = token.decode("utf-8", "replace")
                    if text.lstrip("-").isdigit():
                        raise DeepFashionFormatError(self.path, line, f"attribute label {text} is out of range (expected 1, -1 or 0)")
                    raise DeepFashionFormatError(self.path, line, f"attribute label must be 1, -1 or 0, found non-numeric {text!r}")
            if self.k is None:
                self.k = len(tokens)
            if len(tokens) != self.k:
                raise DeepFashionFormatError(self.path, line, f"expected {self.k} attribute labels, found {len(tokens)}")
        raise DeepFashionFormatError(self.path, self.next_line, "unreadable attribute labels")  # pragma: no cover

    def finish(self) -> tuple[list[str], np.ndarray]:
        if len(self.names) != self.count:
            raise DeepFashionFormatError(
                self.path, 1, f"the count line says {self.count} rows but the file has {len(self.names)}"
            )
        labels = self.labels if self.labels is not None else np.empty((0, self.k or 0), dtype=np.int8)
        return self.names, labels


# ---------------------------------------------------------------------------
# The whole benchmark
# ---------------------------------------------------------------------------


@dataclass
class DeepFashion:
    """The Category and Attribute Prediction benchmark, one row per image in ``images``."""

    root: Path
    image_root: Path  # folder that image_name paths (img/...) are relative to
    categories: pd.DataFrame
    images: pd.DataFrame  # image_name, category_label/name/type, type_name, x_1..y_2, split
    attributes: pd.DataFrame | None = None
    attribute_labels: np.ndarray | None = None  # int8 (N, K): 1, -1, 0
    landmarks: pd.DataFrame | None = None
    files: dict[str, Path] = field(default_factory=dict)

    def __len__(self) -> int:
        return len(self.images)

    def image_path(self, index: int) -> Path:
        """Return the path of image ``index`` on disk."""
        return self.image_root / self.images["image_name"].iat[index]

    def split(self, name: str) -> pd.DataFrame:
        """Return the rows of one split (train / val / test)."""
        return self.images[self.images["split"] == name]


def find_files(root: str | Path) -> dict[str, Path]:
    """Return the paths of every benchmark file under ``root`` (Anno/ or Anno_coarse/, Eval/, img/ or Img/img/)."""
    root = Path(root)
    if not root.is_dir():
        raise FileNotFoundError(f"DeepFashion root {root} does not exist; see data/README.md for the layout")
    anno = next((root / d for d in ANNO_DIRS if (root / d).is_dir()), None)
    if anno is None:
        raise FileNotFoundError(f"{root} has no Anno/ folder with the annotation lists; see data/README.md")
    files = {
        name: anno / f"{name}.txt"
        for name in (
            "list_category_cloth", "list_category_img", "list_bbox",
            "list_attr_cloth", "list_attr_img", "list_landmarks",
        )
    }
    files["list_eval_partition"] = root / "Eval" / "list_eval_partition.txt"
    image_root = next((root / d for d in IMAGE_DIRS if (root / d / "img").is_dir()), None)
    if image_root is None:
        raise FileNotFoundError(f"{root} has no img/ (or Img/img/) folder; unpack the images there (data/README.md)")
    files["image_root"] = image_root
    return files


def _align(base: pd.DataFrame, other: pd.DataFrame, base_name: str, other_name: str, files: dict[str, Path]) -> pd.DataFrame:
    """Return ``other`` reordered to ``base``'s image order; refuse images missing on either side."""
    if len(other) == len(base) and (other["image_name"].to_numpy() == base["image_name"].to_numpy()).all():
        return other.reset_index(drop=True)
    if other["image_name"].duplicated().any():
        dup = other[other["image_name"].duplicated()].iloc[0]
        raise DeepFashionFormatError(files[other_name], int(dup["_line"]), f"image {dup['image_name']} is listed twice")
    missing = ~base["image_name"].isin(other["image_name"])
    if missing.any():
        row = base[missing].iloc[0]
        raise DeepFashionFormatError(
            files[base_name], int(row["_line"]),
            f"image {row['image_name']} is missing from {files[other_name].name} ({int(missing.sum())} images missing)",
        )
    extra = ~other["image_name"].isin(base["image_name"])
    if extra.any():
        row = other[extra].iloc[0]
        raise DeepFashionFormatError(
            files[other_name], int(row["_line"]),
            f"image {row['image_name']} is not in {files[base_name].name} ({int(extra.sum())} extra images)",
        )
    return other.set_index("image_name").loc[base["image_name"]].reset_index()


def load(root: str | Path, *, attributes: bool = True, landmarks: bool = True) -> DeepFashion:
    """Return the benchmark under ``root`` with every file parsed, checked and aligned by image."""
    files = find_files(root)
    for name, path in files.items():
        if name != "image_root" and not path.is_file():
            if (name == "list_attr_img" and not attributes) or (name == "list_landmarks" and not landmarks):
                continue
            if name in ("list_attr_cloth",) and not attributes:
                continue
            raise FileNotFoundError(f"missing {path}; the benchmark needs {path.name} (see data/README.md)")
    categories = read_category_cloth(files["list_category_cloth"])
    cat_img = read_category_img(files["list_category_img"], n_categories=len(categories))
    bbox = _align(cat_img, read_bbox(files["list_bbox"]), "list_category_img", "list_bbox", files)
    part = _align(cat_img, read_eval_partition(files["list_eval_partition"]), "list_category_img", "list_eval_partition", files)
    images = cat_img.drop(columns="_line").copy()
    images["category_name"] = categories["name"].to_numpy()[images["category_label"].to_numpy() - 1]
    images["category_type"] = categories["type"].to_numpy()[images["category_label"].to_numpy() - 1]
    images["type_name"] = images["category_type"].map(TYPE_NAMES)
    for col in ("x_1", "y_1", "x_2", "y_2"):
        images[col] = bbox[col].to_numpy()
    images["split"] = pd.Categorical(part["split"].to_numpy(), categories=list(SPLITS))
    ds = DeepFashion(
        root=Path(root), image_root=files["image_root"], categories=categories, images=images, files=files
    )
    if attributes:
        ds.attributes = read_attr_cloth(files["list_attr_cloth"])
        names, labels = read_attr_img(files["list_attr_img"], n_attributes=len(ds.attributes))
        attr_names = pd.DataFrame({"image_name": names, "_line": np.arange(3, 3 + len(names))})
        aligned = _align(cat_img, attr_names, "list_category_img", "list_attr_img", files)
        order = aligned["_line"].to_numpy() - 3
        if not np.array_equal(order, np.arange(len(order))):
            labels = labels[order]
        ds.attribute_labels = labels
    if landmarks:
        ds.landmarks = _align(cat_img, read_landmarks(files["list_landmarks"]), "list_category_img", "list_landmarks", files).drop(columns="_line")
    return ds
