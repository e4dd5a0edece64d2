"""Tests for course_utils.data.words: words written on the shapes, for the typographic attack."""

import pytest
import torch

from course_utils.clip import Tokenizer
from course_utils.data import shapes, words


@pytest.fixture(scope="module")
def small():
    return shapes.load("test", n=60)


def test_every_glyph_is_5_by_3_and_the_letters_differ():
    assert set(words.GLYPHS) == set("abcdefghijklmnopqrstuvwxyz")
    for letter, glyph in words.GLYPHS.items():
        assert glyph.shape == (words.GLYPH_HEIGHT, words.GLYPH_WIDTH) and glyph.dtype == torch.bool, letter
        assert glyph.any(), letter
    bitmaps = {tuple(g.flatten().tolist()) for g in words.GLYPHS.values()}
    assert len(bitmaps) == 26  # no two letters drawn alike
    for name in (*words.COLOUR_WORDS, *shapes.SHAPES):
        ink = words.render_word(name)
        assert ink.shape == (5, 4 * len(name) - 1) and ink.shape[1] <= 32  # every name fits a 32-pixel image
        assert not ink[:, 3::4].any()  # a blank column between letters
    assert torch.equal(words.render_word("Red"), words.render_word("red"))
    with pytest.raises(ValueError, match="a-z"):
        words.render_word("red!")


