"""The generators and discriminators: the study's DCGAN and the small-data recipe's models.

The study's DCGAN (Radford et al. 2016, as in the PyTorch tutorial): transposed
convolutions + batch norm in G, strided convolutions + batch norm + LeakyReLU in D.

The small-data models change the parts that fail on ~1,000 crops and a few
thousand iterations:

* G upsamples by nearest-neighbour resize + 3x3 convolution ("resize-convolution",
  Odena et al. 2016): a stride-2 transposed convolution with a 4x4 kernel lets
  every other output pixel receive contributions from a different set of kernel
  taps, which paints a checkerboard until training irons it out;
* G's batch norm can take its scale and shift from the class (conditional batch
  norm), so the class reaches every layer rather than only the input;
* D can use spectral normalisation (Miyato et al. 2018) on every layer, which
  bounds how fast its output can change and keeps its gradients useful, and a
  projection head (Miyato & Koyama 2018): the logit is ``psi(h) + <embed(y), h>``,
  so D judges "is this a real garment *of class y*".
"""

from __future__ import annotations

import pandas as pd
import torch
from torch import nn

SIZES = (64, 128)
# Channel multipliers of the hidden layers: the generator's (4x4 upwards) and the discriminator's (mirror).
G_MULTS = {64: (8, 4, 2, 1), 128: (8, 4, 2, 1, 1)}
D_MULTS = {64: (1, 2, 4, 8), 128: (1, 1, 2, 4, 8)}


class GanError(ValueError):
    """A GAN run cannot be started, resumed or loaded as asked (the message says what to do)."""


def check_size(size: int) -> None:
    """Raise :class:`GanError` unless the image size is one the models are built for."""
    if size not in SIZES:
        raise GanError(f"image size must be one of {SIZES}, got {size}")


def _class_input(labels: torch.Tensor | None, num_classes: int, dtype: torch.dtype) -> torch.Tensor:
    """Return (B, K) class vectors from class indices (B,) or soft vectors (B, K) (e.g. to morph classes)."""
    if labels is None:
        raise GanError("this model is conditional: pass class indices (labels)")
    if labels.is_floating_point():
        return labels.to(dtype)
    return nn.functional.one_hot(labels, num_classes).to(dtype)


def condition_vectors(classes: torch.Tensor, attributes: torch.Tensor | None, num_classes: int,
                      attribute_slots: int) -> torch.Tensor:
    """Return (B, C + A) condition vectors: half a one-hot garment class, half a one-hot attribute slot.

    ``attributes`` None (or -1 entries) spreads the attribute half evenly over the A slots: "any
    attribute". The halves keep the vector's sum at 1, so conditional batch norm starts at scale 1.
    """
    b = len(classes)
    out = torch.zeros(b, num_classes + attribute_slots)
    out[torch.arange(b), classes.long()] = 0.5
    if attributes is None:
        attributes = torch.full((b,), -1)
    known = attributes >= 0
    out[known.nonzero().flatten(), num_classes + attributes[known].long()] = 0.5
    out[~known, num_classes:] = 0.5 / attribute_slots
    return out


# ---------------------------------------------------------------------------
# The study's DCGAN
# ---------------------------------------------------------------------------


class Generator(nn.Module):
    """DCGAN generator: z (and optionally a class) -> image in [-1, 1], transposed conv + BN + ReLU, Tanh output."""

    def __init__(self, size: int = 64, nz: int = 100, ngf: int = 64, num_classes: int = 0) -> None:
        super().__init__()
        check_size(size)
        self.size, self.nz, self.num_classes = size, nz, num_classes
        layers: list[nn.Module] = []
        cin = nz + num_classes
        for i, mult in enumerate(G_MULTS[size]):
            cout = ngf * mult
            # First layer: 1x1 -> 4x4 (stride 1, a 4x4 kernel on a 1x1 input); then each layer doubles the side.
            stride, pad = (1, 0) if i == 0 else (2, 1)
            layers += [nn.ConvTranspose2d(cin, cout, 4, stride, pad, bias=False), nn.BatchNorm2d(cout), nn.ReLU(True)]
            cin = cout
        layers += [nn.ConvTranspose2d(cin, 3, 4, 2, 1, bias=False), nn.Tanh()]
        self.main = nn.Sequential(*layers)

    def forward(self, z: torch.Tensor, labels: torch.Tensor | None = None) -> torch.Tensor:
        """Return images (B, 3, S, S) for noise (B, nz) and class indices (B,) or vectors (B, K)."""
        if z.dim() == 2:
            z = z[:, :, None, None]
        if self.num_classes:
            z = torch.cat([z, _class_input(labels, self.num_classes, z.dtype)[:, :, None, None]], dim=1)
        return self.main(z)


