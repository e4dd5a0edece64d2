"""Coloured shapes with captions: a tiny world for SimCLR and CLIP from scratch.

Every image is one shape (circle, square, triangle, cross, star) of one colour
and size, placed on the left, middle or right of a black, grey or white
background, and comes with a caption such as "a small red star on a grey
background.". Everything is drawn procedurally from a seed, so nothing is
downloaded and the same seed always gives the same bytes.

The split is the point: five (shape, colour) pairs in ``HELD_OUT`` never occur
in training, though every shape and every colour does, in other pairs. A model
that understands "cyan" and "circle" separately should still recognise a cyan
circle in the "heldout" split: that measures compositional generalisation.
"""
from __future__ import annotations

import numpy as np
import torch

from .base import ArrayDataset, check_split

SHAPES = ("circle", "square", "triangle", "cross", "star")
COLOURS = {  # name -> RGB in [0, 1]; insertion order is the class order
    "red": (0.90, 0.10, 0.10),
    "green": (0.10, 0.75, 0.15),
    "blue": (0.15, 0.30, 1.00),
    "yellow": (0.95, 0.85, 0.05),
    "purple": (0.60, 0.20, 0.90),
    "cyan": (0.05, 0.85, 0.90),
}
SIZES = ("small", "large")
POSITIONS = ("left", "middle", "right")
BACKGROUNDS = ("black", "grey", "white")
ATTRIBUTES = ("shape", "colour", "size", "position", "background")
CLASSES = {"shape": SHAPES, "colour": tuple(COLOURS), "size": SIZES,
           "position": POSITIONS, "background": BACKGROUNDS}

# One (shape, colour) pair per shape, each colour at most once: never in training.
HELD_OUT = (("circle", "cyan"), ("square", "purple"), ("triangle", "yellow"),
            ("cross", "blue"), ("star", "green"))

TEMPLATES = (
    "a photo of a {colour} {shape}.",
    "a {size} {colour} {shape}.",
    "a {size} {colour} {shape} on a {background} background.",
    "a {colour} {shape} {place}.",
    "a {size} {shape} that is {colour}.",
    "there is a {colour} {shape} {place} of the image.",
)
# How a caption says the position: "a red star on the left."
PLACES = {"left": "on the left", "middle": "in the middle", "right": "on the right"}

# Zero-shot prompts per attribute (notebook 06), with a {label} slot for the class's name in ``PROMPT_NAMES``.
# Every caption names a colour and a shape together, so a prompt for one names each value of the other in turn
# ("a photo of a red {label}.", "a photo of a green {label}.", ...): the ensemble averages the other away.
# The lecture's "a photo of a {label}." would be a phrase no caption ever used.
PROMPTS = {"shape": tuple(f"a photo of a {colour} {{label}}." for colour in COLOURS),
           "colour": tuple(f"a photo of a {{label}} {shape}." for shape in SHAPES),
           "size": tuple(f"a {{label}} {shape}." for shape in SHAPES),
           "position": tuple(f"a {shape} {{label}}." for shape in SHAPES)}
PROMPT_NAMES = {"shape": SHAPES, "colour": tuple(COLOURS), "size": SIZES,
                "position": tuple(PLACES[p] for p in POSITIONS)}  # a position is said "on the left"

COMBOS = ("seen", "held_out", "all")
SPLITS = ("train", "test", "heldout")

_RGB = np.array(list(COLOURS.values()), dtype=np.float32)       # (6, 3)
_BACKGROUND_LEVEL = np.array([0.05, 0.5, 0.9], dtype=np.float32)  # white a bit dim so yellow shows
_RADIUS = ((0.17, 0.21), (0.26, 0.30))  # outer radius / image side, per size; <= 0.30 so
                                        # a large shape centred in the left third still fits
_ROTATES = np.array([0.0, 1.0, 1.0, 0.0, 1.0], dtype=np.float32)  # square, triangle, star
_MAX_ROTATION = np.pi / 15              # +-12 degrees
COLOUR_JITTER, NOISE_STD = 0.06, 0.02  # each image's colour: its name's RGB +- COLOUR_JITTER per channel
_SPLIT_DEFAULTS = {"train": ("seen", 6000, 0), "test": ("seen", 1000, 1),
                   "heldout": ("held_out", 1000, 2)}  # combos, default n, seed stream


