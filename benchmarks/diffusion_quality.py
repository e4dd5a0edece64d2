"""Notebook 03's quality goals, measured in FULL mode on the embedded grid of 25 and digits.

    python benchmarks/diffusion_quality.py [--device cpu] [--seed 0] [--sampling-seeds 8]

Trains exactly what the notebook trains in FULL mode, with the reference functions
(``ddpm_loss``, ``ddpm_step``, ``ddim_step``): the 2-D denoiser on the grid of 25 and
on the swiss roll, and the digits denoiser. Samples as the notebook does: 2,500 points
with 1,000 ancestral steps on each 2-D dataset; as many digits as the train set holds
(1,442) with DDPM (1,000 steps) and with DDIM at 250, 100, 50, 20 and 10 steps, the
predicted x_0 clipped to the images' range [-1, 1], eight times with different sampling seeds:
one draw's distance swings by up to 1.3 x the floor, so the goals use the mean (with 5 draws the DDIM/DDPM
ratio of one trained model read 1.32, with 8 it read 1.18: a few draws are too few for a 1.25 x goal). Prints what it measured, with wall
times, and the goals: measured value, goal, pass.

Goals (COURSE.md):
- grid of 25, DDPM: 25/25 modes and at least 90% high-quality samples (within 3 std of a mode);
- digits, DDPM with 1,000 steps: a Frechet distance (reference classifier's features, against
  the test set) at most 2 x the floor, the distance between the train set and the test set.
  The samples are as many as the train set, so both distances are measured on sets of the
  same size: the estimate grows as a set shrinks (1,000 real train images score ~1.4 x the floor);
- digits, DDIM with 50 steps: at most 1.25 x the DDPM distance, with 20 x fewer network calls;
Also reports the time of the training and of one draw per sampler, what the notebook spends of
its 240 s budget on them (FULL mode, 2 CPU cores). Exits with status 1 if a goal fails.
"""
from __future__ import annotations

import argparse
import os
import sys
import time

os.environ.pop("COURSE_FAST", None)  # FULL mode: the configurations' defaults are read at creation

import torch  # noqa: E402

from course_utils import config, data, metrics  # noqa: E402
from course_utils.diffusion import ddim_sample, ddpm_sample, make_schedule  # noqa: E402
from course_utils.toy_diffusion import toy_config, train_toy_diffusion  # noqa: E402
from course_utils.unet import DigitsDiffusionConfig, train_digits_diffusion  # noqa: E402
from goals import report  # noqa: E402  (benchmarks/goals.py)

