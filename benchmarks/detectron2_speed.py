"""Training and inference speed: our torchvision loop vs detectron2, same config, images and weights.

Both engines get the same network with the same starting weights (detectron2's model is built
first; its weights are converted into the torchvision model with
``fashionlib.detection.d2.modeling.to_torchvision_state``), the same sample images, resized by
the same arithmetic, and the same batches. Reported: seconds per training iteration (forward,
backward, SGD step) and per inference image, at the study's scale (800) and at 320.

    .venv/bin/python benchmarks/detectron2_speed.py [--iters 5] [--scales 800 320] [--threads 1]

Needs detectron2 (`make detectron2`) and the sample data (`make sample`). No GPU needed.
"""

from __future__ import annotations

import argparse
import time

import torch


def main() -> None:
    """Print one table row per (scale, engine): s/iter training and s/image inference."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--iters", type=int, default=5, help="timed iterations per measurement (after 1 warm-up)")
    parser.add_argument("--scales", type=int, nargs="+", default=[800, 320])
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--config", default="faster_rcnn_R50_FPN_deepfashion3",
                        help="detector config (default: the study's)")
    args = parser.parse_args()

    from fashionlib.detection.d2 import require_detectron2

    require_detectron2()
    from detectron2.modeling import build_model as d2_build
    from detectron2.utils.events import EventStorage

    from fashionlib.coco import ensure_coco
    from fashionlib.config import get_profile, set_seed
    from fashionlib.detection import load_config
    from fashionlib.detection.config import norm_kind
    from fashionlib.detection.d2.config import to_d2_config
    from fashionlib.detection.d2.data import Mapper, register_datasets
    from fashionlib.detection.d2.modeling import to_torchvision_state
    from fashionlib.detection.data import CocoDetection, collate
    from fashionlib.detection.model import LOSS_NAMES, build_model

    torch.set_num_threads(args.threads)
    profile = get_profile("sample")
    coco = ensure_coco(profile)
    names = register_datasets(coco, profile.data_root, ("train",))
    from detectron2.data import DatasetCatalog

    records = DatasetCatalog.get(names["train"])[: 2 * (args.iters + 1) * 2]
    print(f"{'scale':>5}  {'engine':<12} {'train s/iter':>12} {'infer s/img':>12}")
    for scale in args.scales:
        cfg = load_config(args.config)
        cfg.model.norm = norm_kind(cfg)  # keep the study's frozen BN...
        cfg.model.weights = "none"  # ...but no weights file: both engines get the same random weights below
        cfg.input.min_size, cfg.input.max_size = scale, round(scale * 1333 / 800)
        set_seed(0)
        d2cfg = to_d2_config(cfg, "cpu")
        d2model = d2_build(d2cfg)
        tv = build_model(cfg)
        tv.load_state_dict(to_torchvision_state(d2model.state_dict()))  # same starting weights
        bs = cfg.solver.ims_per_batch
        mapper = Mapper(scale, cfg.input.max_size)
        batches = [[mapper(r) for r in records[i:i + bs]] for i in range(0, bs * (args.iters + 1), bs)]
        ds = CocoDetection(coco / "train.json", profile.data_root, cfg.input)
        tv_batches = [collate([ds[i] for i in range(j, j + bs)]) for j in range(0, bs * (args.iters + 1), bs)]

        def d2_step(model, batch):
            with EventStorage():  # detectron2's heads log sampling statistics to the current storage
                return sum(model(batch).values())

        def tv_step(model, batch):
            losses = model(*batch)
            return sum(losses[n] for n in LOSS_NAMES)

        for name, model, step, data in (("torchvision", tv, tv_step, tv_batches),
                                        ("detectron2", d2model, d2_step, batches)):
            opt = torch.optim.SGD([p for p in model.parameters() if p.requires_grad], lr=1e-4, momentum=0.9)
            model.train()
            times = []
            for batch in data:
                tic = time.perf_counter()
                opt.zero_grad()
                step(model, batch).backward()
                opt.step()
                times.append(time.perf_counter() - tic)
            train_s = sum(times[1:]) / len(times[1:])
            model.eval()
            times = []
            with torch.inference_mode():
                for batch in data:
                    tic = time.perf_counter()
                    model(batch[0] if name == "torchvision" else batch)
                    times.append((time.perf_counter() - tic) / bs)
            print(f"{scale:>5}  {name:<12} {train_s:>12.3f} {sum(times[1:]) / len(times[1:]):>12.3f}")


if __name__ == "__main__":
    main()
