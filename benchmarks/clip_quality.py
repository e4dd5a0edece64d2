"""Notebook 06's goals, measured in FULL mode on the shapes.

    python benchmarks/clip_quality.py [--device cpu] [--seeds 3] [--per-prompt 16]

For each seed, does what notebook 06 does with the reference code: trains CLIP (``course_utils.clip.train_clip``
with ``CLIPConfig()``, its FULL settings) on the training images, 30% of them with a colour name written on them
and 2,000 images of a word alone after them, all of those captioned by the word (``words.typographic``, fraction
0.3, signs 2000); classifies shape and colour zero-shot with the prompt ensembles of
``course_utils.data.shapes.PROMPTS`` on the test images and the held-out (shape, colour) pairs, which no
training image shows, recoloured or not (``course_utils.recolour``); chooses the best single prompt on 2,000 training
images and compares it with the ensemble on the test images; writes another colour's name on the test images
(``words.write_other_colours``: the typographic attack) and counts how often the written colour wins, then how
often after the defence ``words.cover_words`` (and its cost on clean images); trains the unCLIP decoder
(``course_utils.unclip``, ``UnCLIPConfig`` defaults) on the clean training images and their captions' CLIP text
embeddings, generates ``--per-prompt`` samples for each of the 30 prompts "a photo of a {colour} {shape}." with
the notebook's guidance, and counts the samples whose zero-shot shape and colour are those asked for.

Goals (COURSE.md and issue 22, each the mean over seeds): zero-shot shape and colour at least 95% on the test
images and at least 85% on the held-out pairs; the ensemble at least as good as the best single prompt (for shape
and for colour, in every seed); the written colour winning on at least half of the attacked images; the decoder's
samples matching their prompt at least 80% of the time.
Exits with status 1 if a goal fails.
"""
from __future__ import annotations

import argparse
import os
import sys
import time

os.environ.pop("COURSE_FAST", None)  # FULL mode: the configurations' defaults are read at creation

import torch  # noqa: E402

from course_utils import config, data  # noqa: E402
from course_utils.clip import (CLIPConfig, Tokenizer, embed_images, embed_texts, top_k_accuracy,  # noqa: E402
                               train_clip, zero_shot_classifier, zero_shot_predict)
from course_utils.data import words  # noqa: E402
from course_utils.data.shapes import CLASSES, HELD_OUT, PROMPT_NAMES, PROMPTS  # noqa: E402
from course_utils.unclip import UnCLIPConfig, generate, train_decoder  # noqa: E402
from goals import report  # noqa: E402  (benchmarks/goals.py)

GUIDANCE = 2.0  # notebook 06's w
CHOICE_IMAGES = 2000  # training images the best single prompt is chosen on