DDIM_STEPS = (250, 100, 50, 20, 10)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", default=None, help="cpu, cuda or mps (default: the best available)")
    parser.add_argument("--seed", type=int, default=0, help="seeds training and sampling")
    parser.add_argument("--sampling-seeds", type=int, default=8,
                        help="digits: draws per sampler, seeds SEED, SEED+1, ...; the goals use the mean (default 8)")
    args = parser.parse_args()
    device = config.get_device(args.device)
    print(f"Notebook 03 quality, FULL mode, on {device} with {torch.get_num_threads()} CPU threads, seed {args.seed}")
    rows, compute = [], 0.0

    def timed(fn):
        nonlocal compute
        start = time.perf_counter()
        result = fn()
        seconds = time.perf_counter() - start
        compute += seconds
        return result, seconds

    # ---- 2-D: the grid of 25 (the goal) and the swiss roll (timed only)
    print(f"\n{'data':<10} {'train s':>8} {'sample s':>9}  result (DDPM, 1,000 steps, 2,500 points)")
    for name in ("grid25", "swissroll"):
        dataset = data.load(name, "train")
        toy = toy_config(name)
        betas, alpha_bar = make_schedule(toy)
        config.seed_everything(args.seed)
        (model, _), train_s = timed(lambda: train_toy_diffusion(dataset.x.to(device), toy, progress=False))
        generator = torch.Generator().manual_seed(args.seed)
        samples, sample_s = timed(lambda: ddpm_sample(model, (2500, 2), betas, alpha_bar, generator))
        points = model.to_data(samples.x).cpu()
        if name == "grid25":
            coverage = metrics.mode_coverage(points, dataset.info["centres"], dataset.info["std"])
            result = f"{coverage.modes_covered}/25 modes, {coverage.high_quality:.3f} high quality"
            rows += [("grid25 DDPM: modes covered", f"{coverage.modes_covered}/25", "25/25",
                      coverage.modes_covered == 25),
                     ("grid25 DDPM: high quality", f"{coverage.high_quality:.3f}", ">= 0.90",
                      coverage.high_quality >= 0.90)]
        else:
            result = f"{len(points)} points"
        print(f"{name:<10} {train_s:>8.1f} {sample_s:>9.1f}  {result}", flush=True)

    # ---- digits
    train, test = data.load("digits", "train").x, data.load("digits", "test").x
    floor = metrics.digits_frechet_distance(train, test)
    digits = DigitsDiffusionConfig()
    betas, alpha_bar = make_schedule(digits)
    config.seed_everything(args.seed)
    (model, history), train_s = timed(lambda: train_digits_diffusion(train.to(device), digits, progress=False))
    print(f"\ndigits: floor (train set vs test set) {floor:.3f}; {len(train)} samples per sampler")
    print(f"training: {digits.steps} steps in {train_s:.1f} s, final loss {history.last():.4f}")
    seeds = [args.seed + k for k in range(args.sampling_seeds)]
    print(f"distances: the mean over {len(seeds)} sampling seeds {seeds} (one draw of {len(train)} samples swings "
          "by several tenths of the floor); wall time per draw")
    print(f"{'sampler':<8} {'steps':>6} {'calls':>6} {'distance':>9} {'x floor':>8} {'wall s':>7}  per seed (x floor)")
    distances, extra = {}, 0.0
    for steps in (1000, *DDIM_STEPS):
        draws, shape = [], (len(train), 1, 8, 8)
        for seed in seeds:
            generator = torch.Generator().manual_seed(seed)
            if steps == 1000:
                samples, seconds = timed(lambda: ddpm_sample(model, shape, betas, alpha_bar, generator, clip=1.0))
            else:
                samples, seconds = timed(lambda: ddim_sample(model, shape, alpha_bar, steps, generator, clip=1.0))
            draws.append(metrics.digits_frechet_distance(model.to_data(samples.x).cpu(), test))
            extra += seconds if seed != seeds[0] else 0.0  # the notebook draws once
        distance, name = sum(draws) / len(draws), "DDPM" if steps == 1000 else "DDIM"
        distances[name, steps] = (distance, samples.calls)
        print(f"{name:<8} {steps:>6} {samples.calls:>6} {distance:>9.3f} {distance / floor:>8.2f} {seconds:>7.1f}  "
              + " ".join(f"{d / floor:.2f}" for d in draws), flush=True)

    ddpm, ddpm_calls = distances["DDPM", 1000]
    ddim, ddim_calls = distances["DDIM", 50]
    rows += [("digits DDPM-1000: distance / floor", f"{ddpm / floor:.2f}", "<= 2.00", ddpm <= 2 * floor),
             ("digits DDIM-50: distance / DDPM's", f"{ddim / ddpm:.2f}", "<= 1.25", ddim <= 1.25 * ddpm),
             ("digits DDIM-50: fewer network calls", f"{ddpm_calls / ddim_calls:.0f} x", ">= 20 x",
              ddpm_calls >= 20 * ddim_calls),
             (f"training + one draw per sampler (s, {torch.get_num_threads()} threads)", f"{compute - extra:.0f}",
              "reported", True)]
    print()
    return report(rows)


if __name__ == "__main__":
    sys.exit(main())
