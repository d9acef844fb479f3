"""One training step of a GAN: the discriminator's update, then the generator's.

This is the code notebook 06 shows. Two losses:

* ``bce`` - the study's DCGAN loss: D maximises log D(x) + log(1 - D(G(z))), G
  maximises log D(G(z)) (the "non-saturating" form, as in the PyTorch tutorial);
* ``hinge`` - the small-data recipe's loss (Miyato et al. 2018): D pushes real
  logits above +1 and fake logits below -1, and stops pushing once they are
  there; G raises D's logit on its images.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable
from typing import Any

import torch
from torch import nn
from torch.nn import functional as F


def d_loss(loss: str, real_logits: torch.Tensor, fake_logits: torch.Tensor) -> torch.Tensor:
    """Return the discriminator's loss on a real and a fake batch."""
    if loss == "hinge":
        return F.relu(1 - real_logits).mean() + F.relu(1 + fake_logits).mean()
    return (F.binary_cross_entropy_with_logits(real_logits, torch.ones_like(real_logits))
            + F.binary_cross_entropy_with_logits(fake_logits, torch.zeros_like(fake_logits)))


def g_loss(loss: str, fake_logits: torch.Tensor) -> torch.Tensor:
    """Return the generator's loss: how far D is from calling its images real."""
    if loss == "hinge":
        return -fake_logits.mean()
    return F.binary_cross_entropy_with_logits(fake_logits, torch.ones_like(fake_logits))


def gan_step(
    netG: nn.Module, netD: nn.Module, optG: torch.optim.Optimizer, optD: torch.optim.Optimizer,
    real: torch.Tensor, labels: torch.Tensor | None, *, nz: int, loss: str = "bce",
    augment: Callable[[torch.Tensor], torch.Tensor] = lambda x: x, autocast: Any = contextlib.nullcontext,
) -> dict[str, torch.Tensor]:
    """Update D once and G once on one batch of real images; return the step's numbers (tensors, no sync).

    ``augment`` is applied to every image D sees (DiffAugment; identity by default).
    Real and fake batches go through D separately, as in the study, so that a
    discriminator with batch norm normalises each with its own statistics.
    """
    b = real.shape[0]
    z = torch.randn(b, nz, device=real.device)

    # (1) Update D: real images up, fake images down. G's output is detached: D's step does not train G.
    optD.zero_grad(set_to_none=True)
    with autocast():
        fake = netG(z, labels)
        real_logits = netD(augment(real), labels).float()
        fake_logits = netD(augment(fake.detach()), labels).float()
        errD = d_loss(loss, real_logits, fake_logits)
    errD.backward()
    optD.step()

    # (2) Update G: make D call the same fakes real. D's weights are frozen (no gradient needed for them).
    netD.requires_grad_(False)
    optG.zero_grad(set_to_none=True)
    with autocast():
        gen_logits = netD(augment(fake), labels).float()
        errG = g_loss(loss, gen_logits)
    errG.backward()
    optG.step()
    netD.requires_grad_(True)

    # D(x), D(G(z)) before and after D's update, read as probabilities (sigmoid of the logits).
    return {"Loss_D": errD.detach(), "Loss_G": errG.detach(), "D_x": torch.sigmoid(real_logits.detach()).mean(),
            "D_G_z1": torch.sigmoid(fake_logits.detach()).mean(), "D_G_z2": torch.sigmoid(gen_logits.detach()).mean()}


@torch.no_grad()
def ema_update(ema: nn.Module, model: nn.Module, decay: float) -> None:
    """Move the averaged generator's weights toward the trained one's: ema = decay * ema + (1 - decay) * model.

    Buffers (batch-norm running statistics) are copied, not averaged.
    """
    for pe, p in zip(ema.parameters(), model.parameters()):
        pe.lerp_(p, 1.0 - decay)
    for be, b in zip(ema.buffers(), model.buffers()):
        be.copy_(b)
