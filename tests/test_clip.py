"""Notebook 06's CLIP module: tokenizer, encoders, the loss against a loop version, zero-shot, retrieval, training."""
from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F

from course_utils import data
from course_utils.clip import (CLIP, TEXT_TEMPLATES, CLIPConfig, Tokenizer, clip_loss, embed_images, embed_texts,
                               recall_at_k, top_k_accuracy, train_clip, training_batches, warmup_cosine,
                               zero_shot_classifier, zero_shot_predict)
from course_utils.recolour import HUE_ANGLES, ROTATIONS, SAFE_ROTATIONS, caption_pairs, recolour, turn_hue
from course_utils.data.shapes import CLASSES, COLOUR_JITTER, COLOURS, HELD_OUT, NOISE_STD, PROMPTS, nearest_colour
from course_utils.data.words import BAND, text_images, typographic

torch.set_num_threads(1)
TINY = CLIPConfig(embed_dim=16, image_width=8, image_features=32, text_width=32, text_layers=1, text_heads=2,
                  batch_size=32, steps=40, warmup_steps=5)


def tiny_model(seed: int = 0) -> tuple[CLIP, Tokenizer]:
    torch.manual_seed(seed)
    tokenizer = Tokenizer()
    return CLIP(TINY, len(tokenizer), tokenizer.eot_id).eval(), tokenizer


# ---------------------------------------------------------------- tokenizer

def test_tokenizer_round_trips_every_caption_template_and_pads_after_eot():
    tokenizer = Tokenizer()
    captions = data.load("shapes", "test", n=60).info["captions"]
    tokens = tokenizer.encode(captions, context_length=16)
    assert tokens.shape == (60, 16) and tokens.dtype == torch.long
    assert tokenizer.decode(tokens) == captions
    assert (tokens[:, 0] == tokenizer.sot_id).all() and (tokens == tokenizer.unk_id).sum() == 0
    eot = (tokens == tokenizer.eot_id).int().argmax(dim=1)  # (B,)
    assert ((tokens == tokenizer.eot_id).sum(dim=1) == 1).all()  # exactly one <eot> per caption
    after = torch.arange(16)[None, :] > eot[:, None]
    assert (tokens[after] == tokenizer.pad_id).all() and (tokens[~after] != tokenizer.pad_id).all()


def test_tokenizer_lowercases_splits_punctuation_and_maps_unknown_words_to_unk():
    tokenizer = Tokenizer()
    assert Tokenizer.split("A Red star, LEFT.") == ["a", "red", "star", ",", "left", "."]
    tokens = tokenizer.encode("A RED zebra.", context_length=8)  # one text -> (1, T)
    assert tokens.shape == (1, 8)
    ids = [tokenizer.sot_id, tokenizer.index["a"], tokenizer.index["red"], tokenizer.unk_id, tokenizer.index["."],
           tokenizer.eot_id, tokenizer.pad_id, tokenizer.pad_id]
    assert tokens[0].tolist() == ids
    assert tokenizer.vocabulary[:4] == ["<pad>", "<sot>", "<eot>", "<unk>"]
    assert all(name in tokenizer.index for names in CLASSES.values() for name in names)


def test_tokenizer_truncates_long_texts_but_keeps_their_eot():
    tokenizer = Tokenizer()
    tokens = tokenizer.encode(["there is a red star on the left of the image."], context_length=6)
    assert tokenizer.decode(tokens) == ["there is a red"]
    assert tokens[0, -1] == tokenizer.eot_id and tokens[0, 0] == tokenizer.sot_id


def test_tokenizer_knows_the_captions_of_written_words_and_takes_extra_words():
    tokenizer = Tokenizer()
    for template in TEXT_TEMPLATES:
        text = template.format(word="blue")
        assert tokenizer.decode(tokenizer.encode([text])) == [text]
        assert tokenizer.unk_id not in tokenizer.encode([text])
    bigger = Tokenizer(words=["ipod", "an apple"])
    assert len(bigger) == len(tokenizer) + 3 and "apple" in bigger.index
    assert Tokenizer(words="ipod").vocabulary == Tokenizer(words=["ipod"]).vocabulary  # a word, not its letters
    assert bigger.encode(["an ipod"])[0, 1:3].tolist() == [bigger.index["an"], bigger.index["ipod"]]