def mean(values: list[float]) -> float:
    return sum(values) / len(values)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", default=None, help="cpu, cuda or mps (default: the best available)")
    parser.add_argument("--seeds", type=int, default=3, help="training seeds 0, 1, ...; goals use the mean (default 3)")
    parser.add_argument("--per-prompt", type=int, default=16, help="decoder samples per prompt (default 16; "
                                                                     "the notebook draws 8)")
    args = parser.parse_args()
    device = config.get_device(args.device)
    train, test, heldout = (data.load("shapes", split) for split in ("train", "test", "heldout"))
    tokenizer = Tokenizer()
    clip_config, decoder_config = CLIPConfig(), UnCLIPConfig(condition_dim=64)
    print(f"Notebook 06, FULL mode (CLIP {clip_config.steps} steps, decoder {decoder_config.steps} steps), on "
          f"{device} with {torch.get_num_threads()} CPU threads; shapes: {len(train)} train, {len(test)} test, "
          f"{len(heldout)} held-out-pair images")
    images, captions, _ = words.typographic(train, fraction=0.3, seed=0, signs=2000)
    pairs = [(s, c) for c in range(len(CLASSES["colour"])) for s in range(len(CLASSES["shape"]))]
    prompts = [f"a photo of a {CLASSES['colour'][c]} {CLASSES['shape'][s]}." for s, c in pairs]
    asked = {a: torch.tensor([pair[i] for pair in pairs]).repeat_interleave(args.per_prompt)
             for i, a in enumerate(("shape", "colour"))}
    held = torch.tensor([(CLASSES["shape"][s], CLASSES["colour"][c]) in HELD_OUT for s, c in pairs])
    held = held.repeat_interleave(args.per_prompt)

    results: dict[str, list[float]] = {}
    ensemble_wins: list[bool] = []
    print(f"\n{'seed':>4} {'measure':<70} {'value':>14}")

    def show(seed: int, name: str, value: float | str) -> None:
        if isinstance(value, float):
            results.setdefault(name, []).append(value)
            value = f"{value:.3f}"
        print(f"{seed:>4} {name:<70} {value:>14}", flush=True)

    for seed in range(args.seeds):
        config.seed_everything(seed)
        start = time.perf_counter()
        model, _ = train_clip(images.to(device), captions, clip_config, tokenizer, progress=False)
        show(seed, "CLIP training seconds", f"{time.perf_counter() - start:.1f}")
        features = {"test": embed_images(model, test.x.to(device)), "held-out": embed_images(model, heldout.x.to(device))}
        labels = {"test": test.info["attributes"], "held-out": heldout.info["attributes"]}
        choice = embed_images(model, train.x[:CHOICE_IMAGES].to(device))
        classifiers = {}
        for attribute in ("shape", "colour"):
            names, templates = list(PROMPT_NAMES[attribute]), list(PROMPTS[attribute])
            classifiers[attribute] = zero_shot_classifier(model, tokenizer, names, templates)
            for split in features:
                show(seed, f"zero-shot {attribute}, {split}",
                     top_k_accuracy(features[split] @ classifiers[attribute].T, labels[split][attribute]))
            single = {t: zero_shot_classifier(model, tokenizer, names, [t]) for t in templates}
            on_train = {t: top_k_accuracy(choice @ w.T, train.info["attributes"][attribute][:CHOICE_IMAGES])
                        for t, w in single.items()}
            chosen = max(on_train, key=on_train.get)
            chosen_test = top_k_accuracy(features["test"] @ single[chosen].T, labels["test"][attribute])
            hindsight = max(top_k_accuracy(features["test"] @ w.T, labels["test"][attribute]) for w in single.values())
            ensemble = results[f"zero-shot {attribute}, test"][-1]
            show(seed, f"{attribute}: best single prompt (chosen on training images), test", chosen_test)
            show(seed, f"{attribute}: best single prompt on the test images (hindsight)", hindsight)
            ensemble_wins.append(ensemble >= chosen_test)

        true_colour = test.info["attributes"]["colour"]
        attacked, written = words.write_other_colours(test, torch.Generator().manual_seed(seed))
        for name, shown in (("", attacked), (", words covered", words.cover_words(attacked))):
            predicted = zero_shot_predict(embed_images(model, shown.to(device)), classifiers["colour"]).cpu()
            show(seed, f"typographic attack{name}: prediction = the written colour",
                 float((predicted == written).float().mean()))
            show(seed, f"typographic attack{name}: prediction = the true colour",
                 float((predicted == true_colour).float().mean()))
        covered = zero_shot_predict(embed_images(model, words.cover_words(test.x).to(device)), classifiers["colour"])
        show(seed, "zero-shot colour, test, words covered", float((covered.cpu() == true_colour).float().mean()))

        config.seed_everything(seed)
        start = time.perf_counter()
        condition = embed_texts(model, tokenizer, train.info["captions"])  # (N, D): the clean captions
        decoder = train_decoder(train.x.to(device), condition, decoder_config, progress=False)
        show(seed, "decoder training seconds", f"{time.perf_counter() - start:.1f}")
        round_trip = embed_images(model, decoder.space.decode(decoder.space.encode(test.x.to(device))))
        show(seed, "real test images after the PCA round trip: shape and colour", float(
            ((zero_shot_predict(round_trip, classifiers["shape"]).cpu() == labels["test"]["shape"]) &
             (zero_shot_predict(round_trip, classifiers["colour"]).cpu() == labels["test"]["colour"])).float().mean()))
        prompt_embeddings = embed_texts(model, tokenizer, prompts).repeat_interleave(args.per_prompt, dim=0)
        samples = generate(decoder, prompt_embeddings, GUIDANCE, generator=torch.Generator(device).manual_seed(seed))
        sample_features = embed_images(model, samples)
        match = torch.ones(len(samples), dtype=torch.bool)
        for attribute in ("shape", "colour"):
            ok = zero_shot_predict(sample_features, classifiers[attribute]).cpu() == asked[attribute]
            show(seed, f"unCLIP samples: zero-shot {attribute} as asked", float(ok.float().mean()))
            match &= ok
        show(seed, "unCLIP samples matching their prompt (shape and colour)", float(match.float().mean()))
        show(seed, "unCLIP samples matching, held-out pairs", float(match[held].float().mean()))

    n = f"mean of {args.seeds}"
    rows = []
    for attribute in ("shape", "colour"):
        for split, goal in (("test", 0.95), ("held-out", 0.85)):
            value = mean(results[f"zero-shot {attribute}, {split}"])
            rows.append((f"zero-shot {attribute}, {split} ({n})", f"{value:.3f}", f">= {goal}", value >= goal))
    rows.append((f"ensemble >= best single prompt chosen on training images (shape and colour, {args.seeds} seeds)",
                 f"{sum(ensemble_wins)} of {len(ensemble_wins)}", "all", all(ensemble_wins)))
    for attribute in ("shape", "colour"):
        rows.append((f"{attribute}: ensemble / best single chosen on training / hindsight best ({n})",
                     f"{mean(results[f'zero-shot {attribute}, test']):.3f} / "
                     f"{mean(results[f'{attribute}: best single prompt (chosen on training images), test']):.3f} / "
                     f"{mean(results[f'{attribute}: best single prompt on the test images (hindsight)']):.3f}",
                     "reported", True))
    matching = mean(results["unCLIP samples matching their prompt (shape and colour)"])
    rows.append((f"unCLIP samples matching their prompt, w = {GUIDANCE} ({n}, {args.per_prompt} per prompt)",
                 f"{matching:.3f}", ">= 0.80", matching >= 0.80))
    rows.append((f"real test images after the PCA round trip, shape and colour recognised ({n})",
                 f"{mean(results['real test images after the PCA round trip: shape and colour']):.3f}", "reported", True))
    rows.append((f"unCLIP samples matching, held-out pairs ({n})",
                 f"{mean(results['unCLIP samples matching, held-out pairs']):.3f}", "reported", True))
    fooled = mean(results["typographic attack: prediction = the written colour"])
    rows.append((f"typographic attack: prediction = the written colour ({n})", f"{fooled:.3f}", ">= 0.50",
                 fooled >= 0.50))
    rows.append((f"typographic attack: prediction = the true colour ({n})",
                 f"{mean(results['typographic attack: prediction = the true colour']):.3f}", "reported", True))
    rows.append((f"defence, words covered: prediction = the written colour / the true colour ({n})",
                 f"{mean(results['typographic attack, words covered: prediction = the written colour']):.3f} / "
                 f"{mean(results['typographic attack, words covered: prediction = the true colour']):.3f}",
                 "reported", True))
    rows.append((f"defence, words covered: zero-shot colour on clean test images ({n})",
                 f"{mean(results['zero-shot colour, test, words covered']):.3f}", "reported", True))
    print()
    return report(rows)


if __name__ == "__main__":
    sys.exit(main())
