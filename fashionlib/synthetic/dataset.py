"""Writing the DeepFashion tree: images (in worker processes), annotation files, marker, atomic swap."""

from __future__ import annotations

import contextlib
import io
import json
import multiprocessing as mp
import os
import shutil
import tempfile
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np

from fashionlib.config import SAMPLE_IMAGES, SAMPLE_SEED
from fashionlib.deepfashion import CATEGORIES
from fashionlib.synthetic.plan import ATTRIBUTES, ImageSpec, plan_sample, size_class

GENERATOR_VERSION = 1  # bump whenever the drawing changes, so old samples are regenerated
MARKER = ".fashionlib-sample.json"
NAME_WIDTH = 71  # image_name column width in the real files
CLOTH_WIDTH = 29  # name column width of list_category_cloth / list_attr_cloth


class SampleExistsError(FileExistsError):
    """Raised when the output folder holds something that is not a generated sample."""

def _render_to_file(job: tuple[ImageSpec, str]) -> dict[str, Any]:
    """Draw one image, save it as JPEG under the (temporary) root, return its annotations."""
    from fashionlib import (
        synthetic,  # looked up on the package, so that replacing it there (tests do) takes effect
    )

    spec, root = job
    rendered = synthetic.render_image(spec)
    buf = io.BytesIO()
    rendered.image.save(buf, "JPEG", quality=90)
    path = Path(root) / spec.image_name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(buf.getvalue())
    return {"bbox": rendered.bbox, "landmarks": rendered.landmarks, "size": rendered.image.size,
            "flat": rendered.flat}


# ---------------------------------------------------------------------------
# Writing the tree
# ---------------------------------------------------------------------------


def _table(count: int, header: str, rows: list[str]) -> str:
    return f"{count}\n{header}\n" + "".join(r + "\n" for r in rows)


def _annotation_files(specs: list[ImageSpec], results: list[dict[str, Any]]) -> dict[str, str]:
    """Return the text of every annotation file, keyed by path relative to the root."""
    n = len(specs)
    names = [f"{s.image_name:<{NAME_WIDTH}}" for s in specs]
    landmark_header = "image_name  clothes_type  " + "  ".join(
        f"landmark_visibility_{i}  landmark_location_x_{i}  landmark_location_y_{i}" for i in range(1, 9))
    attr_rows = []
    for name, s in zip(names, specs):
        labels = np.full(len(ATTRIBUTES), -1, dtype=np.int8)
        labels[list(s.attributes)] = 1
        attr_rows.append(name + " ".join(f"{v:>2d}" for v in labels))
    return {
        "Anno/list_category_cloth.txt": _table(
            len(CATEGORIES), "category_name  category_type", [f"{c:<{CLOTH_WIDTH}}{t}" for c, t in CATEGORIES]),
        "Anno/list_category_img.txt": _table(
            n, "image_name  category_label", [nm + str(s.category_label) for nm, s in zip(names, specs)]),
        "Anno/list_bbox.txt": _table(
            n, "image_name  x_1  y_1  x_2  y_2",
            [nm + " ".join(f"{c:03d}" for c in r["bbox"]) for nm, r in zip(names, results)]),
        "Anno/list_attr_cloth.txt": _table(
            len(ATTRIBUTES), "attribute_name  attribute_type", [f"{a:<{CLOTH_WIDTH}}{t}" for a, t in ATTRIBUTES]),
        "Anno/list_attr_img.txt": _table(n, "image_name  attribute_labels", attr_rows),
        "Anno/list_landmarks.txt": _table(
            n, landmark_header,
            [f"{nm}{s.clothes_type}  " + " ".join(f"{v} {x:03d} {y:03d}" for v, x, y in r["landmarks"]) + " "
             for nm, s, r in zip(names, specs, results)]),
        "Eval/list_eval_partition.txt": _table(
            n, "image_name  evaluation_status", [nm + s.split for nm, s in zip(names, specs)]),
    }


def _summary(specs: list[ImageSpec], results: list[dict[str, Any]], seconds: float) -> dict[str, Any]:
    areas = [(r["bbox"][2] - r["bbox"][0]) * (r["bbox"][3] - r["bbox"][1]) for r in results]
    classes = [size_class(a) for a in areas]
    return {
        "images": len(specs),
        "products": len({s.image_name.split("/")[1] for s in specs}),
        "splits": {k: sum(s.split == k for s in specs) for k in ("train", "val", "test")},
        "types": {k: sum(s.clothes_type == t for s in specs) for t, k in ((1, "upper"), (2, "lower"), (3, "full"))},
        "size_classes": {k: classes.count(k) for k in ("small", "medium", "large")},
        "flat_lay": sum(bool(r["flat"]) for r in results),
        "seconds": round(seconds, 1),
    }


def _default_workers(n_images: int) -> int:
    if n_images < 150:  # starting processes costs more than it saves
        return 1
    try:
        cpus = len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        cpus = os.cpu_count() or 1
    return max(1, min(cpus, 8))