# ---------------------------------------------------------------- model

def test_encoders_give_unit_embeddings_of_the_joint_size_and_the_scale_starts_at_one_over_0_07():
    model, tokenizer = tiny_model()
    images = torch.rand(5, 3, 32, 32)
    tokens = tokenizer.encode(["a red star.", "a small blue circle.", "a cross."], TINY.context_length)
    assert model.encode_image(images).shape == (5, 16) and model.encode_text(tokens).shape == (3, 16)
    image_features, text_features, logit_scale = model(images, tokens)
    assert image_features.shape == (5, 16) and text_features.shape == (3, 16)
    assert torch.allclose(image_features.norm(dim=1), torch.ones(5), atol=1e-5)
    assert torch.allclose(text_features.norm(dim=1), torch.ones(3), atol=1e-5)
    assert logit_scale.shape == () and float(logit_scale.detach()) == pytest.approx(1 / 0.07, rel=1e-5)
    assert float(model.logit_scale.detach()) == pytest.approx(math.log(1 / 0.07), rel=1e-6)  # stored as a log


def test_logit_scale_is_clamped_at_100():
    model, tokenizer = tiny_model()
    with torch.no_grad():
        model.logit_scale.fill_(math.log(1000.0))
    _, _, logit_scale = model(torch.rand(2, 3, 32, 32), tokenizer.encode(["a star.", "a cross."], TINY.context_length))
    assert float(logit_scale.detach()) == pytest.approx(100.0)


def test_text_embedding_is_read_at_eot_and_ignores_what_follows_it():
    model, tokenizer = tiny_model()
    tokens = tokenizer.encode(["a red star.", "a large green cross on the left."], TINY.context_length)
    noisy = tokens.clone()
    after = torch.arange(TINY.context_length)[None, :] > (tokens == tokenizer.eot_id).int().argmax(dim=1)[:, None]
    noisy[after] = torch.randint(4, len(tokenizer), (int(after.sum()),), generator=torch.Generator().manual_seed(0))
    assert torch.allclose(model.encode_text(noisy), model.encode_text(tokens), atol=1e-5)  # causal mask: no peeking
    changed = tokens.clone()
    changed[0, 2] = tokenizer.index["blue"]  # a word before <eot> does change it
    assert not torch.allclose(model.encode_text(changed)[0], model.encode_text(tokens)[0], atol=1e-4)


# ---------------------------------------------------------------- the loss

def clip_loss_loops(image_features: torch.Tensor, text_features: torch.Tensor, logit_scale: float) -> torch.Tensor:
    """The paper's Figure 3 term by term: for each image, -log softmax over the captions at its own, and back."""
    n = len(image_features)
    s = [[logit_scale * torch.dot(image_features[i], text_features[j]) for j in range(n)] for i in range(n)]
    images_to_texts = sum(-torch.log(torch.exp(s[i][i]) / sum(torch.exp(s[i][j]) for j in range(n))) for i in range(n))
    texts_to_images = sum(-torch.log(torch.exp(s[j][j]) / sum(torch.exp(s[i][j]) for i in range(n))) for j in range(n))
    return (images_to_texts / n + texts_to_images / n) / 2


def unit_pairs(n: int = 8, d: int = 5, seed: int = 0, noise: float | None = None) -> tuple[torch.Tensor, torch.Tensor]:
    """(N, D) unit image and text features: independent, or the texts = the images plus noise, renormalised."""
    g = torch.Generator().manual_seed(seed)
    i = torch.randn(n, d, generator=g)
    t = torch.randn(n, d, generator=g) if noise is None else i + noise * torch.randn(n, d, generator=g)
    return F.normalize(i, dim=1), F.normalize(t, dim=1)


@pytest.mark.parametrize("n, d, scale, seed", [(1, 3, 14.3, 0), (4, 5, 1.0, 1), (7, 16, 100.0, 2), (10, 4, 30.0, 3)])
def test_clip_loss_matches_the_loop_version(n, d, scale, seed):
    i, t = unit_pairs(n, d, seed)
    loss = clip_loss(i, t, torch.tensor(scale))
    assert loss.shape == ()
    assert math.isclose(float(loss), float(clip_loss_loops(i.double(), t.double(), scale)), rel_tol=1e-5, abs_tol=1e-6)


