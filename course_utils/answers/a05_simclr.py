"""Notebook 05's graded exercises: Sobel filtering, colour drop and SimCLR's NT-Xent loss.

Each section below is the solution cell of the same grade id in solutions/05_simclr/05_simclr.ipynb.
``course_utils.augment`` (``sobel``), ``course_utils.colour`` (``colour_drop``, ``LUMA``) and
``course_utils.simclr`` (``nt_xent``) import them from here.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F

from ..reference import ReferenceNotReleased  # noqa: F401  (the students' copy raises it)
from ..similarity import cosine_similarity_matrix

# ITU-R BT.601: the grey level of (R, G, B) is 0.299 R + 0.587 G + 0.114 B. Defined here, where the answers use it,
# and re-exported by course_utils.colour (which imports colour_drop from here, so it cannot be imported from there).
LUMA = (0.299, 0.587, 0.114)


# %% sobel
def sobel(x: torch.Tensor) -> torch.Tensor:
    """Edges of a batch x (B, C, H, W) in [0, 1] (C = 3 or 1): the Sobel gradient magnitude over its maximum per image.

    The magnitude sqrt((G_x * g)^2 + (G_y * g)^2) of the grey level g = 0.299 R + 0.587 G + 0.114 B (for C = 1, the
    image itself), padded by replicating its border; an image whose maximum is at most 1e-6 gives 0. Returns
    (B, C, H, W), the same edges in every channel, in x's dtype and on x's device, differentiable in x.
    """
    ### BEGIN SOLUTION
    if x.shape[1] == 3:
        g = (torch.tensor(LUMA, dtype=x.dtype, device=x.device).view(1, 3, 1, 1) * x).sum(dim=1, keepdim=True)
    else:
        g = x  # (B, 1, H, W): a one-channel image is its own grey level
    gx = torch.tensor([[-1.0, 0.0, 1.0], [-2.0, 0.0, 2.0], [-1.0, 0.0, 1.0]], dtype=x.dtype, device=x.device)
    weight = torch.stack([gx, gx.T]).unsqueeze(1)  # (2, 1, 3, 3)
    gradient = F.conv2d(F.pad(g, [1, 1, 1, 1], mode="replicate"), weight)  # (B, 2, H, W)
    magnitude = gradient.pow(2).sum(dim=1, keepdim=True).sqrt()  # (B, 1, H, W)
    peak = magnitude.amax(dim=(2, 3), keepdim=True)
    edges = torch.where(peak > 1e-6, magnitude / peak.clamp_min(1e-6), 0.0)
    return edges.expand(-1, x.shape[1], -1, -1).contiguous()
    # sample wrong answer: return magnitude.expand(-1, x.shape[1], -1, -1).contiguous()  # not divided by the maximum
    ### END SOLUTION


# %% colour_drop
def colour_drop(x: torch.Tensor, p: float = 1.0, generator: torch.Generator | None = None) -> torch.Tensor:
    """Each image of x (B, 3, H, W) in [0, 1] turned grey with probability p (its own coin), the others unchanged.

    One uniform number per image, drawn on the generator's device when a generator is given (else on x's device),
    then moved to x's device; image k turns grey where its number is below p. Grey: 0.299 R + 0.587 G + 0.114 B in
    all three channels. Returns a new (B, 3, H, W) tensor in x's dtype, on x's device, differentiable in x.
    """
    ### BEGIN SOLUTION
    luma = torch.tensor(LUMA, dtype=x.dtype, device=x.device).view(1, 3, 1, 1)
    grey_level = (luma * x).sum(dim=1, keepdim=True).clamp(0, 1)  # (B, 1, H, W)
    source = generator.device if generator is not None else x.device
    coins = torch.rand(x.shape[0], generator=generator, device=source).to(x.device) < p  # (B,)
    # sample wrong answer: coins = torch.rand(1, generator=generator, device=source).to(x.device) < p  # one coin
    return torch.where(coins.view(-1, 1, 1, 1), grey_level.expand_as(x), x)
    ### END SOLUTION


# %% nt_xent
def nt_xent(z1: torch.Tensor, z2: torch.Tensor, temperature: float) -> torch.Tensor:
    """SimCLR's NT-Xent over the 2N views of (N, D) z1 and z2 (row k of each from image k), a scalar.

    The mean over the 2N views of -log softmax of the partner's cosine similarity / temperature among the 2N - 1
    other views (Algorithm 1). Keeps the inputs' dtype and device; differentiable in z1 and z2.
    """
    ### BEGIN SOLUTION
    n = z1.shape[0]
    z = torch.cat([z1, z2])  # (2N, D)
    logits = cosine_similarity_matrix(z, z) / temperature  # (2N, 2N)
    logits = logits.masked_fill(torch.eye(2 * n, dtype=torch.bool, device=z.device), float("-inf"))
    targets = (torch.arange(2 * n, device=z.device) + n) % (2 * n)  # each view's partner
    return F.cross_entropy(logits, targets)
    # sample wrong answer: return F.cross_entropy(cosine_similarity_matrix(z, z) / temperature, targets)  # keeps i = k
    ### END SOLUTION
