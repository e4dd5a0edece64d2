"""Notebook 05's linear-probe goal, measured in FULL mode on the shapes.

    python benchmarks/simclr_quality.py [--device cpu] [--seeds 2] [--ablation-seeds 1]

For each seed, trains SimCLR (``course_utils.simclr.train_simclr`` with its FULL settings) and the
same encoder with the shape labels (``train_supervised``, same augmentations, steps and optimiser),
takes an untrained encoder as the random baseline, and fits a linear probe (logistic regression on
frozen, standardised features: ``metrics.linear_probe_accuracy``) for the shape label on the train
split, scored on the test split. SimCLR is probed before the projection head (h) and after it (z).
Goals (COURSE.md, the mean over seeds): SimCLR's probe on h within 5 points of the supervised
encoder's, and at least 25 points above the random encoder's. Also reports kNN accuracy, the colour
probe (what the features keep of what the augmentations change) and the training times.
Then the augmentation-pair study as notebook 05 runs it (``course_utils.ablation.pair_ablation``: crop, colour
and Sobel, one SimCLR of width 16 and 500 steps per cell, probes on 2,000 training images). Goal (COURSE.md):
the strongest pair for the shape probe is crop plus colour, in every seed run.
Exits with status 1 if a goal fails.
"""
from __future__ import annotations

import argparse
import os
import sys
import time

os.environ.pop("COURSE_FAST", None)  # FULL mode: the configurations' defaults are read at creation

import torch  # noqa: E402

from course_utils import config, data, metrics  # noqa: E402
from course_utils.ablation import pair_ablation  # noqa: E402
from course_utils.simclr import SimCLR, SimCLRConfig, features, train_simclr, train_supervised  # noqa: E402
from goals import report  # noqa: E402  (benchmarks/goals.py)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", default=None, help="cpu, cuda or mps (default: the best available)")
    parser.add_argument("--seeds", type=int, default=2, help="training seeds 0, 1, ...; goals use the mean (default 2)")
    parser.add_argument("--ablation-seeds", type=int, default=1, help="seeds of the pair study (default 1; 0 skips it)")
    args = parser.parse_args()
    device = config.get_device(args.device)
    train, test = data.load("shapes", "train"), data.load("shapes", "test")
    colour = train.info["attributes"]["colour"], test.info["attributes"]["colour"]
    simclr_config = SimCLRConfig()
    print(f"Notebook 05 linear probe, FULL mode ({simclr_config.steps} steps), on {device} with "
          f"{torch.get_num_threads()} CPU threads; shapes: {len(train)} train, {len(test)} test images")
    print(f"\n{'seed':>4} {'features':<14} {'shape probe':>11} {'shape kNN':>9} {'colour probe':>12} {'train s':>8}")
    probes: dict[str, list[float]] = {"SimCLR h": [], "supervised h": [], "random h": []}
    for seed in range(args.seeds):
        config.seed_everything(seed)
        start = time.perf_counter()
        simclr, _ = train_simclr(train.x.to(device), simclr_config, progress=False)
        simclr_s = time.perf_counter() - start
        config.seed_everything(seed)
        start = time.perf_counter()
        supervised, _ = train_supervised(train.x.to(device), train.y.to(device), simclr_config, progress=False)
        supervised_s = time.perf_counter() - start
        config.seed_everything(seed + 1000)
        untrained = SimCLR(simclr_config).to(device).eval()
        encoders = [("SimCLR h", simclr, False, simclr_s), ("SimCLR z", simclr, True, simclr_s),
                    ("supervised h", supervised, False, supervised_s), ("random h", untrained, False, 0.0)]
        for name, model, head, seconds in encoders:
            a, b = features(model, train.x.to(device), head=head).cpu(), features(model, test.x.to(device), head=head).cpu()
            shape = metrics.linear_probe_accuracy(a, train.y, b, test.y)
            knn = metrics.knn_accuracy(a, train.y, b, test.y)
            colour_probe = metrics.linear_probe_accuracy(a, colour[0], b, colour[1])
            probes.setdefault(name, []).append(shape)
            print(f"{seed:>4} {name:<14} {shape:>11.3f} {knn:>9.3f} {colour_probe:>12.3f} {seconds:>8.1f}", flush=True)

    def mean(name: str) -> float:
        return sum(probes[name]) / len(probes[name])

    simclr_h, supervised_h, random_h = mean("SimCLR h"), mean("supervised h"), mean("random h")
    rows = [(f"shape probe: supervised - SimCLR h (mean of {args.seeds})", f"{100 * (supervised_h - simclr_h):.1f} points",
             "<= 5 points", supervised_h - simclr_h <= 0.05),
            (f"shape probe: SimCLR h - random (mean of {args.seeds})", f"{100 * (simclr_h - random_h):.1f} points",
             ">= 25 points", simclr_h - random_h >= 0.25),
            ("shape probe: SimCLR h / z / supervised / random", f"{simclr_h:.3f} / {mean('SimCLR z'):.3f} / "
             f"{supervised_h:.3f} / {random_h:.3f}", "reported", True)]
    names, best_pairs = ("crop", "colour", "sobel"), []
    for seed in range(args.ablation_seeds):
        ablation = pair_ablation(train.x.to(device), test.x.to(device), {"shape": (train.y, test.y), "colour": colour},
                                 names, SimCLRConfig(width=16, steps=500), probe_images=2000, seed=seed, progress=False)
        best_pairs.append(ablation.best("shape"))
        print(f"\npair study, seed {seed} ({ablation.seconds:.0f} s): probe for shape / colour, row then column")
        for i, name in enumerate(names):
            print(f"{name:>8} " + "  ".join(f"{float(ablation.probe['shape'][i, j]):.3f} / "
                                              f"{float(ablation.probe['colour'][i, j]):.3f}" for j in range(len(names))))
    if best_pairs:
        rows.append((f"pair study: best pair for shape ({len(best_pairs)} seed(s))",
                     ", ".join(" + ".join(pair) for pair in best_pairs), "crop + colour",
                     all(pair == ("crop", "colour") for pair in best_pairs)))
    print()
    return report(rows)


if __name__ == "__main__":
    sys.exit(main())
