"""Detector speed: our training loop against the stock torchvision model driven by a plain loop, and detectron2.

The loops train the same network from the same random initial weights on the
same images (batches of 2 images, ~300 px long side, read from disk each
iteration), with the same RoI/proposal settings:

* stock: ``torchvision.models.detection.fasterrcnn_resnet50_fpn`` (or, for the
  sample config, the same FasterRCNN with torchvision's own transform), raw [0, 1]
  images in, ``GeneralizedRCNNTransform`` normalising and resizing every step,
  contiguous (NCHW) tensors, ``torch.optim.SGD`` with its default per-parameter loop;
* ours: :mod:`fashionlib.detection` - resize/normalise once in the data pipeline,
  RoIAlign with a sparse-matrix backward (torchvision's CPU backward is a serial
  scatter loop), fused SGD, ``zero_grad(set_to_none=True)``, one finite-loss check per step (the forward pass syncs anyway),
  ``inference_mode`` for inference, and freed memory kept in the process
  (:mod:`fashionlib.cpumem`, as ``train-detector --keep-freed-memory`` does; at scale 800 the default
  allocator spends about a quarter of a step's CPU time on page faults). Channels-last
  (NHWC) was measured too and was slower on this CPU, so the CPU loop stays NCHW
  (and its losses stay bit-equal);
* detectron2 (when it is installed, ``make detectron2``): the same config through
  ``fashionlib.detection.d2`` (detectron2's RPN, RoI heads, its own RoIAlign and SGD
  param groups; the same torchvision ResNet-FPN backbone), driven as detectron2's
  ``SimpleTrainer.run_step`` does, images through the d2 engine's mapper (the same resize
  arithmetic). Its weights are built first and converted into the two torchvision models,
  so all three start from the same numbers. This is the anchor our loop is judged against.

Each loop runs in its own process (the allocator setting is process-wide); the
parent interleaves their iterations, one process working while the other sleeps,
so that load from other processes hits both alike.

It prints s/iter and images/s for training and inference, the speed-up, and the
largest difference between the two models' losses on the same batch (same
weights, same RNG state) to show that nothing was skipped, and each loop's peak
resident memory.

    python benchmarks/detector_speed.py                    # study config at 800 and 320, sample config
    python benchmarks/detector_speed.py --iters 5 --scales 800
    python benchmarks/detector_speed.py --no-detectron2    # the two torchvision loops only
    python benchmarks/detector_speed.py --device cuda      # GPU: study config, mixed precision off and on
"""

from __future__ import annotations

import argparse
import math
import multiprocessing as mp
import resource
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd
import torch
from PIL import Image
from torchvision.models.detection import fasterrcnn_resnet50_fpn

from fashionlib.cpumem import keep_freed_memory
from fashionlib.detection.config import DetectorConfig, sample_config, study_config
from fashionlib.detection.data import load_image, prepare_image, resize_boxes, resize_scale
from fashionlib.detection.engine import make_optimizer, train_one_iter
from fashionlib.detection.model import LOSS_NAMES, build_model

BATCH = 2


def bench_images(n: int, folder: Path) -> list[tuple[Path, torch.Tensor, torch.Tensor]]:
    """Return ``n`` (jpeg path, xyxy boxes, labels): the sample's first val images, or generated ones (mixed shapes)."""
    try:
        from fashionlib.config import get_profile
        from fashionlib.detection.data import CocoDetection

        prof = get_profile("sample")
        ds = CocoDetection(prof.coco_dir / "val.json", prof.data_root, study_config().input)
        picked = [i for i in range(len(ds)) if len(ds.records[i].labels)][:n]
        if len(picked) == n:
            return [(ds.image_path(i), torch.from_numpy(ds.records[i].boxes), torch.from_numpy(ds.records[i].labels))
                    for i in picked]
    except (FileNotFoundError, ValueError, KeyError):
        pass
    rng = np.random.default_rng(0)
    out = []
    for i in range(n):
        arr = rng.integers(0, 255, (300, int(rng.integers(180, 301)), 3)[:: 1 if i % 3 else -1], dtype=np.uint8)
        path = folder / f"bench_{i}.jpg"
        Image.fromarray(arr).save(path)
        out.append((path, torch.tensor([[30.0, 40.0, 180.0, 160.0], [40.0, 150.0, 170.0, 290.0]]), torch.tensor([1, 2])))
    return out


