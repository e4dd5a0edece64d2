"""Notebook 02's graded exercises: the GAN losses and one alternating training step.

Each section below is the solution cell of the same grade id in solutions/02_gans/02_gans.ipynb.
``course_utils.gans`` (and through it ``dcgan``) imports these as its reference losses and step.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn  # noqa: F401  (the hidden tests build their networks with it)

from ..reference import ReferenceNotReleased  # noqa: F401  (the students' copy raises it)


# %% discriminator_loss
def discriminator_loss(real_logits: torch.Tensor, fake_logits: torch.Tensor) -> torch.Tensor:
    """-mean log D(x) - mean log(1 - D(G(z))), from logits of any shape; a scalar."""
    ### BEGIN SOLUTION
    return F.softplus(-real_logits).mean() + F.softplus(fake_logits).mean()
    # sample wrong answer: return F.softplus(real_logits).mean() + F.softplus(-fake_logits).mean()  # labels swapped
    ### END SOLUTION


# %% generator_losses
def generator_loss_minimax(fake_logits: torch.Tensor) -> torch.Tensor:
    """mean log(1 - D(G(z))), which G minimises in the minimax game; a scalar."""
    ### BEGIN SOLUTION
    return -F.softplus(fake_logits).mean()
    ### END SOLUTION


def generator_loss_non_saturating(fake_logits: torch.Tensor) -> torch.Tensor:
    """-mean log D(G(z)); a scalar."""
    ### BEGIN SOLUTION
    return F.softplus(-fake_logits).mean()
    # sample wrong answer: return -F.softplus(-fake_logits).mean()  # the sign flipped: G would help D
    ### END SOLUTION


# %% gan_step
def gan_step(generator, discriminator, g_optimizer, d_optimizer, real: torch.Tensor, z: torch.Tensor,
             generator_loss=generator_loss_non_saturating) -> dict[str, torch.Tensor]:
    """One update of D on (real, G(z).detach()), then one of G through the updated D.

    Returns {"D loss": L_D, "G loss": L_G}, each a 0-dim tensor detached from the graph (``loss.detach()``):
    a report for a log, which NumPy and plotting can read (they refuse a tensor that requires grad), and
    which neither waits for the GPU (no ``.item()``) nor drags the step's autograd graph along.
    """
    ### BEGIN SOLUTION
    fake = generator(z)
    d_loss = discriminator_loss(discriminator(real), discriminator(fake.detach()))
    d_optimizer.zero_grad()
    d_loss.backward()
    d_optimizer.step()

    g_loss = generator_loss(discriminator(fake))
    g_optimizer.zero_grad()
    g_loss.backward()
    g_optimizer.step()
    return {"D loss": d_loss.detach(), "G loss": g_loss.detach()}
    # sample wrong answer: return {"D loss": d_loss.detach(), "G loss": -g_loss.detach()}  # a wrong sign in the report
    ### END SOLUTION