class Discriminator(nn.Module):
    """DCGAN discriminator: image (and optionally a class) -> one logit; strided conv + BN + LeakyReLU(0.2)."""

    def __init__(self, size: int = 64, ndf: int = 64, num_classes: int = 0) -> None:
        super().__init__()
        check_size(size)
        self.size, self.num_classes = size, num_classes
        layers: list[nn.Module] = []
        cin = 3 + num_classes
        for i, mult in enumerate(D_MULTS[size]):
            cout = ndf * mult
            # Downsampling by stride-2 convolution (learned) rather than pooling; no BN on the input layer.
            layers.append(nn.Conv2d(cin, cout, 4, 2, 1, bias=False))
            if i > 0:
                layers.append(nn.BatchNorm2d(cout))
            layers.append(nn.LeakyReLU(0.2, inplace=True))
            cin = cout
        layers.append(nn.Conv2d(cin, 1, 4, 1, 0, bias=False))
        self.main = nn.Sequential(*layers)

    def forward(self, x: torch.Tensor, labels: torch.Tensor | None = None) -> torch.Tensor:
        """Return one logit per image (B,); D(x) = sigmoid(logit)."""
        if self.num_classes:
            b, _, h, w = x.shape
            planes = _class_input(labels, self.num_classes, x.dtype)[:, :, None, None].expand(b, -1, h, w)
            x = torch.cat([x, planes], dim=1)
        return self.main(x).reshape(-1)


def weights_init(module: nn.Module) -> None:
    """DCGAN initialisation: conv weights ~ N(0, 0.02), batch-norm scale ~ N(1, 0.02), bias 0."""
    if isinstance(module, (nn.Conv2d, nn.ConvTranspose2d)):
        nn.init.normal_(module.weight, 0.0, 0.02)
    elif isinstance(module, nn.BatchNorm2d) and module.affine:
        nn.init.normal_(module.weight, 1.0, 0.02)
        nn.init.zeros_(module.bias)


# ---------------------------------------------------------------------------
# The small-data recipe's models
# ---------------------------------------------------------------------------