def _start_method() -> str:
    """Return "fork" for a single-threaded caller, else "forkserver" (or "spawn" off POSIX).

    Forking is cheapest and, unlike spawn, does not re-run an unguarded script's top level in the
    workers; with other threads alive (Jupyter, a data loader) forking is unsafe, so a fresh server
    process forks the workers instead.
    """
    methods = mp.get_all_start_methods()
    others = [t for t in threading.enumerate()
              if t is not threading.main_thread() and t.name != "tqdm_monitor"]  # tqdm's sleeps, holds no lock
    if "fork" in methods and not others:
        return "fork"
    return "forkserver" if "forkserver" in methods else "spawn"


def _render_all(specs: list[ImageSpec], root: Path, workers: int, progress: bool) -> Iterator[dict[str, Any]]:
    from tqdm.auto import tqdm

    jobs = [(s, str(root)) for s in specs]
    method = _start_method()
    with tqdm(total=len(jobs), desc="sample images", unit="img", disable=not progress) as bar:
        if workers <= 1:
            for job in jobs:
                yield _render_to_file(job)
                bar.update()
            return
        with mp.get_context(method).Pool(workers) as pool:
            for result in pool.imap(_render_to_file, jobs, chunksize=8):
                yield result
                bar.update()


def read_marker(root: str | Path) -> dict[str, Any] | None:
    """Return the sample's marker (n_images, seed, version, summary), or None when there is none."""
    path = Path(root) / MARKER
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (FileNotFoundError, json.JSONDecodeError):
        return None


def generate_sample(
    root: str | Path,
    n_images: int = SAMPLE_IMAGES,
    seed: int = SAMPLE_SEED,
    *,
    workers: int | None = None,
    progress: bool = True,
) -> Path:
    """Write a synthetic DeepFashion tree of ``n_images`` images to ``root`` (replacing a previous sample); return root.

    The tree is built in a temporary sibling folder and renamed into place, so
    an interrupted run never leaves a half-written tree.
    """
    root = Path(root).expanduser().resolve()
    if root.exists() and not root.is_dir():
        raise SampleExistsError(f"{root} is a file; choose a folder for the sample")
    if root.is_dir() and any(root.iterdir()) and read_marker(root) is None:
        raise SampleExistsError(
            f"{root} is not empty and holds no generated sample ({MARKER} missing); "
            "refusing to replace it: choose an empty or new folder"
        )
    started = time.perf_counter()
    specs = plan_sample(n_images, seed)
    root.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{root.name}.tmp-", dir=root.parent))
    try:
        tmp.chmod(0o755)  # mkdtemp makes it private; the sample is ordinary shared data
        n_workers = workers if workers is not None else _default_workers(n_images)
        results = list(_render_all(specs, tmp, n_workers, progress))
        for rel, text in _annotation_files(specs, results).items():
            path = tmp / rel
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(text, encoding="utf-8", newline="\n")
        marker = {"generator": "fashionlib.synthetic", "version": GENERATOR_VERSION, "n_images": n_images,
                  "seed": seed, "summary": _summary(specs, results, time.perf_counter() - started)}
        (tmp / MARKER).write_text(json.dumps(marker, indent=1) + "\n", encoding="utf-8")
        _swap_into_place(tmp, root)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return root


def _swap_into_place(tmp: Path, root: Path) -> None:
    """Rename the finished tree to ``root``; an old sample there is moved aside first, then deleted."""
    old = None
    if root.exists():
        old = Path(tempfile.mkdtemp(prefix=f".{root.name}.old-", dir=root.parent))
        os.replace(root, old / "tree")
    os.replace(tmp, root)
    if old is not None:
        shutil.rmtree(old, ignore_errors=True)


@contextlib.contextmanager
def _lock(root: Path) -> Iterator[None]:
    """Hold an exclusive lock next to ``root`` so two processes do not build the same sample at once."""
    root.parent.mkdir(parents=True, exist_ok=True)
    try:
        import fcntl
    except ImportError:  # Windows: no lock, the atomic rename still protects the tree
        yield
        return
    with open(root.parent / f".{root.name}.lock", "w") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def _is_current(root: Path, n_images: int, seed: int) -> bool:
    marker = read_marker(root)
    return (
        marker is not None
        and marker.get("version") == GENERATOR_VERSION
        and marker.get("n_images") == n_images
        and marker.get("seed") == seed
        and (root / "Anno" / "list_bbox.txt").is_file()
    )


def ensure_sample(root: str | Path, n_images: int = SAMPLE_IMAGES, seed: int = SAMPLE_SEED) -> Path:
    """Return ``root`` after generating the sample there unless its marker already matches (n_images, seed, version)."""
    root = Path(root).expanduser().resolve()
    if _is_current(root, n_images, seed):
        return root
    with _lock(root):
        if not _is_current(root, n_images, seed):  # another process may have built it meanwhile
            generate_sample(root, n_images, seed)
    return root
