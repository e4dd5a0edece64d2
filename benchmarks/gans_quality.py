"""Notebook 02's quality goals, measured in FULL mode on the embedded 2-D mixtures and digits.

    python benchmarks/gans_quality.py [--device cpu] [--skip-dcgan]

Trains exactly what the notebook trains in FULL mode, with the reference ``gan_step``:
every setting of ``course_utils.gans.toy_configs`` (the plain GAN and the two
remedies) on the ring of 8 and the grid of 25, three seeds at once, and the DCGAN
on digits. Prints a table per setting (modes covered and high-quality fraction,
mean of the 3 seeds, 2,500 samples each) and the goals: measured value, goal, pass.

Goals (COURSE.md), for the best setting on each mixture:
- ring of 8: 8/8 modes and at least 90% high-quality samples;
- grid of 25: at least 24/25 modes and at least 85% high-quality samples;
- DCGAN on digits: the reference classifier finds all 10 classes, mean confidence at least 0.7.
"""
from __future__ import annotations

import argparse
import os
import sys
import time

os.environ.pop("COURSE_FAST", None)  # FULL mode: the configurations' defaults are read at creation

import torch  # noqa: E402

from course_utils import config, data, metrics  # noqa: E402
from course_utils.dcgan import DCGANConfig, train_dcgan  # noqa: E402
from course_utils.gans import coverage_per_seed, toy_configs, train_toy_gan  # noqa: E402
from goals import report  # noqa: E402  (benchmarks/goals.py)

GOALS = {"ring8": (8.0, 0.90), "grid25": (24.0, 0.85)}  # (modes, high-quality fraction), means over seeds


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", default=None, help="cpu, cuda or mps (default: the best available)")
    parser.add_argument("--skip-dcgan", action="store_true")
    args = parser.parse_args()
    device = config.get_device(args.device)
    print(f"Notebook 02 quality, FULL mode, on {device} with {torch.get_num_threads()} CPU threads")
    print(f"{'data':<8} {'setting':<18} {'modes (mean of 3)':>18} {'HQ (mean of 3)':>15} {'per seed':>14} {'train s':>8}")
    rows, best = [], {}
    for dataset in GOALS:
        info = data.load(dataset, "train").info
        for setting, toy in toy_configs(dataset).items():
            config.seed_everything(0)
            start = time.perf_counter()
            generator, _, _ = train_toy_gan(toy, info["centres"], info["std"], device=device, progress=False)
            seconds = time.perf_counter() - start
            per_seed = coverage_per_seed(generator, info["centres"], info["std"])
            modes = sum(r.modes_covered for r in per_seed) / len(per_seed)
            quality = sum(r.high_quality for r in per_seed) / len(per_seed)
            print(f"{dataset:<8} {setting:<18} {modes:>13.2f} / {per_seed[0].n_modes:<2} {quality:>15.3f} "
                  f"{str([r.modes_covered for r in per_seed]):>14} {seconds:>8.1f}", flush=True)
            score = modes / per_seed[0].n_modes + quality  # as the notebook picks its best setting
            if dataset not in best or score > best[dataset][0]:
                best[dataset] = (score, setting, modes, quality)
    for dataset, (_, setting, modes, quality) in best.items():
        goal_modes, goal_quality = GOALS[dataset]
        n = 8 if dataset == "ring8" else 25
        rows.append((f"{dataset}: modes ({setting})", f"{modes:.2f}/{n}", f">= {goal_modes:g}/{n}",
                     modes >= goal_modes))
        rows.append((f"{dataset}: high quality ({setting})", f"{quality:.3f}", f">= {goal_quality:.2f}",
                     quality >= goal_quality))
    if not args.skip_dcgan:
        config.seed_everything(0)
        start = time.perf_counter()
        generator, _, _ = train_dcgan(data.load("digits", "train").x.to(device), DCGANConfig(), progress=False)
        seconds = time.perf_counter() - start
        judged = metrics.class_coverage(generator.sample(1000, torch.Generator().manual_seed(0)))
        rows += [("DCGAN: classes found", f"{judged.classes_covered}/10", "10/10", judged.classes_covered == 10),
                 ("DCGAN: mean confidence", f"{judged.mean_confidence:.3f}", ">= 0.70", judged.mean_confidence >= 0.7),
                 ("DCGAN training time (s)", f"{seconds:.1f}", "reported", True)]
    print()
    return report(rows)


if __name__ == "__main__":
    sys.exit(main())