def stock_model(cfg: DetectorConfig, is_study: bool) -> torch.nn.Module:
    """Return the stock torchvision model for a config (the factory function for the study's R50-FPN)."""
    if is_study:
        return fasterrcnn_resnet50_fpn(
            weights=None, weights_backbone=None, num_classes=cfg.model.num_classes,
            min_size=cfg.input.min_size, max_size=cfg.input.max_size,
            rpn_pre_nms_top_n_train=cfg.rpn.pre_nms_top_n_train, rpn_post_nms_top_n_train=cfg.rpn.post_nms_top_n_train,
            rpn_pre_nms_top_n_test=cfg.rpn.pre_nms_top_n_test, rpn_post_nms_top_n_test=cfg.rpn.post_nms_top_n_test,
            box_batch_size_per_image=cfg.roi_heads.batch_size_per_image, box_nms_thresh=cfg.roi_heads.nms_thresh,
        )
    return build_model(cfg, stock_transform=True, channels_last=False, fast_roi_align=False)


def aspect(path: Path) -> float:
    """Return an image's width / height."""
    with Image.open(path) as img:
        return img.width / img.height


def read_batch(items: list, start: int, cfg: DetectorConfig, *, prepared: bool) -> tuple[list, list]:
    """Return BATCH images and targets from ``items[start:]`` (wrapping), read from disk.

    ``prepared``: resized and normalised as our data pipeline does (else raw [0, 1] images for the stock model).
    """
    images, targets = [], []
    for path, boxes, labels in (items[(start + k) % len(items)] for k in range(BATCH)):
        img = load_image(path)
        if prepared:
            ready = prepare_image(img, cfg.input)
            boxes = resize_boxes(boxes, img.shape[-2:], ready.shape[-2:])
            img = ready
        images.append(img)
        targets.append({"boxes": boxes.clone(), "labels": labels.clone()})
    return images, targets


class Loop:
    """One training loop (stock or ours) over a fixed list of image files.

    The stock loop takes the images in the given order; ours pairs images of similar
    aspect ratio (what its aspect-grouped batch sampler does over a whole dataset,
    and what torchvision's reference scripts and detectron2 do), so batches need
    less padding. Both loops see the same images.
    """

    def __init__(self, cfg: DetectorConfig, model: torch.nn.Module, items: list, ours: bool) -> None:
        if ours:
            items = sorted(items, key=lambda item: aspect(item[0]))
        self.cfg, self.model, self.items, self.ours = cfg, model, items, ours
        self.padding: list[float] = []
        model.train()
        if ours:
            self.opt = make_optimizer(model, cfg)
        else:
            params = [p for p in model.parameters() if p.requires_grad]
            self.opt = torch.optim.SGD(params, lr=cfg.solver.base_lr, momentum=0.9, weight_decay=1e-4)
        self.scaler = torch.amp.GradScaler("cuda", enabled=False)
        self.pos = 0

    def batch(self, start: int, items: list | None = None) -> tuple[list, list]:
        """Return images and targets read from disk (from ``items``, default this loop's order), prepared for its model."""
        return read_batch(items or self.items, start, self.cfg, prepared=self.ours)

    def step(self) -> tuple[float, float]:
        """Run one training iteration (data included); return its (wall, CPU) time."""
        t0, c0 = time.perf_counter(), time.process_time()
        images, targets = self.batch(self.pos)
        self.pos += BATCH
        self.padding.append(padding_share(images, self.cfg, raw=not self.ours))
        if self.ours:  # the engine's own step function, as training runs it
            train_one_iter(self.model, (images, targets), self.opt, self.scaler, clip_grad_norm=self.cfg.solver.clip_grad_norm)
        else:
            loss = sum(self.model(images, targets).values())
            self.opt.zero_grad()
            loss.backward()
            self.opt.step()
            loss.item()  # a plain loop reads the loss every step
        return time.perf_counter() - t0, time.process_time() - c0

    def infer(self, start: int) -> tuple[float, float]:
        """Run inference on one batch (data included); return its (wall, CPU) time."""
        t0, c0 = time.perf_counter(), time.process_time()
        images, _ = self.batch(start)
        self.model.eval()
        if self.ours:
            with torch.inference_mode():
                self.model(images)
        else:
            with torch.no_grad():
                self.model(images)
        self.model.train()
        return time.perf_counter() - t0, time.process_time() - c0


