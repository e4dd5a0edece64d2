"""Notebook 05's throughput goal: batched augmentation against torchvision applied image by image.

    python benchmarks/augment_throughput.py [--device cpu] [--images 2048] [--batch 512] [--threads N] [--seconds 4]

Augments the first ``--images`` images of the embedded shapes (train split, (N, 3, 32, 32) in [0, 1]) with
SimCLR's policy, two ways, in one run on the same machine:

- batched: ``course_utils.augment.simclr_policy()`` on batches of ``--batch`` images, each image with its own
  random crop, flip, jitter, drop and blur;
- per image: the same operations from ``torchvision.transforms.v2``, RandomResizedCrop(32),
  RandomHorizontalFlip(), RandomApply([ColorJitter(0.8, 0.8, 0.8, 0.2)], p=0.8), RandomGrayscale(p=0.2),
  RandomApply([GaussianBlur(3, sigma=(0.1, 2.0))], p=0.5), called once per image tensor in a Python loop,
  which is how a Dataset applies them (one call per image is what gives each image its own parameters).

Timing: each way runs once to warm up; then rounds, at least 3 and for at least ``--seconds`` seconds in all,
each timing one pass of the per-image way over all the images and, right after it, as many passes of the batched
way as fill the same time (at least one). Interleaving puts both ways under the same load: on a shared 2-core
machine a disturbed pass loses up to a third of its speed. A way's throughput, in images per second, is that of
its best pass, the least disturbed one; the table also shows the median pass's. The batched way gets more passes
(~36 against 3), so its best is drawn from more tries. On a GPU the timing synchronises before reading the clock;
torchvision runs on the same device.

Goal (COURSE.md): batched throughput at least 10 x the per-image throughput. Exits with status 1 if it fails.
"""
from __future__ import annotations

import argparse
import statistics
import sys
import time
from typing import Callable

import torch
from torchvision.transforms import v2

from course_utils import config, data
from course_utils.augment import simclr_policy
from goals import report  # noqa: E402  (benchmarks/goals.py)

MIN_ROUNDS = 3


def timed(run: Callable[[], None], device: torch.device) -> float:
    """The wall time of one call of ``run``, in seconds."""
    if device.type == "cuda":
        torch.cuda.synchronize(device)
    start = time.perf_counter()
    run()
    if device.type == "cuda":
        torch.cuda.synchronize(device)
    return time.perf_counter() - start


def interleaved_times(slow: Callable[[], None], fast: Callable[[], None], device: torch.device,
                     seconds: float) -> tuple[list[float], list[float]]:
    """The times of every timed pass of ``slow`` and of ``fast``, in rounds: one slow pass, then fast passes
    for as long (at least one); at least MIN_ROUNDS rounds and ``seconds`` in all, after one warm-up call each."""
    slow(), fast()
    slow_times: list[float] = []
    fast_times: list[float] = []
    while len(slow_times) < MIN_ROUNDS or sum(slow_times) + sum(fast_times) < seconds:
        slow_times.append(timed(slow, device))
        spent = 0.0
        while spent < slow_times[-1]:
            fast_times.append(timed(fast, device))
            spent += fast_times[-1]
    return slow_times, fast_times


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", default=None, help="cpu, cuda or mps (default: the best available)")
    parser.add_argument("--images", type=int, default=2048, help="images augmented per timed pass (default 2048)")
    parser.add_argument("--batch", type=int, default=512, help="images per call of the batched policy (default 512)")
    parser.add_argument("--threads", type=int, default=None, help="torch CPU threads (default: torch's choice)")
    parser.add_argument("--seconds", type=float, default=4.0, help="least timing in all, in seconds (default 4)")
    args = parser.parse_args()
    if args.threads is not None:
        torch.set_num_threads(args.threads)
    device = config.get_device(args.device)
    x = data.load("shapes", "train").x[:args.images].to(device)  # (N, 3, 32, 32) in [0, 1]
    n = len(x)
    print(f"SimCLR augmentation of {n} shapes images {tuple(x.shape[1:])} on {device}, "
          f"{torch.get_num_threads()} torch CPU threads; the best pass of each way, in at least {MIN_ROUNDS} "
          f"interleaved rounds and {args.seconds:g} s, after a warm-up")

    policy = simclr_policy()
    generator = torch.Generator(device).manual_seed(0)

    def batched() -> None:
        for i in range(0, n, args.batch):
            policy(x[i:i + args.batch], generator)

    per_image_policy = v2.Compose([
        v2.RandomResizedCrop(tuple(x.shape[-2:]), scale=(0.08, 1.0), ratio=(3 / 4, 4 / 3)),
        v2.RandomHorizontalFlip(),
        v2.RandomApply([v2.ColorJitter(0.8, 0.8, 0.8, 0.2)], p=0.8),
        v2.RandomGrayscale(p=0.2),
        v2.RandomApply([v2.GaussianBlur(kernel_size=3, sigma=(0.1, 2.0))], p=0.5),
    ])

    def per_image() -> None:
        for image in x:  # (3, 32, 32) each, as a Dataset's __getitem__ would
            per_image_policy(image)

    torch.manual_seed(0)  # torchvision draws from the global generator
    slow_times, fast_times = interleaved_times(per_image, batched, device, args.seconds)
    fast, slow = n / min(fast_times), n / min(slow_times)  # images per second, best pass
    print(f"\n{'way':<38} {'images/s':>10} {'median pass':>12} {'passes':>7}")
    for name, best, times in ((f"batched, simclr_policy, {args.batch} per call", fast, fast_times),
                              ("per image, torchvision.transforms.v2", slow, slow_times)):
        print(f"{name:<38} {best:>10,.0f} {n / statistics.median(times):>12,.0f} {len(times):>7}")
    print()
    ratio = fast / slow
    return report([("batched / per-image throughput", f"{ratio:.1f} x", ">= 10 x", ratio >= 10)])


if __name__ == "__main__":
    sys.exit(main())
