"""DiffAugment (Zhao et al., NeurIPS 2020): the same random, differentiable augmentation on real and fake images.

With ~1,000 training crops the discriminator soon memorises them and its
feedback to the generator turns into noise. Augmenting only the real images
would teach the generator to draw augmented garments; DiffAugment applies the
augmentation to *everything D sees* (real and fake, in D's step and in G's
step) and, because each operation is differentiable, the generator's gradient
flows back through it. Three policies, as in the paper: colour (brightness,
saturation, contrast), translation (shift by up to 1/8 of the side, zero fill)
and cutout (a zeroed square of half the side).
"""

from __future__ import annotations

import torch

POLICIES = ("color", "translation", "cutout")


def parse_policy(policy: str) -> tuple[str, ...]:
    """Return the policy names in a comma-separated string ("" = no augmentation); unknown names are an error."""
    names = tuple(p.strip() for p in policy.split(",") if p.strip())
    unknown = [p for p in names if p not in POLICIES]
    if unknown:
        raise ValueError(f"DiffAugment policies are {', '.join(POLICIES)}; got {', '.join(unknown)}")
    return names


def color(x: torch.Tensor) -> torch.Tensor:
    """Random brightness (+-0.5), saturation (x0..2) and contrast (x0.5..1.5) per image, for images in [-1, 1]."""
    b = x.shape[0]
    x = x + (torch.rand(b, 1, 1, 1, device=x.device, dtype=x.dtype) - 0.5)
    mean = x.mean(dim=1, keepdim=True)
    x = (x - mean) * (torch.rand(b, 1, 1, 1, device=x.device, dtype=x.dtype) * 2) + mean
    mean = x.mean(dim=(1, 2, 3), keepdim=True)
    return (x - mean) * (torch.rand(b, 1, 1, 1, device=x.device, dtype=x.dtype) + 0.5) + mean


def translation(x: torch.Tensor, ratio: float = 0.125) -> torch.Tensor:
    """Shift each image by up to ``ratio`` of its side in x and y; pixels shifted in are zero."""
    b, _, h, w = x.shape
    sy, sx = int(h * ratio + 0.5), int(w * ratio + 0.5)
    ty = torch.randint(-sy, sy + 1, (b, 1, 1), device=x.device)
    tx = torch.randint(-sx, sx + 1, (b, 1, 1), device=x.device)
    gy, gx = torch.meshgrid(torch.arange(h, device=x.device), torch.arange(w, device=x.device), indexing="ij")
    # Index into a zero-padded copy: source pixel (y - ty, x - tx), clamped into the padding ring.
    py = torch.clamp(gy[None] - ty + 1, 0, h + 1)
    px = torch.clamp(gx[None] - tx + 1, 0, w + 1)
    padded = torch.nn.functional.pad(x, (1, 1, 1, 1))
    flat = padded.permute(0, 2, 3, 1)  # (B, H+2, W+2, C): gather whole pixels
    out = flat[torch.arange(b, device=x.device)[:, None, None], py, px]
    return out.permute(0, 3, 1, 2)


def cutout(x: torch.Tensor, ratio: float = 0.5) -> torch.Tensor:
    """Zero a square of ``ratio`` of the side at a random place in each image."""
    b, _, h, w = x.shape
    ch, cw = int(h * ratio + 0.5), int(w * ratio + 0.5)
    # The square's top-left corner; it may hang over the border (as in the paper), so its centre is uniform.
    y0 = torch.randint(0, h + 1, (b, 1, 1), device=x.device) - ch // 2
    x0 = torch.randint(0, w + 1, (b, 1, 1), device=x.device) - cw // 2
    gy = torch.arange(h, device=x.device)[None, :, None]
    gx = torch.arange(w, device=x.device)[None, None, :]
    inside = (gy >= y0) & (gy < y0 + ch) & (gx >= x0) & (gx < x0 + cw)
    return x * (~inside)[:, None].to(x.dtype)


_OPS = {"color": color, "translation": translation, "cutout": cutout}


def diff_augment(x: torch.Tensor, policy: tuple[str, ...] | str) -> torch.Tensor:
    """Return x augmented by each policy in turn (fresh randomness per image and call); x unchanged if none."""
    names = parse_policy(policy) if isinstance(policy, str) else policy
    for name in names:
        x = _OPS[name](x)
    return x
