"""The GAN's settings: one frozen dataclass, two named recipes, and the course's budgets per profile."""

from __future__ import annotations

from dataclasses import asdict, dataclass, fields, replace
from pathlib import Path
from typing import Any

from fashionlib.crops import CLASS_IDS
from fashionlib.gan.augment import parse_policy
from fashionlib.gan.models import GanError, check_size

CHOICES = {"generator": ("dcgan", "resize"), "discriminator": ("dcgan", "sn"), "loss": ("bce", "hinge"),
           "g_cond": ("concat", "cbn"), "d_cond": ("planes", "projection")}


@dataclass(frozen=True)
class GanConfig:
    """Everything that defines a training run (saved as config.yaml). The defaults are the study's DCGAN."""

    recipe: str = "study"
    size: int = 64
    nz: int = 100
    ngf: int = 64
    ndf: int = 64
    conditional: bool = True
    classes: tuple[str, ...] = ("upper", "lower", "full")
    # Attribute values to condition on as well (issue "trend signals"), e.g. ("floral|floral print", "plaid"):
    # each value lists DeepFashion attribute names of one look; crops carrying none of them form one more slot.
    attributes: tuple[str, ...] = ()
    # The ingredients of the small-data recipe, each a switch (the study's choice first).
    generator: str = "dcgan"  # "resize": nearest-neighbour upsample + 3x3 conv instead of transposed conv
    discriminator: str = "dcgan"  # "sn": spectral norm on every layer, no batch norm
    loss: str = "bce"  # "hinge"
    diffaugment: str = ""  # e.g. "color,translation,cutout" on everything D sees
    ema_decay: float = 0.0  # > 0: sample from an exponential moving average of G's weights
    g_cond: str = "concat"  # "cbn": class-conditional batch norm in every generator block
    d_cond: str = "planes"  # "projection": projection discriminator
    batch_size: int = 64
    lr: float = 2e-4
    beta1: float = 0.5
    beta2: float = 0.999
    max_iters: int = 1000
    max_minutes: float | None = None  # total training time across resumes
    seed: int = 0
    hflip: bool = True  # random horizontal flips of real crops (garments are left-right symmetric)
    log_every: int = 25
    grid_every: int = 50
    ckpt_every: int = 50
    n_fixed: int = 24  # fixed-noise samples in the progress grids (equal share per class when conditional)
    channels_last: bool = True
    amp: bool = True  # bfloat16 mixed precision on CUDA GPUs that support it

    @property
    def attribute_slots(self) -> int:
        """Return the attribute values conditioned on plus one for "none of them" (0 without attributes)."""
        return len(self.attributes) + 1 if self.attributes else 0

    @property
    def num_classes(self) -> int:
        """Return the width of the condition vector: garment classes (+ attribute slots); 0 = unconditional."""
        return len(self.classes) + self.attribute_slots if self.conditional else 0

    def check(self) -> None:
        """Raise :class:`GanError` when an option is out of range."""
        check_size(self.size)
        if set(self.classes) - set(CLASS_IDS) or not self.classes:
            raise GanError(f"classes must be among {', '.join(CLASS_IDS)}, got {list(self.classes)}")
        if self.batch_size < 2 or self.max_iters < 0:
            raise GanError("batch_size must be >= 2 (batch norm) and max_iters >= 0")
        for key, allowed in CHOICES.items():
            if getattr(self, key) not in allowed:
                raise GanError(f"GAN config {key} must be one of {', '.join(allowed)}, got {getattr(self, key)!r}")
        try:
            parse_policy(self.diffaugment)
        except ValueError as err:
            raise GanError(f"GAN config diffaugment: {err}") from None
        if self.attributes and (not self.conditional or self.d_cond == "projection"):
            raise GanError("GAN config attributes need a conditional model with d_cond planes (the projection "
                           "discriminator embeds one class index, not a garment class plus an attribute)")
        if not 0.0 <= self.ema_decay < 1.0:
            raise GanError(f"GAN config ema_decay must be in [0, 1), got {self.ema_decay}")

    def to_dict(self) -> dict[str, Any]:
        """Return the config as plain JSON/YAML values."""
        d = asdict(self)
        d["classes"] = list(self.classes)
        return d

    @classmethod
    def from_dict(cls, d: dict[str, Any], source: str = "GAN config") -> GanConfig:
        """Return a config from a mapping (unknown keys and wrong types are an error naming the key)."""
        types = {f.name: f.type for f in fields(cls)}
        unknown = set(d) - set(types)
        if unknown:
            raise GanError(f"{source}: unknown GAN config keys {sorted(unknown)}")
        out: dict[str, Any] = {}
        for key, value in d.items():
            out[key] = _coerce(source, key, types[key], value)
        return cls(**out)


