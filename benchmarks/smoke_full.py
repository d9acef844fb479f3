"""Exercise the ``full`` profile's code path end to end on a large synthetic DeepFashion tree.

Real DeepFashion cannot be downloaded here, so this writes a DeepFashion-format tree with
``fashionlib sample-data`` (20,000 images by default), points the ``full`` profile at it
(``FASHIONLIB_PROFILE=full``, ``DEEPFASHION_ROOT``) and runs every stage as its own ``fashionlib``
command, the way a user of the real dataset would:

1. ``sample-data``       the DeepFashion-format tree (reused when its marker already matches)
2. ``profile``           the full profile resolves to that tree
3. ``convert``           DeepFashion -> COCO (3 garment types)
4. ``train-detector``    a few iterations of the study config (faster_rcnn_R50_FPN_deepfashion3, 800 px);
                         with a randomly initialised ResNet-50 file as its "ImageNet" weights
                         (``model.weights_path``; nothing can be downloaded here), so the model is the study's:
                         frozen BatchNorm, stem and res2 frozen
5. ``evaluate-detector`` COCO evaluation on the whole val split (``--eval-max-images`` caps it)
6. ``crop``              garment crops at 64 and 128 px from the ground-truth boxes (a detector trained for
                         a few iterations finds nothing worth cropping)
7. ``train-gan``         a few iterations of the profile's GAN at 64 and at 128 px

Each stage's wall time and peak memory are printed: the peak resident memory of its process tree
(sampled every 0.1 s, summed over the command and its worker processes) and the largest single
process's peak (the kernel's ``VmHWM``, exact up to the last 0.1 s of a process's life; not the
children's ``ru_maxrss``, which on Linux starts from the parent's peak when the child is exec'd). The table is also written to ``WORK/smoke_full.json``.

    python benchmarks/smoke_full.py                          # 20,000 images, runs/smoke_full/
    python benchmarks/smoke_full.py --images 2000 --eval-max-images 50 --work /tmp/smoke
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

HOME = Path(__file__).resolve().parents[1]
STUDY_CONFIG = "faster_rcnn_R50_FPN_deepfashion3"


def vm_hwm(pid: int) -> int:
    """Return a process's peak resident memory so far (``VmHWM``, bytes; 0 if it is gone)."""
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) * 1024
    except OSError:
        pass
    return 0


def tree_memory(proc: Any) -> tuple[int, int]:
    """Return (summed resident memory, largest per-process peak) of a psutil process and its descendants."""
    import psutil

    try:
        procs = [proc, *proc.children(recursive=True)]
    except psutil.Error:
        return 0, 0
    total = 0
    for p in procs:
        try:
            total += p.memory_info().rss
        except psutil.Error:
            pass
    return total, max(vm_hwm(p.pid) for p in procs)


def run_stage(name: str, cmd: list[str], env: dict[str, str], log: Path) -> dict[str, Any]:
    """Run one command to completion; return its wall time and peak memory (raise if it fails)."""
    import psutil

    print(f"[{name}] {' '.join(cmd)}", flush=True)
    start = time.perf_counter()
    with open(log, "w") as out:
        proc = subprocess.Popen(cmd, env=env, stdout=out, stderr=subprocess.STDOUT)
        peak, hwm = 0, 0
        stop = threading.Event()

        def sample() -> None:
            nonlocal peak, hwm
            ps = psutil.Process(proc.pid)
            while not stop.is_set():
                total, largest = tree_memory(ps)
                peak, hwm = max(peak, total), max(hwm, largest)
                stop.wait(0.1)

        sampler = threading.Thread(target=sample, daemon=True)
        sampler.start()
        proc.wait()
        stop.set()
        sampler.join()
    wall = time.perf_counter() - start
    if proc.returncode != 0:
        tail = log.read_text(errors="replace")[-3000:]
        raise RuntimeError(f"stage {name} failed ({proc.returncode}); last lines of {log}:\n{tail}")
    row = {"stage": name, "wall_s": round(wall, 1), "peak_tree_rss_gib": round(peak / 2**30, 2),
           "max_process_rss_gib": round(hwm / 2**30, 2)}
    print(f"[{name}] {row['wall_s']} s, peak tree RSS {row['peak_tree_rss_gib']} GiB, "
          f"largest process {row['max_process_rss_gib']} GiB", flush=True)
    return row


def existing_sample(root: Path, images: int, seed: int) -> bool:
    """Return whether ``root`` already holds the sample asked for (so a rerun skips generating it)."""
    from fashionlib.synthetic import GENERATOR_VERSION, read_marker

    marker = read_marker(root) or {}
    return (marker.get("n_images") == images and marker.get("seed") == seed
            and marker.get("version") == GENERATOR_VERSION and (root / "Anno" / "list_bbox.txt").is_file())


