"""Recolouring for CLIP (notebook 06) that keeps the held-out (shape, colour) pairs out of training.

``train_clip`` recolours half of every batch: it turns the colour wheel of an image and hides the colour words
of its caption, so that shape must be recognised whatever the colour. A turn can make a seen pair look like a
held-out one (a cyan triangle turned by 240 degrees is yellow, and a yellow triangle is held out), so the angles
allowed for each (shape, colour) pair are decided once, from the colour table (``safe_rotations``).
"""
from __future__ import annotations

import math

import torch

from .data.shapes import COLOUR_JITTER, COLOURS, HELD_OUT, NOISE_STD, SHAPES, nearest_colour
from .tokenizer import Tokenizer


def hue_rotation(degrees: torch.Tensor) -> torch.Tensor:
    """(A,) angles -> (A, 3, 3) matrices that turn RGB colours about the grey axis (1, 1, 1) by those angles.

    Rodrigues' formula, R = cos(a) I + sin(a) [u]x + (1 - cos(a)) u u^T with u = (1, 1, 1) / sqrt(3): the colour
    wheel turns, and every grey (black, grey, white, the letters of a written word) stays as it is. 120 and 240
    degrees are the cyclic orders of the channels (RGB -> BRG -> GBR).
    """
    a = torch.deg2rad(degrees.double())[:, None, None]  # (A, 1, 1)
    u = torch.ones(3, dtype=torch.float64) / math.sqrt(3)
    cross = torch.tensor([[0.0, -u[2], u[1]], [u[2], 0.0, -u[0]], [-u[1], u[0], 0.0]], dtype=torch.float64)
    return (torch.cos(a) * torch.eye(3, dtype=torch.float64) + torch.sin(a) * cross
            + (1 - torch.cos(a)) * torch.outer(u, u)).float()


#: The turns of the colour wheel ``recolour`` draws from: every 15 degrees but 0.
HUE_ANGLES = torch.arange(15, 360, 15)
ROTATIONS = hue_rotation(HUE_ANGLES)  # (A, 3, 3)


def turn_hue(images: torch.Tensor, rotations: torch.Tensor) -> torch.Tensor:
    """Images (B, 3, H, W) in [0, 1], each turned by its (B, 3, 3) matrix, clipped back to [0, 1]."""
    return torch.einsum("bij,bjhw->bihw", rotations.to(images.dtype), images).clamp(0, 1)


def safe_rotations(grid: int = 5) -> torch.Tensor:
    """(S, C, A) bool: may ``recolour`` turn a shape ``SHAPES[s]`` of colour ``COLOURS[c]`` by ``HUE_ANGLES[a]``?

    Only if the turned colour can never pass for a held-out pair: for every colour within the rendering's jitter
    of c (``shapes.COLOUR_JITTER`` per channel, widened by twice the pixel noise and sampled on a grid of
    ``grid`` values per channel), the nearest named colour of the turned one, with the shape, is not in
    ``HELD_OUT``. A cyan circle is held out, say; so a circle may take any hue but those that look cyan.
    Decided from the colour table, once.
    """
    rgb = torch.tensor(list(COLOURS.values()))  # (C, 3)
    reach = COLOUR_JITTER + 2 * NOISE_STD
    steps = torch.linspace(-reach, reach, grid)
    box = torch.stack(torch.meshgrid(steps, steps, steps, indexing="ij"), dim=-1).reshape(-1, 3)  # (G, 3)
    near = (rgb[:, None] + box).clamp(0, 1)  # (C, G, 3): every colour an image of colour c may have
    turned = torch.einsum("aij,cgj->cgai", ROTATIONS, near).clamp(0, 1)  # (C, G, A, 3)
    looks = nearest_colour(turned)  # (C, G, A): the named colour each turned one is nearest to
    held = torch.zeros(len(SHAPES), len(COLOURS), dtype=torch.bool)  # (S, C)
    for shape, colour in HELD_OUT:
        held[SHAPES.index(shape), list(COLOURS).index(colour)] = True
    # unsafe[s, c, a]: some colour near c, turned by a, looks like the colour held out for shape s
    unsafe = held[:, looks].any(dim=2)  # (S, C, G, A) -> (S, C, A)
    return ~unsafe


SAFE_ROTATIONS = safe_rotations()  # (S, C, A)


def caption_pairs(tokens: torch.Tensor, tokenizer: Tokenizer) -> torch.Tensor:
    """The (shape, colour) pair each caption names first: (B, T) tokens -> (B, 2) class indices, -1 where none.

    A caption of a word alone ("a photo of blue.", the caption of a written word) names no shape: -1.
    """
    pairs = []
    for names in (SHAPES, tuple(COLOURS)):
        lookup = torch.full((len(tokenizer),), -1, dtype=torch.long, device=tokens.device)
        lookup[[tokenizer.index[name] for name in names]] = torch.arange(len(names), device=tokens.device)
        found = lookup[tokens]  # (B, T): a class index at each of its words, -1 elsewhere
        first = (found >= 0).int().argmax(dim=1, keepdim=True)  # (B, 1): the first such word (0 if none)
        pairs.append(found.gather(1, first)[:, 0])
    shape, colour = pairs
    both = (shape >= 0) & (colour >= 0)
    return torch.stack([shape.where(both, -1), colour.where(both, -1)], dim=1)


def recolour(images: torch.Tensor, tokens: torch.Tensor, pairs: torch.Tensor, colour_ids: torch.Tensor,
             unk_id: int, p: float) -> tuple[torch.Tensor, torch.Tensor]:
    """Recolour a fraction ``p`` of the pairs, keeping each image consistent with its caption and every held-out
    (shape, colour) pair out of training.

    A chosen image has its colour wheel turned (``turn_hue``) by an angle drawn among those ``SAFE_ROTATIONS``
    allows for its (shape, colour) pair (``pairs``, from ``caption_pairs``; a row of -1, or a pair no angle suits,
    is never chosen): a red square may take any hue, a red star any hue but green's; black, grey and white stay as
    they are. Its caption's colour words (token ids ``colour_ids``) become ``unk_id``: the caption still names the
    shape, size, place and background, but no longer a colour it might not have.
    Args: images (B, 3, H, W), tokens (B, T), pairs (B, 2). Returns the new images and tokens, same shapes.
    """
    b, device = len(images), images.device
    named = (pairs >= 0).all(dim=1)  # (B,)
    allowed = SAFE_ROTATIONS.to(device)[pairs[:, 0].clamp(min=0), pairs[:, 1].clamp(min=0)] & named[:, None]
    chosen = (torch.rand(b, device=device) < p) & allowed.any(dim=1)  # (B,)
    draw = torch.rand(b, len(HUE_ANGLES), device=device).masked_fill(~allowed, -1.0).argmax(dim=1)  # an allowed one
    rotation = torch.where(chosen[:, None, None], ROTATIONS.to(device)[draw], torch.eye(3, device=device))
    hide = chosen[:, None] & torch.isin(tokens, colour_ids.to(device))  # (B, T): the chosen captions' colours
    return turn_hue(images, rotation), tokens.masked_fill(hide, unk_id)