class ConditionalBatchNorm2d(nn.Module):
    """Batch norm whose scale and shift are looked up from the class (or mixed from a soft class vector)."""

    def __init__(self, channels: int, num_classes: int) -> None:
        super().__init__()
        self.bn = nn.BatchNorm2d(channels, affine=False)
        self.gamma = nn.Linear(num_classes, channels, bias=False)
        self.beta = nn.Linear(num_classes, channels, bias=False)
        nn.init.ones_(self.gamma.weight)  # every class starts as plain batch norm (scale 1, shift 0)
        nn.init.zeros_(self.beta.weight)

    def forward(self, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        """Normalise x, then scale and shift it per class (y: (B, K) class vectors)."""
        return self.bn(x) * self.gamma(y)[:, :, None, None] + self.beta(y)[:, :, None, None]


class UpBlock(nn.Module):
    """Resize-convolution: nearest-neighbour x2, 3x3 convolution, (conditional) batch norm, ReLU."""

    def __init__(self, cin: int, cout: int, num_classes: int, upsample: str) -> None:
        super().__init__()
        if upsample == "resize":
            self.up = nn.Sequential(nn.Upsample(scale_factor=2, mode="nearest"),
                                    nn.Conv2d(cin, cout, 3, 1, 1, bias=False))
        else:  # the study's transposed convolution, for the ablation
            self.up = nn.ConvTranspose2d(cin, cout, 4, 2, 1, bias=False)
        self.bn = ConditionalBatchNorm2d(cout, num_classes) if num_classes else nn.BatchNorm2d(cout)
        self.act = nn.ReLU(inplace=True)

    def forward(self, x: torch.Tensor, y: torch.Tensor | None) -> torch.Tensor:
        """Return the upsampled feature map (twice the side)."""
        x = self.up(x)
        x = self.bn(x, y) if isinstance(self.bn, ConditionalBatchNorm2d) else self.bn(x)
        return self.act(x)


class ResizeGenerator(nn.Module):
    """Generator of the small-data recipe: z -> 4x4 map (linear) -> up-blocks -> 3x3 conv -> Tanh.

    ``cond``: "concat" appends the one-hot class to z (as the study's conditional G does);
    "cbn" also gives every up-block's batch norm a class-dependent scale and shift.
    """

    def __init__(self, size: int = 64, nz: int = 100, ngf: int = 32, num_classes: int = 0,
                 upsample: str = "resize", cond: str = "cbn") -> None:
        super().__init__()
        check_size(size)
        self.size, self.nz, self.num_classes = size, nz, num_classes
        self.cond = cond if num_classes else "none"
        mults = G_MULTS[size]
        self.c0 = ngf * mults[0]
        self.fc = nn.Linear(nz + num_classes, 4 * 4 * self.c0)
        self.bn0 = nn.BatchNorm2d(self.c0)
        cbn_classes = num_classes if self.cond == "cbn" else 0
        chans = [ngf * m for m in mults] + [ngf * mults[-1]]
        self.blocks = nn.ModuleList(UpBlock(a, b, cbn_classes, upsample) for a, b in zip(chans[:-1], chans[1:]))
        self.to_rgb = nn.Sequential(nn.Conv2d(chans[-1], 3, 3, 1, 1), nn.Tanh())

    def forward(self, z: torch.Tensor, labels: torch.Tensor | None = None) -> torch.Tensor:
        """Return images (B, 3, S, S) for noise (B, nz) and class indices (B,) or vectors (B, K)."""
        z = z.reshape(len(z), -1)
        y = _class_input(labels, self.num_classes, z.dtype) if self.num_classes else None
        h = self.fc(torch.cat([z, y], 1) if y is not None else z).view(-1, self.c0, 4, 4)
        h = torch.relu(self.bn0(h))
        for block in self.blocks:
            h = block(h, y if self.cond == "cbn" else None)
        return self.to_rgb(h)


class SNDiscriminator(nn.Module):
    """Discriminator of the small-data recipe: strided 4x4 convs + LeakyReLU, no batch norm, sum-pooled features.

    ``spectral_norm`` wraps every layer in spectral normalisation. ``cond``: "projection"
    adds ``<embed(y), h>`` to the logit; "planes" appends one-hot planes to the input
    (the study's way); no class when ``num_classes`` is 0.
    """

    def __init__(self, size: int = 64, ndf: int = 32, num_classes: int = 0, spectral_norm: bool = True,
                 cond: str = "projection") -> None:
        super().__init__()
        check_size(size)
        self.size, self.num_classes = size, num_classes
        self.cond = cond if num_classes else "none"
        sn = nn.utils.parametrizations.spectral_norm if spectral_norm else (lambda m: m)
        cin = 3 + (num_classes if self.cond == "planes" else 0)
        layers: list[nn.Module] = []
        for mult in D_MULTS[size]:
            layers += [sn(nn.Conv2d(cin, ndf * mult, 4, 2, 1)), nn.LeakyReLU(0.2, inplace=True)]
            cin = ndf * mult
        self.main = nn.Sequential(*layers)
        self.head = sn(nn.Linear(cin, 1))
        self.embed = sn(nn.Embedding(num_classes, cin)) if self.cond == "projection" else None

    def forward(self, x: torch.Tensor, labels: torch.Tensor | None = None) -> torch.Tensor:
        """Return one logit per image (B,)."""
        if self.cond == "planes":
            b, _, h, w = x.shape
            planes = _class_input(labels, self.num_classes, x.dtype)[:, :, None, None].expand(b, -1, h, w)
            x = torch.cat([x, planes], dim=1)
        h = self.main(x).sum(dim=(2, 3))  # sum pooling: the 4x4 map's evidence adds up
        out = self.head(h).reshape(-1)
        if self.embed is not None:
            if labels is None:
                raise GanError("this discriminator is conditional: pass class indices (labels)")
            out = out + (self.embed(labels) * h).sum(1)
        return out


def parameter_count(model: nn.Module) -> int:
    """Return the number of trainable parameters."""
    return sum(p.numel() for p in model.parameters() if p.requires_grad)


def architecture_table(model: nn.Module) -> pd.DataFrame:
    """Return one row per top-level layer: module, output shape (for one sample), parameters."""
    shapes: dict[str, tuple[int, ...]] = {}
    named = [(n, m) for n, m in model.named_children()]
    if hasattr(model, "main") and isinstance(model.main, nn.Sequential):
        named = [(f"main.{i}", m) for i, m in enumerate(model.main)]
    elif hasattr(model, "blocks"):
        named = [(n, m) for n, m in model.named_children() if n != "blocks"]
        named[2:2] = [(f"blocks.{i}", b) for i, b in enumerate(model.blocks)]

    def hook(name: str):  # noqa: ANN202 - a closure per layer
        return lambda _m, _i, out: shapes.__setitem__(name, tuple(out.shape[1:]))

    handles = [m.register_forward_hook(hook(n)) for n, m in named]
    was_training = model.training
    model.eval()
    try:
        with torch.no_grad():
            labels = torch.zeros(1, dtype=torch.long) if model.num_classes else None
            if hasattr(model, "nz"):
                model(torch.zeros(1, model.nz), labels)
            else:
                model(torch.zeros(1, 3, model.size, model.size), labels)
    finally:
        for h in handles:
            h.remove()
        model.train(was_training)
    rows = []
    for name, m in named:
        desc = m.__class__.__name__
        if isinstance(m, (nn.Conv2d, nn.ConvTranspose2d)):
            desc += f"({m.in_channels}->{m.out_channels}, k{m.kernel_size[0]}, s{m.stride[0]}, p{m.padding[0]})"
        rows.append({"layer": name, "module": desc, "output": " x ".join(map(str, shapes.get(name, ()))),
                     "parameters": sum(p.numel() for p in m.parameters())})
    return pd.DataFrame(rows).set_index("layer")