def test_clip_loss_is_symmetric_in_the_modalities_and_log_n_for_orthogonal_features():
    i, t = unit_pairs(9, 6, seed=1)
    assert math.isclose(float(clip_loss(i, t, 10.0)), float(clip_loss(t, i, 10.0)), rel_tol=1e-6)
    order = torch.randperm(9, generator=torch.Generator().manual_seed(0))
    assert math.isclose(float(clip_loss(i[order], t[order], 10.0)), float(clip_loss(i, t, 10.0)), rel_tol=1e-6)
    eye = torch.eye(8)  # 4 images orthogonal to all 4 captions: every row and column is uniform over 4
    assert float(clip_loss(eye[:4], eye[4:], 5.0)) == pytest.approx(math.log(4), rel=1e-6)


def test_clip_loss_is_lower_for_aligned_pairs_than_for_shuffled_ones():
    i, t = unit_pairs(32, 16, seed=2, noise=0.1)
    shuffled = t[torch.roll(torch.arange(32), 1)]  # each image now paired with another image's caption
    aligned, mismatched = float(clip_loss(i, t, 20.0)), float(clip_loss(i, shuffled, 20.0))
    assert aligned < math.log(32) < mismatched  # log N: a loss that cannot tell the captions apart


def test_clip_loss_sends_gradients_to_both_modalities_and_the_scale_and_matches_the_loop_gradient():
    i, t = unit_pairs(5, 4, seed=4)
    a = [i.double().requires_grad_(True), t.double().requires_grad_(True), torch.tensor(7.0, dtype=torch.double,
                                                                                         requires_grad=True)]
    b = [x.detach().clone().requires_grad_(True) for x in a]
    clip_loss(*a).backward()
    clip_loss_loops(*b).backward()
    for x, y in zip(a, b):
        assert x.grad is not None and torch.isfinite(x.grad).all() and x.grad.abs().sum() > 1e-6
        assert torch.allclose(x.grad, y.grad, atol=1e-10)


# ---------------------------------------------------------------- zero-shot and retrieval

def test_zero_shot_classifier_is_one_unit_row_per_class_and_averages_the_normalised_prompts():
    model, tokenizer = tiny_model()
    names, templates = ["circle", "square", "star"], ["a photo of a {label}.", "a {label}.", "a small red {label}."]
    classifier = zero_shot_classifier(model, tokenizer, names, templates)
    assert classifier.shape == (3, 16) and not classifier.requires_grad
    assert torch.allclose(classifier.norm(dim=1), torch.ones(3), atol=1e-5)
    single = zero_shot_classifier(model, tokenizer, names, templates[:1])
    assert torch.allclose(single, embed_texts(model, tokenizer, ["a photo of a circle.", "a photo of a square.",
                                                                 "a photo of a star."]), atol=1e-5)
    per_template = torch.stack([zero_shot_classifier(model, tokenizer, names, [t]) for t in templates])  # (K, C, D)
    assert torch.allclose(classifier, F.normalize(per_template.mean(dim=0), dim=1), atol=1e-5)


def test_zero_shot_predict_and_top_k_accuracy_on_a_hand_example():
    classifier = torch.eye(3)  # (C, D): class c points along axis c
    image_features = torch.tensor([[0.9, 0.1, 0.0], [0.0, 0.2, 0.7], [0.1, 0.5, 0.4], [5.0, 0.0, 6.0]])
    assert zero_shot_predict(image_features, classifier).tolist() == [0, 2, 1, 2]  # no normalising needed
    scores = torch.tensor([[0.1, 0.5, 0.4], [0.8, 0.15, 0.05], [0.2, 0.3, 0.5], [0.6, 0.3, 0.1]])  # (N, C)
    labels = torch.tensor([2, 0, 0, 1])
    assert top_k_accuracy(scores, labels, k=1) == pytest.approx(0.25)  # only row 1
    assert top_k_accuracy(scores, labels, k=2) == pytest.approx(0.75)  # not row 2, its label comes last
    assert top_k_accuracy(scores, labels, k=3) == pytest.approx(1.0)