def padding_share(images: list[torch.Tensor], cfg: DetectorConfig, *, raw: bool) -> float:
    """Return the share of the padded batch tensor that is padding (computed at every layer for nothing)."""
    sizes = []
    for img in images:
        h, w = img.shape[-2:]
        if raw:  # the stock model resizes inside; compute the size it will produce
            scale = resize_scale(h, w, cfg.input.min_size, cfg.input.max_size)
            h, w = math.floor(h * scale), math.floor(w * scale)
        sizes.append((h, w))
    div = cfg.input.size_divisible
    height = -(-max(h for h, _ in sizes) // div) * div
    width = -(-max(w for _, w in sizes) // div) * div
    return 1 - sum(h * w for h, w in sizes) / (len(sizes) * height * width)


def same_batch_check(stock: Loop, ours: Loop) -> dict[str, float]:
    """Return the two models' largest loss difference and relative gradient difference on the same batch.

    Same weights, same images, same RNG state: forward and backward once each (no optimizer step).
    """
    losses, grads = [], []
    for loop in (stock, ours):
        images, targets = loop.batch(0, stock.items)  # the very same images for both
        torch.manual_seed(123)
        out = loop.model(images, targets)
        sum(out.values()).backward()
        losses.append({k: float(v.detach()) for k, v in out.items()})
        grads.append({n: p.grad.clone() for n, p in loop.model.named_parameters() if p.grad is not None})
        loop.model.zero_grad(set_to_none=True)
    scale = max(g.abs().max().item() for g in grads[0].values())
    return {
        "loss": sum(losses[0].values()),
        "loss_diff": max(abs(losses[0][k] - losses[1][k]) for k in LOSS_NAMES),
        "grad_diff": max((grads[0][n] - grads[1][n]).abs().max().item() for n in grads[0]) / scale,
    }


def peak_rss_gib() -> float:
    """Return this process's peak resident memory (VmHWM: unlike ru_maxrss, not inherited through exec)."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 2**20
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20  # Linux: KiB


class D2Loop:
    """detectron2's training step (``SimpleTrainer.run_step``) and inference over the same image files.

    Images go through the d2 engine's mapper (our resize arithmetic, 0-255 pixels; the model
    normalises and pads them itself), paired by aspect ratio as detectron2's grouped loader does.
    """

    def __init__(self, cfg: DetectorConfig, items: list, weights: str) -> None:
        from detectron2.modeling import build_model as d2_build_model

        from fashionlib.detection.d2 import to_d2_config
        from fashionlib.detection.d2.data import Mapper
        from fashionlib.detection.d2.trainer import Trainer

        self.cfg, self.d2cfg = cfg, to_d2_config(cfg, "cpu")
        self.model = d2_build_model(self.d2cfg)
        self.model.load_state_dict(torch.load(weights))
        self.model.train()
        self.opt = Trainer.build_optimizer(self.d2cfg, self.model)  # detectron2's SGD param groups and clipping
        self.items = sorted(items, key=lambda item: aspect(item[0]))
        self.mapper = Mapper(cfg.input.min_size, cfg.input.max_size)
        self.infer_mapper = Mapper(cfg.input.min_size, cfg.input.max_size, train=False)
        self.padding: list[float] = []
        self.pos = 0

    def batch(self, start: int, items: list | None = None, *, train: bool = True) -> list[dict]:
        """Return BATCH mapped records from ``items[start:]`` (wrapping), read from disk."""
        from detectron2.structures import BoxMode

        items = items or self.items
        out = []
        for k in range(BATCH):
            path, boxes, labels = items[(start + k) % len(items)]
            with Image.open(path) as img:
                width, height = img.size
            record = {"file_name": str(path), "image_id": k, "height": height, "width": width,
                      "annotations": [{"bbox": box, "bbox_mode": BoxMode.XYXY_ABS, "category_id": int(label) - 1}
                                      for box, label in zip(boxes.tolist(), labels.tolist())]}
            out.append((self.mapper if train else self.infer_mapper)(record))
        return out

    def losses(self, batch: list[dict]) -> dict[str, torch.Tensor]:
        """Return detectron2's loss dict (its heads log statistics to an event storage, so one is opened)."""
        from detectron2.utils.events import EventStorage

        with EventStorage():
            return self.model(batch)

    def step(self) -> tuple[float, float]:
        """Run one training iteration (data included) as detectron2's SimpleTrainer does; return (wall, CPU) time."""
        t0, c0 = time.perf_counter(), time.process_time()
        batch = self.batch(self.pos)
        self.pos += BATCH
        self.padding.append(padding_share([b["image"] for b in batch], self.cfg, raw=False))
        loss = sum(self.losses(batch).values())
        self.opt.zero_grad()
        loss.backward()
        self.opt.step()
        return time.perf_counter() - t0, time.process_time() - c0

    def infer(self, start: int) -> tuple[float, float]:
        """Run inference on one batch (data included); return its (wall, CPU) time."""
        t0, c0 = time.perf_counter(), time.process_time()
        batch = self.batch(start, train=False)
        self.model.eval()
        with torch.no_grad():
            self.model(batch)
        self.model.train()
        return time.perf_counter() - t0, time.process_time() - c0


def _worker(conn, cfg: DetectorConfig, is_study: bool, kind: str, items: list, weights: str, threads: int) -> None:
    """Hold one loop (``kind``: stock, ours or detectron2) in its own process and run the steps the parent asks for.

    A process per loop, because what our loop sets for the CPU allocator
    (:func:`fashionlib.cpumem.keep_freed_memory`, as ``train-detector --keep-freed-memory`` does) is
    process-wide and must not reach the other loops.
    """
    torch.set_num_threads(threads)
    if kind == "ours":
        keep_freed_memory()
    torch.manual_seed(0)
    if kind == "detectron2":
        loop = D2Loop(cfg, items, weights)
        warm = loop.losses(loop.batch(0))
        sum(warm.values()).backward()
        loop.model.zero_grad(set_to_none=True)
    else:
        model = build_model(cfg, channels_last=False) if kind == "ours" else stock_model(cfg, is_study)
        model.load_state_dict(torch.load(weights))  # same initial weights in every loop
        loop = Loop(cfg, model, items, kind == "ours")
        images, targets = loop.batch(0)  # warm-up: oneDNN sets up its kernels (and the heap grows) on a first call
        sum(model(images, targets).values()).backward()
        model.zero_grad(set_to_none=True)
    conn.send("ready")
    while True:
        cmd, arg = conn.recv()
        if cmd == "step":
            conn.send(loop.step())
        elif cmd == "infer":
            conn.send(loop.infer(arg))
        elif cmd == "stats":
            conn.send((statistics.mean(loop.padding), peak_rss_gib()))
        else:
            return


LOOP_NAMES = {"stock": "stock torchvision", "ours": "fashionlib", "detectron2": "detectron2 0.6"}


def d2_same_batch_loss(cfg: DetectorConfig, items: list, weights: str) -> float:
    """Return detectron2's total loss on the batch the torchvision loops were compared on (same weights and seed)."""
    loop = D2Loop(cfg, items, weights)
    torch.manual_seed(123)
    return float(sum(loop.losses(loop.batch(0, items)).values()).detach())


def run_config(label: str, cfg: DetectorConfig, is_study: bool, items: list, iters: int, threads: int,
               detectron2: bool = False) -> list[dict]:
    """Benchmark one config: every loop in its own process, iterations interleaved; return table rows."""
    items = items[: BATCH * iters]  # every loop trains on exactly these images, once each
    kinds = ["stock", "ours"] + (["detectron2"] if detectron2 else [])
    ctx = mp.get_context("spawn")
    with tempfile.TemporaryDirectory() as tmp:
        weights = {k: str(Path(tmp) / f"init_{k}.pt") for k in ("torchvision", "detectron2")}
        torch.manual_seed(0)
        stock_net = stock_model(cfg, is_study)
        if detectron2:  # detectron2's model first, its initial weights converted for the torchvision models
            from detectron2.modeling import build_model as d2_build_model

            from fashionlib.detection.d2 import to_d2_config
            from fashionlib.detection.d2.modeling import to_torchvision_state

            torch.manual_seed(0)
            d2_net = d2_build_model(to_d2_config(cfg, "cpu"))
            torch.save(d2_net.state_dict(), weights["detectron2"])
            stock_net.load_state_dict(to_torchvision_state(d2_net.state_dict()))
            del d2_net
        ours_net = build_model(cfg, channels_last=False)
        ours_net.load_state_dict(stock_net.state_dict())  # same initial weights, so the losses can be compared
        check = same_batch_check(Loop(cfg, stock_net, items, False), Loop(cfg, ours_net, items, True))
        if detectron2:
            check["d2_loss"] = d2_same_batch_loss(cfg, items, weights["detectron2"])
        torch.save(stock_net.state_dict(), weights["torchvision"])
        del stock_net, ours_net
        conns, procs = {}, []
        for kind in kinds:
            conns[kind], child = ctx.Pipe()
            file = weights["detectron2" if kind == "detectron2" else "torchvision"]
            proc = ctx.Process(target=_worker, args=(child, cfg, is_study, kind, items, file, threads))
            proc.start()
            child.close()  # so that a worker that dies raises EOFError here instead of hanging the parent
            procs.append(proc)
        for conn in conns.values():
            assert conn.recv() == "ready"
        times: dict[str, list] = {k: [] for k in kinds}
        infer: dict[str, list] = {k: [] for k in kinds}
        for _ in range(iters):
            for name, conn in conns.items():  # one at a time: the others sleep on their pipes meanwhile
                conn.send(("step", None))
                times[name].append(conn.recv())
        for k in range(iters):
            for name, conn in conns.items():
                conn.send(("infer", k * BATCH))
                infer[name].append(conn.recv())
        stats = {}
        for name, conn in conns.items():
            conn.send(("stats", None))
            stats[name] = conn.recv()
            conn.send(("quit", None))
        for proc in procs:
            proc.join()
    rows = {}
    for name in kinds:
        # Means, not medians: the loops process the same images, in batches of their own making.
        wall = statistics.mean(t[0] for t in times[name])
        cpu = statistics.mean(t[1] for t in times[name])
        inf_wall = statistics.mean(t[0] for t in infer[name])
        inf_cpu = statistics.mean(t[1] for t in infer[name])
        rows[name] = {"config": label, "loop": LOOP_NAMES[name],
                      "train s/iter": wall, "train CPU s/iter": cpu, "train img/s": BATCH / wall,
                      "infer img/s": BATCH / inf_wall, "infer CPU s/img": inf_cpu / BATCH,
                      "padding %": 100 * stats[name][0], "peak RSS GiB": stats[name][1]}
    ours = rows["ours"]
    for base in kinds[:1] + kinds[2:]:  # our loop's speed-up over each of the others
        tag = "" if base == "stock" else " vs d2"
        ours[f"speed-up{tag} (wall)"] = rows[base]["train s/iter"] / ours["train s/iter"]
        ours[f"speed-up{tag} (CPU)"] = rows[base]["train CPU s/iter"] / ours["train CPU s/iter"]
        ours[f"infer speed-up{tag} (CPU)"] = rows[base]["infer CPU s/img"] / ours["infer CPU s/img"]
    ours["max |loss diff|"] = check["loss_diff"]
    ours["max grad diff (rel)"] = check["grad_diff"]
    rows["stock"]["loss (same batch)"] = check["loss"]
    if detectron2:
        rows["detectron2"]["loss (same batch)"] = check["d2_loss"]
    return list(rows.values())


def _sync_timer(device: str, fn) -> float:
    """Return the seconds ``fn()`` takes, waiting for the GPU's queue before and after."""
    if device.startswith("cuda"):
        torch.cuda.synchronize()
    t0 = time.perf_counter()
    fn()
    if device.startswith("cuda"):
        torch.cuda.synchronize()
    return time.perf_counter() - t0


def precision_row(label: str, cfg: DetectorConfig, batches: list, device: str, amp: bool) -> dict:
    """Our training step on ``device``, mixed precision ``amp``: training and inference images/s."""
    torch.manual_seed(0)
    model = build_model(cfg, channels_last=cfg.train.channels_last and device.startswith("cuda")).to(device).train()
    opt = make_optimizer(model, cfg)
    scaler = torch.amp.GradScaler("cuda", enabled=amp)

    def step(images: list, targets: list) -> None:  # the engine's step: autocast forward, scaled backward
        train_one_iter(model, (images, targets), opt, scaler, clip_grad_norm=cfg.solver.clip_grad_norm)

    def infer() -> None:
        for images, _ in batches[1:]:
            model(images)

    step(*batches[0])  # warm-up (cuDNN picks its kernels)
    iters = len(batches) - 1
    train_s = _sync_timer(device, lambda: [step(*b) for b in batches[1:]]) / iters
    model.eval()
    with torch.inference_mode(), torch.autocast("cuda", enabled=amp):
        model(batches[0][0])
        infer_s = _sync_timer(device, infer) / iters
    return {"config": label, "loop": f"fashionlib {'AMP' if amp else 'fp32'} on {device}",
            "train s/iter": train_s, "train img/s": BATCH / train_s, "infer img/s": BATCH / infer_s}


def precision_rows(label: str, cfg: DetectorConfig, items: list, iters: int, device: str, amps: list[bool]) -> list[dict]:
    """Our loop on ``device`` with mixed precision off and on (``amps``), one row each.

    The batches are prepared and moved to the device before timing (on a GPU the data
    loader's worker processes hide that work), so this measures the model, not the loader.
    """
    batches = []
    for k in range(iters + 1):
        images, targets = read_batch(items, k * BATCH, cfg, prepared=True)
        batches.append(([img.to(device) for img in images], [{n: v.to(device) for n, v in t.items()} for t in targets]))
    rows = [precision_row(label, cfg, batches, device, amp) for amp in amps]
    if len(rows) == 2:
        rows[1]["AMP speed-up (train)"] = rows[0]["train s/iter"] / rows[1]["train s/iter"]
    return rows


def main(argv: list[str] | None = None) -> int:
    """Run the benchmark and print the table."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--iters", type=int, default=3, help="timed training iterations per loop and config")
    parser.add_argument("--scales", type=int, nargs="*", default=[800, 320], help="scales for the study's config")
    parser.add_argument("--no-sample", action="store_true", help="skip the sample config")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--no-detectron2", action="store_true",
                        help="leave detectron2 out (it is timed by default when installed)")
    parser.add_argument("--device", default="cpu", choices=["cpu", "cuda"],
                        help="cuda: the study's config on the GPU with mixed precision off and on (our loop only)")
    args = parser.parse_args(argv)
    if args.device == "cuda":
        if not torch.cuda.is_available():
            print("no CUDA device here: run with --device cpu", file=sys.stderr)
            return 2
        with tempfile.TemporaryDirectory() as tmp:
            items = bench_images(2 * (args.iters * 10 + 1), Path(tmp))
            rows = []
            for scale in args.scales:
                cfg = study_config()
                cfg.model.weights, cfg.model.norm, cfg.model.trainable_layers = "none", "bn", 5
                cfg.input.min_size = scale
                rows += precision_rows(f"study R50-FPN @{scale}", cfg, items, args.iters * 10, "cuda", [False, True])
        print(f"\ntorch {torch.__version__}, {torch.cuda.get_device_name()}, batch {BATCH}, batches on the GPU before timing")
        print(pd.DataFrame(rows).to_string(index=False, float_format=lambda v: f"{v:.4g}", na_rep=""))
        return 0
    torch.set_num_threads(args.threads)
    from fashionlib.detection import d2

    with_d2 = d2.available() and not args.no_detectron2
    if not with_d2 and not args.no_detectron2:
        print("detectron2 is not installed (`make detectron2`): timing the two torchvision loops only", file=sys.stderr)
    with tempfile.TemporaryDirectory() as tmp:
        items = bench_images(2 * max(args.iters * 4, 8), Path(tmp))
        rows = []
        for scale in args.scales:
            cfg = study_config()
            cfg.model.weights, cfg.model.norm, cfg.model.trainable_layers = "none", "bn", 5  # random init, as stock
            cfg.input.min_size = scale
            rows += run_config(f"study R50-FPN @{scale}", cfg, True, items, args.iters, args.threads, with_d2)
            print(pd.DataFrame(rows).to_string(index=False, float_format=lambda v: f"{v:.4g}"), flush=True)
        if not args.no_sample:
            rows += run_config("sample (CPU stand-in)", sample_config(), False, items, args.iters * 4, args.threads,
                               with_d2)
    table = pd.DataFrame(rows)
    text = (f"torch {torch.__version__}, {torch.get_num_threads()} threads, batch {BATCH}, means over the same "
            f"images for every loop, iterations interleaved; CPU s = process CPU time (robust to other jobs on a "
            f"shared machine); device cpu (no GPU in this run)\n"
            + table.to_string(index=False, float_format=lambda v: f"{v:.4g}", na_rep="") + "\n")
    print("\n" + text, end="")
    if args.scales == [800, 320] and not args.no_sample and args.iters == 3:  # the README's table: keep it
        (Path(__file__).resolve().parent / "results" / "detector_speed_cpu.txt").write_text(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