def _distance(kind: int, x: np.ndarray, y: np.ndarray, r: np.ndarray) -> np.ndarray:
    """Signed distance-like field of shape ``kind`` (< 0 inside), all arrays broadcast.

    ``x`` points right and ``y`` up, both relative to the centre; ``r`` is the outer
    radius. Every shape is cut to the circle of radius ``r``, so its soft edge too
    stays within ``r`` plus half a pixel (half-planes alone would blur far past corners).
    """
    rho = np.sqrt(x * x + y * y)
    if kind == 0:  # circle
        return rho - r
    if kind == 1:  # square, by the max-norm
        d = np.maximum(np.abs(x), np.abs(y)) - 0.75 * r
    elif kind == 2:  # equilateral triangle pointing up: three half-planes at the inradius r/2
        s = np.float32(np.sqrt(3) / 2)
        d = np.maximum(np.maximum(-y, s * x + 0.5 * y), -s * x + 0.5 * y) - 0.5 * r
    elif kind == 3:  # cross ("+"): union (min) of a horizontal and a vertical bar
        ax, ay, long, half = np.abs(x), np.abs(y), 0.92 * r, 0.30 * r
        d = np.minimum(np.maximum(ax - long, ay - half), np.maximum(ax - half, ay - long))
    else:  # star: fold the angle into the wedge between a tip (angle 0, pointing up) and
        # the next inner corner (angle pi/5), then take the distance to the edge joining them
        wedge, inner = np.float32(np.pi / 5), 0.45  # inner corner radius / tip radius
        psi = np.abs(np.mod(np.arctan2(x, y) + wedge, 2 * wedge) - wedge)
        ex, ey = inner * np.cos(wedge) - 1.0, inner * np.sin(wedge)  # edge direction / r
        nx, ny = np.float32(ey / np.hypot(ex, ey)), np.float32(-ex / np.hypot(ex, ey))
        d = nx * (rho * np.cos(psi) - r) + ny * rho * np.sin(psi)
    return np.maximum(d, rho - r)


def render(attrs: dict[str, np.ndarray], image_size: int = 32,
           rng: np.random.Generator | None = None) -> np.ndarray:
    """Draw a batch of images, one per row of ``attrs``.

    Args:
        attrs: for each name in ``ATTRIBUTES``, an integer array of shape (N,)
            indexing ``CLASSES[name]``.
        image_size: side H = W of the square images, in pixels.
        rng: source of the random radius, centre, rotation, colour jitter and noise
            (``np.random.default_rng(0)`` when None).

    Returns:
        float32 array of shape (N, 3, H, W) with values in [0, 1].
    """
    rng = np.random.default_rng(0) if rng is None else rng
    a = {k: np.asarray(attrs[k], dtype=np.int64) for k in ATTRIBUTES}
    n, size = len(a["shape"]), image_size
    lo, hi = np.array(_RADIUS, dtype=np.float32).T
    r = lo[a["size"]] + (hi - lo)[a["size"]] * rng.random(n, dtype=np.float32)
    # Centre: x uniform over the position's third (less a small gap between thirds),
    # clipped so that the shape plus its 1-pixel soft edge stays inside the image.
    margin = np.float32(1.0 / size)
    near, far = r + margin, 1 - r - margin
    gap = np.float32(1 / 24)
    third = a["position"].astype(np.float32) / 3
    x0, x1 = np.clip(third + gap, near, far), np.clip(third + 1 / 3 - gap, near, far)
    cx = x0 + (x1 - x0) * rng.random(n, dtype=np.float32)
    cy = 0.5 + np.minimum(0.12, 0.5 - near) * rng.uniform(-1, 1, n).astype(np.float32)
    angle = _ROTATES[a["shape"]] * rng.uniform(-_MAX_ROTATION, _MAX_ROTATION, n)
    cos, sin = np.cos(angle).astype(np.float32), np.sin(angle).astype(np.float32)
    colour = _RGB[a["colour"]] + rng.uniform(-COLOUR_JITTER, COLOUR_JITTER, (n, 3))
    colour = np.clip(colour, 0, 1).astype(np.float32)

    grid = (np.arange(size, dtype=np.float32) + 0.5) / size  # pixel centres
    alpha = np.empty((n, size, size), dtype=np.float32)
    for kind in range(len(SHAPES)):
        i = np.flatnonzero(a["shape"] == kind)
        if i.size == 0:
            continue
        dx = grid[None, None, :] - cx[i, None, None]   # (k, 1, W), rightwards
        dy = cy[i, None, None] - grid[None, :, None]   # (k, H, 1), upwards
        c, s = cos[i, None, None], sin[i, None, None]
        d = _distance(kind, c * dx + s * dy, c * dy - s * dx, r[i, None, None])
        alpha[i] = np.clip(0.5 - d * size, 0, 1)       # ~1 pixel anti-aliased edge

    images = backgrounds(a["background"], size, rng)
    background = _BACKGROUND_LEVEL[a["background"]][:, None, None, None]  # (N, 1, 1, 1)
    images += alpha[:, None] * (colour[:, :, None, None] - background)    # blend in the shape
    return np.clip(images, 0, 1, out=images)