def _coerce(source: str, key: str, type_name: str, value: Any) -> Any:
    """Return value checked against the field's declared type (ints are accepted where floats are expected)."""
    optional = type_name.endswith("| None")
    base = type_name.replace("| None", "").strip()
    if value is None and optional:
        return None
    ok = {"int": isinstance(value, int) and not isinstance(value, bool),
          "float": isinstance(value, (int, float)) and not isinstance(value, bool),
          "bool": isinstance(value, bool), "str": isinstance(value, str),
          "tuple[str, ...]": isinstance(value, (list, tuple)) and all(isinstance(v, str) for v in value)}[base]
    if not ok:
        raise GanError(f"{source}: key {key!r} expects {type_name}, found {value!r} ({type(value).__name__})")
    return tuple(value) if base.startswith("tuple") else float(value) if base == "float" else value


# The two recipes, as overrides of the study's defaults. The small-data recipe keeps what measured as helping on
# the sample's crops in ten CPU minutes (README: the ablation, benchmarks/gan_ablation.py, and the candidates
# compared at the full budget, where the EMA of G lowered the Frechet distance in every paired run of the
# recipe); spectral norm + hinge and DiffAugment (they cost recall at this budget) and the projection
# discriminator (within noise) stay switches.
RECIPES: dict[str, dict[str, Any]] = {
    "study": {},
    "small-data": {"generator": "resize", "g_cond": "cbn", "ngf": 32, "ndf": 32, "batch_size": 16,
                   "ema_decay": 0.999},
}

# Fields that may change between a run and its resumption (they only say how long to train and how often to log).
RESUMABLE_CHANGES = {"max_iters", "max_minutes", "log_every", "grid_every", "ckpt_every"}


def recipe_config(recipe: str = "study", **overrides: Any) -> GanConfig:
    """Return the config of a named recipe ("study" or "small-data") with overrides."""
    if recipe not in RECIPES:
        raise GanError(f"recipe must be one of {', '.join(RECIPES)}, got {recipe!r}")
    config = GanConfig(**{"recipe": recipe, **RECIPES[recipe], **overrides})
    config.check()
    return config


# The sample profile's budget in updates: what each recipe did in the course's ten minutes on 2 CPU cores (the
# notebook 06 run of 2026-11-29, at the batch sizes below), and the four-minute 128x128 demonstration run.
SAMPLE_UPDATES = {"study": 3448, "small-data": 3918}
SAMPLE_UPDATES_128 = 545


def default_config(profile: Any, size: int = 64, recipe: str = "study", **overrides: Any) -> GanConfig:
    """Return the course's config for a profile and recipe: sample = the CPU budget, FAST = a few iterations."""
    check_size(size)
    if profile.fast:
        budget = dict(max_iters=40 if size == 64 else 8, max_minutes=1.5, log_every=10 if size == 64 else 4,
                      grid_every=20 if size == 64 else 4, ckpt_every=20 if size == 64 else 4, batch_size=8)
    elif profile.is_sample:
        # The course's budget, fixed as updates so a run gives the same weights on any machine (a time budget gave
        # 3,448 study updates on one day and 2,015 on another, on the same 2 cores).
        budget = dict(max_iters=SAMPLE_UPDATES[recipe] if size == 64 else SAMPLE_UPDATES_128,
                      log_every=100 if size == 64 else 25, grid_every=250 if size == 64 else 50,
                      ckpt_every=250 if size == 64 else 50)
        if recipe == "study":
            budget["batch_size"] = 8  # the course's CPU choice for the study's models (batch 8 beat 32 in 10 min)
        if str(getattr(profile, "device", "cpu")).startswith("cuda"):
            budget["batch_size"] = 64  # a GPU (e.g. Colab) on the sample: same updates, GPU-sized batches
    else:
        # Real data on a GPU: about 25 epochs of 200k crops at the study's batch 128.
        budget = dict(batch_size=128, max_iters=40000, log_every=500, grid_every=2000, ckpt_every=2000)
    return recipe_config(recipe, size=size, **{**budget, **overrides})


def run_name(config: GanConfig) -> str:
    """Return a run-folder name that says what the run is: recipe and size (e.g. ``gan64_small-data``)."""
    return f"gan{config.size}_{config.recipe}" + ("_attributes" if config.attributes else "")


def run_dir_for(profile: Any, config: GanConfig) -> Path:
    """Return the run folder of a config in a profile (FAST runs live apart so they never replace real ones)."""
    return Path(profile.run_dir) / (run_name(config) + ("_fast" if profile.fast else ""))


def with_changes(config: GanConfig, **changes: Any) -> GanConfig:
    """Return a checked copy of a config with some fields changed."""
    out = replace(config, **changes)
    out.check()
    return out