def test_recall_at_k_on_a_hand_example_with_a_tie():
    keys = torch.tensor([[1.0, 0.0], [0.0, 1.0], [0.0, 1.0], [-1.0, 0.0]])  # keys 1 and 2 are the same caption
    queries = torch.tensor([[2.0, 0.1], [0.1, 1.0], [0.6, 0.8], [0.3, -1.0]])
    # query 0: its key 0 first. Queries 1 and 2: keys 1 and 2 tie first, so each finds its own at rank 1.
    # Query 3: key 0 scores 0.29, its own key 3 -0.29, second.
    assert recall_at_k(queries, keys, k=1) == pytest.approx(0.75)
    assert recall_at_k(queries, keys, k=2) == pytest.approx(1.0)
    assert recall_at_k(queries, keys, k=1, batch_size=3) == pytest.approx(0.75)  # batches change nothing


# ---------------------------------------------------------------- training

def test_a_short_clip_run_lowers_the_loss_and_its_zero_shot_colours_beat_chance():
    shapes = data.load("shapes", "train", n=512)
    torch.manual_seed(0)
    config = CLIPConfig(embed_dim=16, image_width=8, image_features=32, text_width=32, text_layers=1, text_heads=2,
                        batch_size=64, steps=300, warmup_steps=10, lr=5e-3, recolour_p=0.0)
    model, history = train_clip(shapes.x, shapes.info["captions"], config, progress=False)
    assert len(history.loss) == 300 and not model.training
    first, last = sum(history.loss[:8]) / 8, sum(history.loss[-8:]) / 8
    assert last < first - 1.0, (first, last)  # from 4.3 to 4.4 down to 0.35 to 0.47 over seeds 0 to 3
    tokenizer = Tokenizer()
    classifier = zero_shot_classifier(model, tokenizer, list(CLASSES["colour"]), list(PROMPTS["colour"]))
    scores = embed_images(model, shapes.x) @ classifier.T  # (N, 6)
    assert top_k_accuracy(scores, shapes.info["attributes"]["colour"]) > 0.8  # chance: 1/6; 0.87 to 0.95, seeds 0-3


def recolour_inputs(captions: list[str], context_length: int = 16):
    tokenizer = Tokenizer()
    tokens = tokenizer.encode(captions, context_length)
    colour_ids = torch.tensor([tokenizer.index[c] for c in CLASSES["colour"]])
    return tokenizer, tokens, caption_pairs(tokens, tokenizer), colour_ids


def test_caption_pairs_reads_the_shape_and_the_first_colour_and_minus_one_without_a_shape():
    tokenizer, tokens, pairs, _ = recolour_inputs(
        ["a small red star.", "a small cross that is cyan.", "a photo of blue.", "a sign that says star.",
         "a large shape on the right."])
    assert pairs.tolist() == [[4, 0], [3, 5], [-1, -1], [-1, -1], [-1, -1]]  # star red, cross cyan, then none


def test_recolour_turns_the_hue_of_chosen_images_and_hides_their_colour_words():
    tokenizer, tokens, pairs, colour_ids = recolour_inputs(
        ["a photo of a red square.", "a small cross that is yellow.", "a green circle on the left."])
    g = torch.Generator().manual_seed(0)
    images = torch.rand(3, 3, 8, 8, generator=g)
    images[2] = 0.5  # a grey image: every turn of the colour wheel leaves it as it is
    same_images, same_tokens = recolour(images, tokens, pairs, colour_ids, tokenizer.unk_id, p=0.0)
    assert torch.equal(same_images, images) and torch.equal(same_tokens, tokens)
    torch.manual_seed(0)
    new_images, new_tokens = recolour(images, tokens, pairs, colour_ids, tokenizer.unk_id, p=1.0)
    assert tokenizer.decode(new_tokens) == ["a photo of a <unk> square.", "a small cross that is <unk>.",
                                            "a <unk> circle on the left."]
    assert not torch.allclose(new_images[0], images[0]) and not torch.allclose(new_images[1], images[1])
    assert torch.allclose(new_images[2], images[2])
    # Each chosen image is one of its allowed turns, whole: the same matrix for every pixel.
    for i in (0, 1):
        turns = turn_hue(images[i:i + 1].expand(len(ROTATIONS), -1, -1, -1), ROTATIONS)  # (A, 3, 8, 8)
        match = [a for a in range(len(ROTATIONS)) if torch.allclose(turns[a], new_images[i], atol=1e-6)]
        assert match and SAFE_ROTATIONS[pairs[i, 0], pairs[i, 1], match[0]]
    chosen = [recolour(images, tokens, pairs, colour_ids, tokenizer.unk_id, p=0.3)[1] for _ in range(200)]
    fraction = torch.stack([(t == tokenizer.unk_id).any(dim=1) for t in chosen]).float().mean()
    assert 0.2 < float(fraction) < 0.4


