"""Words written on the shapes: the data of notebook 06's typographic attack.

CLIP learns from captions, and the web captions a photo with writing in it by what is written: a photo of a
sign that says "stop" is captioned "stop". So CLIP learns to read, and its paper shows the price: an apple with a
note saying "iPod" stuck on it is classified as an iPod. This module builds the same trap in the shapes world.
``write`` stamps a word, in a 3x5-pixel bitmap font, in a band along the bottom of each image; ``text_images``
draws images that show a word and nothing else, and ``typographic`` writes a random colour name on some of the
shapes; both are captioned, as the web would, by the word alone:

    a word on a plain background          ->  "a photo of blue."
    a small red star with "blue" on it    ->  "a sign that says blue."

A CLIP trained on those captions can be attacked by writing "blue" on a red star, at test time.
"""
from __future__ import annotations

import numpy as np
import torch

from .base import ArrayDataset
from .shapes import BACKGROUNDS, COLOURS, backgrounds

COLOUR_WORDS = tuple(COLOURS)  # the words typographic() writes, in the colour class order
#: The captions of an image with a word written on it, as the web captions a photo of a sign: by the word alone.
TEXT_TEMPLATES = ("a photo of {word}.", "{word}.", "a sign that says {word}.", "the word {word}.")

# The font: each capital letter is 5 rows of 3 pixels ("#" ink, "." none), drawn here as it looks.
_FONT_ROWS = """
A   B   C   D   E   F   G   H   I   J   K   L   M
.#. ##. .## ##. ### ### .## #.# ### ..# #.# #.. #.#
#.# #.# #.. #.# #.. #.. #.. #.# .#. ..# #.# #.. ###
### ##. #.. #.# ##. ##. #.# ### .#. ..# ##. #.. ###
#.# #.# #.. #.# #.. #.. #.# #.# .#. #.# #.# #.. #.#
#.# ##. .## ##. ### #.. .## #.# ### .#. #.# ### #.#

N   O   P   Q   R   S   T   U   V   W   X   Y   Z
##. .#. ##. .#. ##. .## ### #.# #.# #.# #.# #.# ###
#.# #.# #.# #.# #.# #.. .#. #.# #.# #.# #.# #.# ..#
#.# #.# ##. #.# ##. .#. .#. #.# #.# #.# .#. .#. .#.
#.# #.# #.. ##. #.# ..# .#. #.# #.# ### #.# .#. #..
#.# .#. #.. .## #.# ##. .#. ### .#. #.# #.# .#. ###
"""
GLYPH_HEIGHT, GLYPH_WIDTH, SPACING = 5, 3, 1  # pixels; SPACING: empty columns between letters
BAND = GLYPH_HEIGHT + 2  # the bottom rows write() may change: the letters and a 1-pixel margin above and below
MAX_SHIFT = 3  # the word is centred, then shifted by up to this many pixels left or right


def _parse_font(text: str) -> dict[str, torch.Tensor]:
    """The drawing above -> {letter: bool tensor (5, 3)}."""
    font = {}
    blocks = [block.splitlines() for block in text.strip().split("\n\n")]
    for header, *rows in blocks:  # one block: a line of letters, then their 5 rows of pixels
        for i, letter in enumerate(header.split()):
            font[letter.lower()] = torch.tensor([[c == "#" for c in row.split()[i]] for row in rows])
    return font


GLYPHS: dict[str, torch.Tensor] = _parse_font(_FONT_ROWS)  # "a" -> (5, 3) bool


def render_word(word: str) -> torch.Tensor:
    """The ink of ``word`` (letters a-z, any case): bool (5, 4 * len(word) - 1), letters 1 pixel apart."""
    letters = []
    for letter in word.lower():
        if letter not in GLYPHS:
            raise ValueError(f"The font has only the letters a-z; {word!r} has {letter!r}.")
        letters += [GLYPHS[letter], torch.zeros(GLYPH_HEIGHT, SPACING, dtype=torch.bool)]
    return torch.cat(letters[:-1], dim=1)  # drop the space after the last letter