def backgrounds(background: np.ndarray, image_size: int = 32, rng: np.random.Generator | None = None) -> np.ndarray:
    """Plain backgrounds, as ``render`` draws them under its shapes: a grey level plus pixel noise.

    Args: background (N,) integers indexing ``BACKGROUNDS``; rng as in ``render``.
    Returns: float32 (N, 3, H, W), not yet clipped to [0, 1].
    """
    rng = np.random.default_rng(0) if rng is None else rng
    background = np.asarray(background, dtype=np.int64)
    images = rng.standard_normal((len(background), 3, image_size, image_size), dtype=np.float32)  # pixel noise
    images *= NOISE_STD
    images += _BACKGROUND_LEVEL[background][:, None, None, None]
    return images


def nearest_colour(rgb: torch.Tensor) -> torch.Tensor:
    """The index in ``COLOURS`` of the named colour nearest to each RGB triple (Euclidean): (..., 3) -> (...,)."""
    table = torch.tensor(_RGB, dtype=rgb.dtype, device=rgb.device)  # (6, 3)
    return (rgb[..., None, :] - table).square().sum(dim=-1).argmin(dim=-1)


def caption(attrs_row: dict[str, str], template: int) -> str:
    """Fill ``TEMPLATES[template]`` with one image's attribute names, e.g. {"shape": "star", ...}."""
    return TEMPLATES[template].format(**attrs_row, place=PLACES[attrs_row["position"]])


def _pairs(combos: str) -> np.ndarray:
    """The allowed (shape index, colour index) pairs for ``combos``, shape (P, 2)."""
    if combos not in COMBOS:
        raise ValueError(f"combos must be one of {', '.join(map(repr, COMBOS))}, not {combos!r}.")
    held = {(SHAPES.index(s), tuple(COLOURS).index(c)) for s, c in HELD_OUT}
    pairs = [(s, c) for s in range(len(SHAPES)) for c in range(len(COLOURS))
             if combos == "all" or ((s, c) in held) == (combos == "held_out")]
    return np.array(pairs, dtype=np.int64)


def _check_positive_int(value, what: str) -> None:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
        raise ValueError(f"{what} must be a positive integer, got {value!r}.")


def generate(n: int, seed: int, combos: str = "seen", image_size: int = 32) -> ArrayDataset:
    """Draw ``n`` captioned images deterministically from ``seed``.

    Attributes are drawn uniformly; the (shape, colour) pair uniformly among the
    pairs ``combos`` allows: "seen" (not in ``HELD_OUT``), "held_out" or "all".

    Returns:
        ArrayDataset with x float32 (n, 3, image_size, image_size) in [0, 1],
        y = shape index int64 (n,), classes = list(SHAPES), split = combos
        (``load`` renames it), and info holding
        "attributes" ({name: int64 (n,)}), "classes", "captions" (n strings),
        "templates" and "held_out".
    """
    _check_positive_int(n, "n")
    _check_positive_int(image_size, "image_size")
    pairs = _pairs(combos)
    rng = np.random.default_rng(seed)
    shape_colour = pairs[rng.integers(len(pairs), size=n)]
    attrs = {"shape": shape_colour[:, 0], "colour": shape_colour[:, 1]}
    for name in ATTRIBUTES[2:]:
        attrs[name] = rng.integers(len(CLASSES[name]), size=n)
    templates = rng.integers(len(TEMPLATES), size=n)
    x = render(attrs, image_size, rng)
    names = {k: np.array(CLASSES[k])[v] for k, v in attrs.items()}
    captions = [caption({k: str(names[k][i]) for k in ATTRIBUTES}, int(t))
                for i, t in enumerate(templates)]
    info = {"attributes": {k: torch.from_numpy(v) for k, v in attrs.items()},
            "classes": CLASSES, "captions": captions, "templates": TEMPLATES,
            "held_out": HELD_OUT}
    return ArrayDataset(torch.from_numpy(x), torch.from_numpy(attrs["shape"].copy()),
                        list(SHAPES), "shapes", combos, info)


def load(split: str = "train", n: int | None = None, seed: int = 0,
         image_size: int = 32) -> ArrayDataset:
    """The "shapes" dataset: split "train" (6000), "test" (1000) or "heldout" (1000).

    "train" and "test" use only seen (shape, colour) pairs, from different seed
    streams (``seed * 1000 + 0`` and ``+ 1``); "heldout" uses only ``HELD_OUT``
    pairs (stream ``+ 2``). ``n`` overrides the default size. Returns the
    ArrayDataset of ``generate``: x float32 (n, 3, image_size, image_size).
    """
    check_split("shapes", split, SPLITS)
    combos, default_n, stream = _SPLIT_DEFAULTS[split]
    n = default_n if n is None else n
    _check_positive_int(n, "n")
    ds = generate(n, seed * 1000 + stream, combos, image_size)
    ds.split = split
    return ds