def test_a_hue_rotation_keeps_greys_and_lengths_and_120_degrees_is_a_cyclic_order_of_the_channels():
    r = ROTATIONS
    assert torch.allclose(r @ r.transpose(1, 2), torch.eye(3).expand_as(r), atol=1e-6)  # orthogonal
    assert torch.allclose(torch.linalg.det(r), torch.ones(len(r)), atol=1e-6)  # rotations, not reflections
    assert torch.allclose(r @ torch.ones(3), torch.ones(len(r), 3), atol=1e-6)  # greys stay grey
    at_120 = r[HUE_ANGLES.tolist().index(120)]
    assert torch.allclose(at_120 @ torch.tensor([0.9, 0.1, 0.2]), torch.tensor([0.2, 0.9, 0.1]), atol=1e-6)  # R->G


def test_recolour_leaves_the_captions_and_images_of_written_words_alone():
    tokenizer, tokens, pairs, colour_ids = recolour_inputs(["a photo of blue.", "a sign that says red."])
    images = torch.rand(2, 3, 8, 8, generator=torch.Generator().manual_seed(1))
    new_images, new_tokens = recolour(images, tokens, pairs, colour_ids, tokenizer.unk_id, p=1.0)
    assert torch.equal(new_images, images) and torch.equal(new_tokens, tokens)  # a word alone names no pair


def test_recolour_only_uses_the_turns_the_colour_table_allows():
    # A red star may take many hues, but never one that looks green (a green star is held out).
    tokenizer, tokens, pairs, colour_ids = recolour_inputs(["a photo of a red star."] * 3000)
    images = torch.tensor([0.9, 0.1, 0.1])[None, :, None, None].expand(3000, 3, 2, 2).contiguous()
    new_images, _ = recolour(images, tokens, pairs, colour_ids, tokenizer.unk_id, p=1.0)
    looks = torch.bincount(nearest_colour(new_images[:, :, 0, 0]), minlength=6)
    names = list(COLOURS)
    assert looks[names.index("green")] == 0
    assert (looks > 0).sum() >= 4, looks  # red, blue, purple, yellow or cyan: a wide range of hues
    turned = {tuple(round(v, 3) for v in pixel) for pixel in new_images[:, :, 0, 0].tolist()}
    assert len(turned) == int(SAFE_ROTATIONS[CLASSES["shape"].index("star"), 0].sum())  # every allowed turn drawn


def test_safe_rotations_agree_with_sampled_colours_and_keep_many_turns_for_every_seen_pair():
    names, rgb = list(COLOURS), torch.tensor(list(COLOURS.values()))
    g = torch.Generator().manual_seed(0)
    for s, shape in enumerate(CLASSES["shape"]):
        for c, colour in enumerate(names):
            # colours an image of this colour can have: the jitter, and the noise of a pixel or two
            near = rgb[c] + (torch.rand(3000, 3, generator=g) * 2 - 1) * (COLOUR_JITTER + 2 * NOISE_STD)
            pixels = near.clamp(0, 1)[:, :, None, None]  # (3000, 3, 1, 1) one-pixel images
            for a, rotation in enumerate(ROTATIONS):
                turned = turn_hue(pixels, rotation.expand(len(pixels), 3, 3))[:, :, 0, 0]
                looks = {names[i] for i in nearest_colour(turned).tolist()}
                if any((shape, other) in HELD_OUT for other in looks):
                    assert not SAFE_ROTATIONS[s, c, a], (shape, colour, int(HUE_ANGLES[a]), looks)
            if (shape, colour) not in HELD_OUT:
                assert SAFE_ROTATIONS[s, c].sum() >= 12, (shape, colour)
    cyan, yellow_turn = names.index("cyan"), HUE_ANGLES.tolist().index(240)  # cyan turned by -120 degrees: yellow
    assert not SAFE_ROTATIONS[CLASSES["shape"].index("triangle"), cyan, yellow_turn]