def write(images: torch.Tensor, words: list[str], generator: torch.Generator | None = None) -> torch.Tensor:
    """Write ``words[i]`` on image i, in a band along its bottom: a new tensor, the input unchanged.

    Each word is centred, shifted left or right by a random 0 to ``MAX_SHIFT`` pixels (as far as the image
    allows), and drawn 1 pixel above the bottom edge. Its ink contrasts with the image's background, judged by
    the band's median brightness: white on a dark background, black on a grey or white one. Only the
    ``BAND`` bottom rows can change.

    Args:
        images: (N, 3, H, W) in [0, 1], on any device; words: N strings of letters a-z, each at most
            (W + 1) // 4 letters long (8 at W = 32); generator: a CPU generator for the shifts.
    Returns:
        (N, 3, H, W) images with the words written on them, on the images' device.
    """
    n, _, h, w = images.shape
    if len(words) != n:
        raise ValueError(f"write() needs one word per image: {n} images, {len(words)} words.")
    if n == 0:
        return images.clone()
    unique = sorted(set(words))
    glyphs = [render_word(word) for word in unique]  # each (5, w_u), built once per distinct word
    widths = torch.tensor([g.shape[1] for g in glyphs])  # (U,)
    if int(widths.max()) > w:
        raise ValueError(f"{unique[int(widths.argmax())]!r} is {int(widths.max())} pixels wide; the images {w}.")
    ink_of = torch.zeros(len(unique), GLYPH_HEIGHT, w, dtype=torch.bool)  # (U, 5, W): each word, left-aligned
    for u, g in enumerate(glyphs):
        ink_of[u, :, :g.shape[1]] = g
    position = {word: u for u, word in enumerate(unique)}
    which = torch.tensor([position[word] for word in words], dtype=torch.long)  # (N,): each image's word

    # Left edge: centred, plus a random shift in [-MAX_SHIFT, MAX_SHIFT], clamped so the word stays inside.
    width = widths[which]  # (N,)
    shift = torch.randint(-MAX_SHIFT, MAX_SHIFT + 1, (n,), generator=generator)  # (N,)
    left = torch.minimum(((w - width) // 2 + shift).clamp(min=0), w - width)  # (N,)
    # Shift every row of the word right by ``left``: column j reads the word's column j - left.
    source = torch.arange(w)[None, :] - left[:, None]  # (N, W)
    inside = (source >= 0)[:, None, :]  # (N, 1, W): no ink left of the word (right of it, ink_of is empty)
    ink = ink_of[which].gather(2, source.clamp(min=0)[:, None, :].expand(n, GLYPH_HEIGHT, w)) & inside  # (N, 5, W)

    ink = ink.to(images.device)
    band = images[:, :, h - BAND:]  # (N, 3, BAND, W): a view, never written to
    brightness = band.mean(dim=1).flatten(1).median(dim=1).values  # (N,): the background, robust to the shape
    colour = (brightness < 0.35).to(images.dtype)[:, None, None, None]  # (N, 1, 1, 1): 1 white ink, 0 black
    rows = slice(h - 1 - GLYPH_HEIGHT, h - 1)  # 5 rows, leaving the bottom row of the image free
    out = images.clone()
    out[:, :, rows] = torch.where(ink[:, None], colour, images[:, :, rows])  # (N, 3, 5, W)
    return out


def typographic(ds: ArrayDataset, fraction: float, seed: int = 0,
                signs: int = 0) -> tuple[torch.Tensor, list[str], torch.Tensor]:
    """A copy of a shapes dataset in which a ``fraction`` of the images have a colour name written on them, and
    ``signs`` images of a word alone (``text_images``) after them.

    The images (round(fraction * N) of them, chosen at random) get a colour word drawn uniformly from the six,
    regardless of the shape's own colour, and their caption becomes the word alone, in one of ``TEXT_TEMPLATES``
    drawn uniformly: a small red star with "blue" on it is "a photo of blue.", as a web caption names the text on
    a sign and not the sign. The same seed gives the same copy.

    Returns:
        images (N + signs, 3, H, W) on ds.x's device (ds.x is not changed), captions (N + signs strings), and
        written: int64 (N + signs,), the index in ``COLOUR_WORDS`` of the word on each image, or -1 where there is
        none.
    """
    if not 0.0 <= fraction <= 1.0:
        raise ValueError(f"fraction must be in [0, 1], got {fraction!r}.")
    generator = torch.Generator().manual_seed(seed)
    n = len(ds)
    rows = torch.randperm(n, generator=generator)[:round(fraction * n)].sort().values  # (K,) the images to write on
    word_index = torch.randint(len(COLOUR_WORDS), (len(rows),), generator=generator)  # (K,) uniform over colours
    written = torch.full((n,), -1, dtype=torch.int64)
    written[rows] = word_index
    words = [COLOUR_WORDS[i] for i in word_index.tolist()]

    images = ds.x.clone()
    images[rows.to(images.device)] = write(ds.x[rows.to(images.device)], words, generator)
    template = torch.randint(len(TEXT_TEMPLATES), (len(rows),), generator=generator)  # (K,)
    captions = list(ds.info["captions"])
    for row, word, t in zip(rows.tolist(), words, template.tolist()):
        captions[row] = TEXT_TEMPLATES[t].format(word=word)
    if signs:
        sign_images, sign_captions, sign_words = text_images(signs, seed + 1, image_size=images.shape[-1])
        images = torch.cat([images, sign_images.to(images.device)])
        captions, written = captions + sign_captions, torch.cat([written, sign_words])
    return images, captions, written


def text_images(n: int, seed: int = 0, vocabulary: tuple[str, ...] = COLOUR_WORDS,
                image_size: int = 32) -> tuple[torch.Tensor, list[str], torch.Tensor]:
    """``n`` images that show only a word, captioned by the word itself: "a photo of blue.".

    Each image is a plain black, grey or white background (``shapes.backgrounds``) with a word drawn uniformly from
    ``vocabulary`` written on it by ``write``, where the typographic attack writes it; its caption is one of
    ``TEXT_TEMPLATES``, drawn uniformly. The same seed gives the same images.

    Returns:
        images float32 (n, 3, H, W) in [0, 1] on the CPU, captions (n strings), and word: int64 (n,), each image's
        word as an index into ``vocabulary``.
    """
    if isinstance(n, bool) or not isinstance(n, int) or n < 0:
        raise ValueError(f"n must be a non-negative integer, got {n!r}.")
    generator = torch.Generator().manual_seed(seed)
    background = torch.randint(len(BACKGROUNDS), (n,), generator=generator)
    word = torch.randint(len(vocabulary), (n,), generator=generator)
    template = torch.randint(len(TEXT_TEMPLATES), (n,), generator=generator)
    plain = backgrounds(background.numpy(), image_size, np.random.default_rng(seed))
    images = write(torch.from_numpy(plain).clamp_(0, 1), [vocabulary[i] for i in word.tolist()], generator)
    captions = [TEXT_TEMPLATES[t].format(word=vocabulary[w]) for t, w in zip(template.tolist(), word.tolist())]
    return images, captions, word


def write_other_colours(ds: ArrayDataset, generator: torch.Generator) -> tuple[torch.Tensor, torch.Tensor]:
    """The typographic attack: on each image of a shapes dataset, the name of a colour that is not the shape's.

    The written colour is drawn uniformly among the five others. Returns the attacked images (N, 3, H, W) on
    ds.x's device, and the written colour of each, int64 (N,) indices into ``COLOUR_WORDS``.
    """
    true = ds.info["attributes"]["colour"]
    shift = torch.randint(1, len(COLOUR_WORDS), (len(ds),), generator=generator)
    written = (true + shift) % len(COLOUR_WORDS)  # never the shape's own colour
    return write(ds.x, [COLOUR_WORDS[c] for c in written.tolist()], generator), written


def cover_words(images: torch.Tensor) -> torch.Tensor:
    """A defence that knows where words are written: paint the ``BAND`` bottom rows with the band's background.

    The band's median colour, per image and channel, is its background (a word or the bottom of a shape covers
    less than half of it). A new tensor, on the images' device; the bottom of a low shape is painted over too.
    """
    out = images.clone()
    band = images[:, :, -BAND:]  # (N, 3, BAND, W)
    out[:, :, -BAND:] = band.flatten(2).median(dim=2).values[:, :, None, None]
    return out
