"""``fashionlib train-gan`` and ``fashionlib generate``."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from fashionlib import distributed
from fashionlib.crops import CLASS_IDS
from fashionlib.gan.config import RECIPES, RESUMABLE_CHANGES, recipe_config, with_changes
from fashionlib.gan.models import SIZES, GanError
from fashionlib.gan.sample import load_generator, write_designs
from fashionlib.gan.train import read_config, train_gan


def _cmd_train(args: Any) -> int:
    overrides: dict[str, Any] = {"size": args.size, "conditional": not args.unconditional}
    for key in ("max_iters", "batch_size", "max_minutes", "seed", "ckpt_every"):
        if getattr(args, key) is not None:
            overrides[key] = getattr(args, key)
    if args.classes:
        overrides["classes"] = tuple(args.classes)
    if args.resume and (Path(args.out) / "config.yaml").is_file():
        old, _ = read_config(args.out)  # a resume keeps the run's config; only its length/logging may change
        config = with_changes(old, **{k: v for k, v in overrides.items() if k in RESUMABLE_CHANGES})
    else:
        config = recipe_config(args.recipe, **overrides)
    ctx, device = distributed.init_from_env(args.device)  # torchrun: join the process group (a no-op otherwise)
    train_gan(args.crops, args.out, config, resume=args.resume, device=device, verbose=ctx.is_main,
              progress=ctx.is_main)
    distributed.shutdown()
    return 0


def _cmd_generate(args: Any) -> int:
    netG = load_generator(args.run, device=args.device or "cpu")
    if args.classes and not netG.num_classes:
        raise GanError("this generator is unconditional: drop --classes")
    table = write_designs(netG, args.out, args.n, classes=args.classes, seed=args.seed)
    counts = ", ".join(f"{c} {k}" for c, k in table["class"].value_counts(sort=False).items())
    print(f"wrote {len(table)} designs ({counts}) and designs.csv to {args.out}")
    return 0


def add_commands(sub: Any) -> None:
    """Register ``fashionlib train-gan`` and ``fashionlib generate``."""
    p = sub.add_parser("train-gan", help="train a GAN (the study's DCGAN or the small-data recipe) on a crop folder")
    p.add_argument("crops", help="crop folder made by `fashionlib crop`")
    p.add_argument("--recipe", choices=list(RECIPES), default="study",
                   help="study: the study's DCGAN; small-data: resize-conv G with class-conditional BN, widths 32, batch 16")
    p.add_argument("--size", type=int, choices=SIZES, default=64, help="image size (64: the study's 5 layers)")
    p.add_argument("--out", required=True, help="run folder (checkpoints, metrics, grids)")
    p.add_argument("--resume", action="store_true", help="continue the run in --out from its checkpoint")
    p.add_argument("--max-minutes", dest="max_minutes", type=float, default=None,
                   help="stop (and checkpoint) after this many minutes of training in total")
    p.add_argument("--iters", dest="max_iters", type=int, default=None, help="iteration budget (default 1000)")
    p.add_argument("--batch-size", dest="batch_size", type=int, default=None,
                   help="global batch size (all torchrun processes together; each trains on its slice)")
    p.add_argument("--classes", nargs="+", choices=list(CLASS_IDS), default=None, help="train on these classes only")
    p.add_argument("--unconditional", action="store_true", help="no class input (the study's original DCGAN)")
    p.add_argument("--seed", type=int, default=None, help="seed (default 0)")
    p.add_argument("--ckpt-every", dest="ckpt_every", type=int, default=None, help="checkpoint every N iterations")
    p.add_argument("--device", default=None, help="cpu or cuda (default: cuda when available)")
    p.set_defaults(func=_cmd_train)

    g = sub.add_parser("generate", help="write designs of a trained GAN as OUT/<class>/NNNN.png + designs.csv")
    g.add_argument("run", help="run folder made by `fashionlib train-gan`")
    g.add_argument("--n", type=int, default=64, help="number of designs")
    g.add_argument("--out", required=True, help="output folder")
    g.add_argument("--classes", nargs="+", choices=list(CLASS_IDS), default=None,
                   help="classes to ask for (cycled; default: every class the generator knows)")
    g.add_argument("--seed", type=int, default=0, help="design i uses noise seed SEED + i")
    g.add_argument("--device", default=None, help="cpu or cuda")
    g.set_defaults(func=_cmd_generate)