def test_no_image_train_clip_feeds_the_encoder_shows_a_held_out_pair():
    # The test: the exact path of train_clip (training_batches: sampling, then recolour), many batches,
    # each image judged from its pixels: the nearest named colour of its saturated pixels, with its shape.
    train = data.load("shapes", "train", n=1200)
    images, captions, _ = typographic(train, fraction=0.3, seed=0)
    text, text_captions, _ = text_images(200, seed=0)
    images, captions = torch.cat([images, text]), captions + text_captions
    shape_of = train.info["attributes"]["shape"].tolist() + [None] * len(text)
    row_of = {image.numpy().tobytes(): row for row, image in enumerate(images)}  # to find an image left as it was
    config = CLIPConfig(batch_size=256, recolour_p=1.0)  # every batch recoloured as far as allowed
    tokenizer = Tokenizer()
    batch = training_batches(images, captions, config, tokenizer)
    torch.manual_seed(0)
    judged, turned = 0, 0
    for _ in range(40):
        x, tokens = batch()
        body = x[:, :, :-BAND].flatten(2)  # (B, 3, pixels) above the band a word may be written in
        saturated = (body.max(dim=1).values - body.min(dim=1).values) > 0.4  # (B, pixels): the shape, not grey
        # The shape's colour is that of its core: the saturated pixels farthest from the background. (A blurred
        # edge blends the colour with the background: a yellow star's edge on black is olive, nearer green.)
        distance = (body - body[:, :, :1]).norm(dim=1)  # (B, pixels): from the top-left pixel, the background
        core = saturated & (distance >= 0.9 * (distance * saturated).amax(dim=1, keepdim=True))
        for image, full, mask, caption in zip(body, x, core, tokenizer.decode(tokens)):
            shape = next((w for w in CLASSES["shape"] if f" {w}" in caption), None)
            if shape is None:  # captioned by a written word alone: never recoloured, so one of the images as drawn
                row = row_of.get(full.numpy().tobytes())
                assert row is not None, caption
                if shape_of[row] is None:  # a word on a plain background: no colour at all
                    assert not mask.any(), caption
                    continue
                shape = CLASSES["shape"][shape_of[row]]
            colour = list(COLOURS)[int(nearest_colour(image[:, mask].median(dim=1).values))]
            assert (shape, colour) not in HELD_OUT, (caption, colour)
            judged += 1
            turned += "<unk>" in caption
    assert judged > 8000 and turned > 0.5 * judged  # the check saw many images, most of them recoloured


def test_the_learning_rate_warms_up_linearly_then_decays_along_a_cosine_to_zero():
    factors = [warmup_cosine(step, warmup=4, total=12) for step in range(13)]
    assert factors[:4] == pytest.approx([0.25, 0.5, 0.75, 1.0])
    assert factors[8] == pytest.approx(0.5) and factors[12] == pytest.approx(0.0, abs=1e-12)
    assert all(a >= b for a, b in zip(factors[3:], factors[4:]))