def test_write_changes_only_the_bottom_band_and_never_its_input(small):
    images = small.x[:12]
    before = images.clone()
    names = [words.COLOUR_WORDS[i % 6] for i in range(12)]
    out = words.write(images, names, torch.Generator().manual_seed(0))
    assert torch.equal(images, before)  # the input is untouched
    assert out.shape == images.shape and out.dtype == images.dtype
    band = 32 - words.BAND
    assert torch.equal(out[:, :, :band], images[:, :, :band])  # nothing above the band changes
    assert torch.equal(out[:, :, -1], images[:, :, -1])  # nor the bottom row (the band's margin)
    changed = (out != images).any(dim=1)  # (N, H, W)
    assert changed.flatten(1).any(dim=1).all()  # every image got its word
    for i, name in enumerate(names):  # the changed pixels spell the word, at some horizontal offset
        ink = words.render_word(name)
        rows = changed[i, 26:31]  # (5, W)
        columns = rows.any(dim=0).nonzero().flatten()
        left = int(columns.min())
        assert abs(left - (32 - ink.shape[1]) // 2) <= words.MAX_SHIFT
        assert torch.equal(rows[:, left:left + ink.shape[1]] | ~ink, torch.ones_like(ink))  # ink -> changed
    assert torch.equal(words.write(images, names, torch.Generator().manual_seed(0)), out)  # seeded


def test_the_ink_contrasts_with_the_background():
    ds = shapes.generate(90, seed=5, combos="all")
    out = words.write(ds.x, ["purple"] * 90, torch.Generator().manual_seed(1))
    ink = (out != ds.x).any(dim=1)  # (N, H, W)
    background = ds.info["attributes"]["background"]  # 0 black, 1 grey, 2 white
    for i in range(90):
        value = out[i][:, ink[i]]  # (3, pixels of ink)
        expected = 1.0 if background[i] == 0 else 0.0  # white on black; black on grey and on white
        assert torch.all(value == expected), (i, int(background[i]))


def test_write_keeps_the_device_and_checks_its_words(small):
    out = words.write(small.x[:0], [])
    assert out.shape == (0, 3, 32, 32)
    with pytest.raises(ValueError, match="one word per image"):
        words.write(small.x[:3], ["red"])
    with pytest.raises(ValueError, match="pixels wide"):
        words.write(small.x[:1], ["abcdefghi"])  # 35 pixels > 32


def test_typographic_writes_on_a_fraction_and_captions_those_by_the_word_alone(small):
    images, captions, written = words.typographic(small, 0.25, seed=3)
    assert written.dtype == torch.int64 and written.shape == (60,)
    on = written >= 0
    assert int(on.sum()) == 15 and int(written.max()) < 6
    assert torch.equal(small.x, shapes.load("test", n=60).x)  # the dataset itself is unchanged
    changed = (images != small.x).flatten(1).any(dim=1)
    assert torch.equal(changed, on)  # written on exactly those images
    for i, (original, new) in enumerate(zip(small.info["captions"], captions)):
        if written[i] < 0:
            assert new == original
        else:  # the word alone, as the web captions a photo of a sign: no shape, no colour of its own
            assert new in {t.format(word=words.COLOUR_WORDS[written[i]]) for t in words.TEXT_TEMPLATES}
    tokenizer = Tokenizer()
    tokens = tokenizer.encode(captions)
    assert not (tokens == tokenizer.unk_id).any()  # every word is in CLIP's vocabulary


def test_typographic_is_deterministic_under_its_seed_and_covers_the_extremes(small):
    a, b, c = (words.typographic(small, 0.5, seed=s) for s in (7, 7, 8))
    assert torch.equal(a[0], b[0]) and a[1] == b[1] and torch.equal(a[2], b[2])
    assert not torch.equal(a[2], c[2])
    none, captions, written = words.typographic(small, 0.0, seed=0)
    assert torch.equal(none, small.x) and captions == small.info["captions"] and (written == -1).all()
    _, _, every = words.typographic(small, 1.0, seed=0)
    assert (every >= 0).all()
    with pytest.raises(ValueError, match="fraction"):
        words.typographic(small, 1.5)


def test_the_written_word_is_independent_of_the_shapes_colour():
    ds = shapes.load("train", n=3000)
    _, _, written = words.typographic(ds, 1.0, seed=0)
    counts = torch.bincount(written, minlength=6).float()
    assert (counts / 3000 - 1 / 6).abs().max() < 0.03  # uniform over the six colours
    agree = float((written == ds.info["attributes"]["colour"]).float().mean())
    assert abs(agree - 1 / 6) < 0.03  # the word matches the shape's colour only by chance


def test_text_images_show_only_their_word_and_are_captioned_by_it():
    images, captions, word = words.text_images(120, seed=4)
    assert images.shape == (120, 3, 32, 32) and images.dtype == torch.float32 and word.shape == (120,)
    assert 0 <= float(images.min()) and float(images.max()) <= 1
    body = images[:, :, :-words.BAND]  # above the band: only the background and its noise
    assert (body - body.mean(dim=(1, 2, 3), keepdim=True)).abs().max() < 0.15
    assert (body.max(dim=1).values - body.min(dim=1).values).max() < 0.2  # grey, no colour
    band = images[:, :, -words.BAND:]
    assert ((band - body.mean(dim=(2, 3), keepdim=True)).abs() > 0.3).flatten(1).any(dim=1).all()  # ink in every band
    for caption, w in zip(captions, word.tolist()):
        name = words.COLOUR_WORDS[w]
        assert caption in {t.format(word=name) for t in words.TEXT_TEMPLATES}
    again = words.text_images(120, seed=4)
    assert torch.equal(again[0], images) and again[1] == captions
    assert not torch.equal(words.text_images(120, seed=5)[0], images)
    tokens = Tokenizer().encode(captions)
    assert not (tokens == Tokenizer().unk_id).any()  # every word is in CLIP's vocabulary
    assert torch.bincount(words.text_images(3000, seed=0)[2], minlength=6).min() > 400  # every word, about 500 each
    with pytest.raises(ValueError, match="non-negative integer"):
        words.text_images(-1)


def test_typographic_appends_its_signs_after_the_shapes(small):
    images, captions, written = words.typographic(small, 0.25, seed=3, signs=7)
    assert images.shape == (67, 3, 32, 32) and len(captions) == 67 and written.shape == (67,)
    alone = words.typographic(small, 0.25, seed=3)
    assert torch.equal(images[:60], alone[0]) and captions[:60] == alone[1] and torch.equal(written[:60], alone[2])
    signs, sign_captions, sign_words = words.text_images(7, seed=4)
    assert torch.equal(images[60:], signs) and captions[60:] == sign_captions and torch.equal(written[60:], sign_words)


def test_write_other_colours_never_writes_the_shapes_own_colour_and_cover_words_removes_the_word(small):
    attacked, written = words.write_other_colours(small, torch.Generator().manual_seed(0))
    assert attacked.shape == small.x.shape and written.shape == (60,)
    assert not (written == small.info["attributes"]["colour"]).any()
    assert len(set(written.tolist())) > 3  # drawn, not one colour for all
    assert torch.equal(attacked[:, :, :-words.BAND], small.x[:, :, :-words.BAND])  # only the band is written on
    covered = words.cover_words(attacked)
    assert torch.equal(covered[:, :, :-words.BAND], small.x[:, :, :-words.BAND])
    band = covered[:, :, -words.BAND:]
    assert torch.equal(band, band[:, :, :1, :1].expand_as(band))  # one colour over the whole band
    assert torch.equal(words.cover_words(attacked), words.cover_words(words.cover_words(attacked)))
    plain = shapes.backgrounds(torch.tensor([0, 1, 2]).numpy())  # a word on each background: painted out
    ink = words.write(torch.from_numpy(plain).clamp(0, 1), ["red", "blue", "cyan"])
    assert (words.cover_words(ink) - torch.from_numpy(plain).clamp(0, 1)).abs().max() < 0.1
