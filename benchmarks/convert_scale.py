"""Full-scale DeepFashion conversion: fashionlib against the straightforward converter, in one run.

Builds (once, then reuses) a DeepFashion-format tree with 289,222 tiny JPEGs and a
289,222 x 1,000 list_attr_img.txt under data/bench/, then times:

1. COCO conversion with image sizes read: the straightforward converter most public
   code uses (Python loops over the lines, ``PIL.Image.open(path).size`` per image,
   one ``json.dump`` per split) against ``fashionlib.coco.convert``; both outputs are
   checked to hold the same images and boxes.
2. Reading list_attr_img.txt: ``fashionlib.deepfashion.read_attr_img`` (int8) against
   pandas' default ``read_csv`` (int64), each in its own process so peak memory is its own.

    python benchmarks/convert_scale.py                 # full scale (first run builds ~1.2 GB)
    python benchmarks/convert_scale.py --images 20000  # quicker look
"""

from __future__ import annotations

import argparse
import io
import json
import subprocess
import sys
from pathlib import Path

import numpy as np
from PIL import Image

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from fashionlib.deepfashion import CATEGORIES, MERGED_CATEGORIES  # noqa: E402

FULL = 289_222
N_ATTR = 1000


def build_tree(root: Path, n: int, seed: int = 0) -> Path:
    """Write a DeepFashion-format tree with n tiny JPEGs (reused when the marker matches)."""
    marker = root / ".bench.json"
    if marker.is_file() and json.loads(marker.read_text()) == {"n": n, "seed": seed}:
        return root
    from tqdm.auto import tqdm

    rng = np.random.default_rng(seed)
    print(f"building a {n:,}-image DeepFashion-format tree in {root} (once) ...", flush=True)
    drawn = [i for i, (name, _) in enumerate(CATEGORIES) if name not in MERGED_CATEGORIES]
    per_folder = 60  # one product per folder, as in the real tree
    labels = np.repeat(rng.choice(drawn, size=n // per_folder + 1) + 1, per_folder)[:n]
    # A handful of real-looking sizes: long side 300 (some 301), short side varies.
    sizes = [(300, 200), (200, 300), (225, 300), (300, 301), (267, 300), (300, 240)]
    jpegs = []
    for w, h in sizes:
        buf = io.BytesIO()
        Image.new("RGB", (w, h), (120, 80, 60)).save(buf, "JPEG", quality=30)
        jpegs.append(buf.getvalue())
    which = rng.integers(0, len(sizes), size=n)
    names = []
    for i in range(n):
        folder = i // per_folder
        cat = CATEGORIES[labels[i] - 1][0]
        names.append(f"img/Item_{folder:05d}_{cat}/img_{i % per_folder + 1:08d}.jpg")
    for i in tqdm(range(n), desc="jpegs", mininterval=2):
        path = root / names[i]
        if i % per_folder == 0:
            path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(jpegs[which[i]])
    w = np.array([sizes[k][0] for k in which])
    h = np.array([sizes[k][1] for k in which])
    x1 = rng.integers(0, w // 4)
    y1 = rng.integers(0, h // 4)
    x2 = np.minimum(w, x1 + rng.integers(w // 3, w))
    y2 = np.minimum(h, y1 + rng.integers(h // 3, h))
    split = rng.choice(np.array(["train", "val", "test"]), size=n, p=[0.7234, 0.1383, 0.1383])
    anno = root / "Anno"
    anno.mkdir(parents=True, exist_ok=True)
    (root / "Eval").mkdir(exist_ok=True)
    pad = [f"{nm:<71}" for nm in names]

    def write(path: Path, header: str, rows: list[str]) -> None:
        path.write_text(f"{len(rows)}\n{header}\n" + "\n".join(rows) + "\n")

    write(anno / "list_category_cloth.txt", "category_name  category_type", [f"{c:<29}{t}" for c, t in CATEGORIES])
    write(anno / "list_category_img.txt", "image_name  category_label", [p + str(lab) for p, lab in zip(pad, labels)])
    write(anno / "list_bbox.txt", "image_name  x_1  y_1  x_2  y_2",
          [f"{p}{a:03d} {b:03d} {c:03d} {d:03d}" for p, a, b, c, d in zip(pad, x1, y1, x2, y2)])
    write(root / "Eval" / "list_eval_partition.txt", "image_name  evaluation_status", [p + s for p, s in zip(pad, split)])
    write(anno / "list_attr_cloth.txt", "attribute_name  attribute_type",
          [f"{'attribute ' + str(k):<29}{k % 5 + 1}" for k in range(N_ATTR)])
    with (anno / "list_attr_img.txt").open("wb") as handle:
        handle.write(f"{n}\nimage_name  attribute_labels\n".encode())
        tokens = np.frombuffer(b"-1 1", dtype=np.uint8)  # "-1" and " 1"
        for start in tqdm(range(0, n, 10_000), desc="list_attr_img", mininterval=2):
            stop = min(n, start + 10_000)
            vals = rng.random((stop - start, N_ATTR)) < 0.05  # mostly -1, as in the real file
            cells = np.empty((stop - start, N_ATTR, 3), dtype=np.uint8)
            cells[:, :, 0] = np.where(vals, tokens[2], tokens[0])
            cells[:, :, 1] = tokens[1]
            cells[:, :, 2] = ord(" ")
            cells[:, -1, 2] = ord("\n")
            body = cells.reshape(stop - start, -1)
            for i, row in zip(range(start, stop), body):
                handle.write(pad[i].encode())
                handle.write(row.tobytes())
    marker.write_text(json.dumps({"n": n, "seed": seed}))
    return root


def baseline_convert(root: Path, out: Path) -> None:
    """The straightforward converter: Python loops over lines, PIL size per image, one json.dump per split."""
    anno = root / "Anno"
    cats = [line.split() for line in open(anno / "list_category_cloth.txt").readlines()[2:]]
    cat_type = {i + 1: int(c[-1]) for i, c in enumerate(cats)}
    labels = {}
    for line in open(anno / "list_category_img.txt").readlines()[2:]:
        name, label = line.split()
        labels[name] = int(label)
    boxes = {}
    for line in open(anno / "list_bbox.txt").readlines()[2:]:
        parts = line.split()
        boxes[parts[0]] = [int(v) for v in parts[1:]]
    splits = {}
    for line in open(root / "Eval" / "list_eval_partition.txt").readlines()[2:]:
        name, split = line.split()
        splits[name] = split
    data = {s: {"images": [], "annotations": [], "categories": [
        {"id": 1, "name": "upper"}, {"id": 2, "name": "lower"}, {"id": 3, "name": "full"}]} for s in ("train", "val", "test")}
    for i, name in enumerate(labels, start=1):
        width, height = Image.open(root / name).size
        x1, y1, x2, y2 = boxes[name]
        d = data[splits[name]]
        d["images"].append({"id": i, "file_name": name, "width": width, "height": height})
        d["annotations"].append({"id": i, "image_id": i, "category_id": cat_type[labels[name]],
                                 "bbox": [x1, y1, x2 - x1, y2 - y1], "area": (x2 - x1) * (y2 - y1), "iscrowd": 0})
    out.mkdir(parents=True, exist_ok=True)
    for split, d in data.items():
        with open(out / f"{split}.json", "w") as handle:
            json.dump(d, handle)


def ours_convert(root: Path, out: Path) -> None:
    from fashionlib.coco import convert

    convert(root, out, progress=False)


def read_attr_ours(root: Path) -> None:
    from fashionlib.deepfashion import read_attr_img

    names, labels = read_attr_img(root / "Anno" / "list_attr_img.txt")
    assert labels.dtype == np.int8


def read_attr_pandas(root: Path) -> None:
    import pandas as pd

    frame = pd.read_csv(root / "Anno" / "list_attr_img.txt", sep=r"\s+", skiprows=2, header=None)
    assert frame.shape[1] == N_ATTR + 1


def measure(func: str, root: Path, out: Path | None = None) -> tuple[float, float]:
    """Run one function in a fresh process; return (seconds, peak RSS in GB)."""
    code = (
        "import sys, time, resource; sys.path.insert(0, %r); sys.path.insert(0, %r)\n"
        "import convert_scale as b; from pathlib import Path\n"
        "t = time.perf_counter(); b.%s(%s); dt = time.perf_counter() - t\n"
        "print(dt, resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1e6)\n"
    ) % (str(ROOT), str(Path(__file__).parent), func, f"Path({str(root)!r})" + (f", Path({str(out)!r})" if out else ""))
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    if result.returncode:
        raise RuntimeError(f"{func} failed:\n{result.stderr}")
    seconds, peak = result.stdout.split()[-2:]
    return float(seconds), float(peak)


def same_content(a: Path, b: Path) -> bool:
    """Return True when two conversions hold the same images (sizes) and boxes per split."""
    for split in ("train", "val", "test"):
        x, y = json.loads((a / f"{split}.json").read_text()), json.loads((b / f"{split}.json").read_text())
        key_i = lambda d: sorted((i["id"], i["file_name"], i["width"], i["height"]) for i in d["images"])  # noqa: E731
        key_a = lambda d: sorted((i["image_id"], i["category_id"], tuple(i["bbox"])) for i in d["annotations"])  # noqa: E731
        if key_i(x) != key_i(y) or key_a(x) != key_a(y):
            return False
    return True


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--images", type=int, default=FULL)
    parser.add_argument("--root", type=Path, default=ROOT / "data" / "bench")
    parser.add_argument("--skip-pandas", action="store_true", help="skip pandas' int64 read (slow, ~2.3 GB)")
    args = parser.parse_args()
    root = build_tree(args.root / f"DeepFashion-{args.images}", args.images)
    out = args.root / "out"
    print(f"\n{args.images:,} images, {N_ATTR} attributes; each step in its own process\n", flush=True)
    base_s, base_gb = measure("baseline_convert", root, out / "baseline")
    ours_s, ours_gb = measure("ours_convert", root, out / "ours")
    assert same_content(out / "baseline", out / "ours"), "the two converters disagree"
    rows = [
        ("convert to COCO (sizes read)", "straightforward (PIL per image, loops)", base_s, base_gb),
        ("convert to COCO (sizes read)", "fashionlib.coco.convert", ours_s, ours_gb),
    ]
    attr_s, attr_gb = measure("read_attr_ours", root)
    if not args.skip_pandas:
        pd_s, pd_gb = measure("read_attr_pandas", root)
        rows.append(("read list_attr_img", "pandas read_csv (int64)", pd_s, pd_gb))
    rows.append(("read list_attr_img", "fashionlib read_attr_img (int8)", attr_s, attr_gb))
    print("| step | implementation | seconds | peak memory (GB) |\n|---|---|---:|---:|")
    for step, impl, s, gb in rows:
        print(f"| {step} | {impl} | {s:.1f} | {gb:.2f} |")
    print(f"\nconversion speed-up: {base_s / ours_s:.1f}x (same images and boxes in both outputs)")
    if not args.skip_pandas:
        print(f"list_attr_img: {pd_s / attr_s:.1f}x faster, {pd_gb / attr_gb:.1f}x less peak memory than pandas")


if __name__ == "__main__":
    main()