def test_train_clip_calls_the_loss_it_is_given_with_unit_features_and_the_scale():
    seen = []

    def my_loss(image_features, text_features, logit_scale):
        seen.append((image_features.shape, text_features.shape, float(logit_scale.detach()),
                     float(image_features.detach().norm(dim=1).mean())))
        return clip_loss(image_features, text_features, logit_scale)

    shapes = data.load("shapes", "train", n=40)
    config = CLIPConfig(embed_dim=16, image_width=8, image_features=32, text_width=32, text_layers=1, text_heads=2,
                        batch_size=16, steps=2, warmup_steps=1)
    model, history = train_clip(shapes.x, shapes.info["captions"], config, loss=my_loss, progress=False)
    assert [s[:2] for s in seen] == [((16, 16), (16, 16))] * 2
    assert seen[0][2] == pytest.approx(1 / 0.07, rel=1e-5) and seen[0][3] == pytest.approx(1.0, rel=1e-5)
    # The History records the temperature each step trained with: 1 / s, s the scale its loss was given.
    assert history["temperature"] == pytest.approx([1 / s[2] for s in seen], rel=1e-5)
    assert history["temperature"][0] == pytest.approx(0.07, rel=1e-5) and len(history.loss) == 2


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")
def test_clip_trains_and_classifies_on_cuda():
    device = torch.device("cuda")
    shapes = data.load("shapes", "train", n=64)
    config = CLIPConfig(embed_dim=16, image_width=8, image_features=32, text_width=32, text_layers=1, text_heads=2,
                        batch_size=16, steps=3, warmup_steps=1)
    model, history = train_clip(shapes.x.to(device), shapes.info["captions"], config, progress=False)
    assert model.logit_scale.device.type == "cuda" and len(history.loss) == 3
    tokenizer = Tokenizer()
    classifier = zero_shot_classifier(model, tokenizer, list(CLASSES["shape"]), ["a {label}."])
    features = embed_images(model, shapes.x)  # images on the CPU, model on the GPU: embedded on the GPU
    assert classifier.device.type == "cuda" and features.device.type == "cuda"
    assert zero_shot_predict(features, classifier).shape == (64,)
    assert 0.0 <= recall_at_k(features, embed_texts(model, tokenizer, shapes.info["captions"]), k=5) <= 1.0
    i, t = unit_pairs(6, 5, seed=4)
    assert torch.allclose(clip_loss(i.to(device), t.to(device), torch.tensor(10.0, device=device)).cpu(),
                          clip_loss(i, t, 10.0), atol=1e-5)


def test_the_outline_is_the_same_for_a_shape_of_any_colour_and_the_colour_stream_cannot_see_where():
    from course_utils.clip import ImageEncoder, outline
    ds = data.load("shapes", "train", n=40)
    rotated = turn_hue(ds.x, ROTATIONS[HUE_ANGLES.tolist().index(120)].expand(len(ds), 3, 3))  # R->G->B->R
    # A cyclic order of the channels keeps every distance from the (grey) background: the outline is unchanged.
    assert torch.allclose(outline(ds.x), outline(rotated), atol=1e-5)
    view = outline(ds.x)
    assert view.shape == (40, 1, 32, 32) and float(view.min()) >= 0 and float(view.max()) <= 1
    assert torch.equal(view[:, :, :2], torch.zeros(40, 1, 2, 32))  # the background, far from any shape: 0
    inside = (ds.x - ds.x[:, :, :1, :1]).norm(dim=1, keepdim=True) > 0.45  # pixels well inside a shape
    assert torch.equal(view[inside], torch.ones(int(inside.sum())))  # 1, whatever the shape's colour
    torch.manual_seed(0)
    encoder = ImageEncoder(TINY).eval()
    with torch.no_grad():
        image = ds.x[:1]
        moved = torch.roll(image, shifts=(3, 5), dims=(2, 3))
        assert torch.allclose(encoder.colour(F.avg_pool2d(image, 2)).amax(dim=(2, 3)),
                              encoder.colour(F.avg_pool2d(torch.roll(image, (4, 6), (2, 3)), 2)).amax(dim=(2, 3)),
                              atol=1e-6)  # rolled by whole 2x2 cells: the same pixels, elsewhere
        assert encoder(image).shape == (1, TINY.embed_dim) and not torch.equal(encoder(image), encoder(moved))


def test_training_batches_blur_some_shapes_but_never_a_written_word():
    train = data.load("shapes", "train", n=300)
    images, captions, written = typographic(train, fraction=0.5, seed=0, signs=100)
    config = CLIPConfig(batch_size=400, recolour_p=0.0, blur_p=0.5)
    tokenizer = Tokenizer()
    batch = training_batches(images, captions, config, tokenizer)
    row_of = {image.numpy().tobytes(): row for row, image in enumerate(images)}
    torch.manual_seed(0)
    x, tokens = batch()
    kept = [row_of.get(image.numpy().tobytes()) for image in x]  # None: changed, so blurred
    words_kept = [row is not None for row, t in zip(kept, tokenizer.decode(tokens))
                  if not any(f" {s}" in t for s in CLASSES["shape"])]
    shapes_blurred = [row is None for row, t in zip(kept, tokenizer.decode(tokens))
                      if any(f" {s}" in t for s in CLASSES["shape"])]
    assert len(words_kept) > 200 and all(words_kept)  # every image captioned by its word stays sharp
    assert 0.35 < sum(shapes_blurred) / len(shapes_blurred) < 0.65  # about half of the shapes blurred