def random_resnet50(work: Path) -> Path:
    """Write a randomly initialised torchvision ResNet-50 state dict (the shape of the ImageNet file); return it."""
    import torch
    import torchvision

    path = work / "resnet50-random.pth"
    if not path.is_file():
        torch.manual_seed(0)
        torch.save(torchvision.models.resnet50().state_dict(), path)
    return path


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--images", type=int, default=20000, help="images in the generated tree (default 20000)")
    parser.add_argument("--seed", type=int, default=0, help="seed of the generated tree")
    parser.add_argument("--work", type=Path, default=HOME / "runs" / "smoke_full",
                        help="working folder (tree, COCO files, runs); default runs/smoke_full")
    parser.add_argument("--detector-iters", type=int, default=2, help="detector iterations (default 2)")
    parser.add_argument("--gan-iters", type=int, default=3, help="GAN iterations per size (default 3)")
    parser.add_argument("--eval-max-images", type=int, default=None,
                        help="evaluate on the first N val images only (default: the whole val split)")
    parser.add_argument("--device", default="cpu", help="cpu or cuda (default cpu)")
    args = parser.parse_args(argv)

    exe = str(Path(sys.executable).with_name("fashionlib"))
    work = args.work.resolve()
    root, runs, logs = work / "DeepFashion", work / "runs", work / "logs"
    coco, detector, crops = runs / "full" / "coco", runs / "full" / "detector", runs / "full" / "crops"
    logs.mkdir(parents=True, exist_ok=True)
    base_env = {**os.environ, "PYTHONUNBUFFERED": "1", "FASHIONLIB_FAST": "0"}
    full_env = {**base_env, "FASHIONLIB_PROFILE": "full", "DEEPFASHION_ROOT": str(root), "FASHIONLIB_RUNS": str(runs)}
    rows = []

    def stage(name: str, cmd: list[str], env: dict[str, str] = full_env) -> None:
        rows.append(run_stage(name, cmd, env, logs / f"{name}.log"))

    if existing_sample(root, args.images, args.seed):
        print(f"[sample-data] reusing {root} ({args.images} images, seed {args.seed})")
    else:
        stage("sample-data", [exe, "sample-data", str(root), "--images", str(args.images), "--seed", str(args.seed),
                              "--quiet"], base_env)
    stage("profile", [sys.executable, "-c", "from fashionlib.config import get_profile; p = get_profile(); "
                      "assert p.name == 'full', p; print(p)"])
    shutil.rmtree(coco, ignore_errors=True)
    stage("convert", [exe, "convert", str(root), str(coco)])
    n_val = len(json.loads((coco / "val.json").read_text())["images"])
    stage("train-detector", [exe, "train-detector", "--config", STUDY_CONFIG, "--coco", str(coco), "--images", str(root),
                             "--out", str(detector), "--overwrite", "--device", args.device,
                             "--max-iter", str(args.detector_iters), f"model.weights_path={random_resnet50(work)}",
                             # no periodic validation (the scaled schedule would validate on 500 images after
                             # every iteration); the next stage evaluates on the whole split
                             "train.eval_every=0", "train.final_eval_max_images=1"])
    evaluate = [exe, "evaluate-detector", str(detector), "--split", "val", "--device", args.device]
    if args.eval_max_images:
        evaluate += ["--max-images", str(args.eval_max_images)]
    stage("evaluate-detector", evaluate)
    shutil.rmtree(crops, ignore_errors=True)
    stage("crop", [exe, "crop", str(coco), "--images", str(root), "--out", str(crops), "--size", "64", "128"])
    for size in (64, 128):
        stage(f"train-gan-{size}", [exe, "train-gan", str(crops), "--size", str(size), "--iters", str(args.gan_iters),
                                    "--device", args.device, "--out", str(runs / "full" / f"gan{size}_smoke")])

    evaluated = min(n_val, args.eval_max_images or n_val)
    summary = {"images": args.images, "val_images": n_val, "val_images_evaluated": evaluated,
               "detector_iters": args.detector_iters, "gan_iters": args.gan_iters, "device": args.device,
               "cpus": len(os.sched_getaffinity(0)), "stages": rows}
    (work / "smoke_full.json").write_text(json.dumps(summary, indent=1) + "\n")
    print(f"\nfull profile smoke test: {args.images:,} images, val split {n_val:,} images "
          f"({evaluated:,} evaluated), {args.detector_iters} detector and {args.gan_iters} GAN iterations, "
          f"{args.device}, {summary['cpus']} CPUs")
    print("| stage | wall (s) | peak RSS, process tree (GiB) | largest process (GiB) |")
    print("|---|---:|---:|---:|")
    for r in rows:
        print(f"| {r['stage']} | {r['wall_s']:,} | {r['peak_tree_rss_gib']} | {r['max_process_rss_gib']} |")
    print(f"total {sum(r['wall_s'] for r in rows):,.0f} s; logs in {logs}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
