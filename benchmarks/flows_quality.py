"""Notebook 04's quality goals, measured in FULL mode on two moons and digits.

    python benchmarks/flows_quality.py [--device cpu] [--seeds 3]

Trains what the notebook trains in FULL mode, with the reference functions, once per seed:
- the RealNVP on two moons: test NLL in nats per point (goal: at most 1.35; the mean over seeds);
- flow matching and 03's diffusion on two moons (same network, same steps): the energy distance
  to the test set after 1 to 100 network calls (Euler for flow matching, DDIM for diffusion), and
  the straightness of their 100-step paths (reported);
- 01's autoencoder, latent diffusion with classes, and classifier-free guidance at the notebook's
  default scale w = 1 (DDIM, 50 steps, 100 samples of each digit): the fraction the reference
  classifier assigns to the requested digit (goal: at least 0.90; the mean over seeds), and the
  same at w = 0 (reported).
Also reports the training and sampling times. Exits with status 1 if a goal fails.
"""
from __future__ import annotations

import argparse
import os
import sys
import time

os.environ.pop("COURSE_FAST", None)  # FULL mode: the configurations' defaults are read at creation

import torch  # noqa: E402

from course_utils import config, data, metrics  # noqa: E402
from course_utils.diffusion import ddim_sample, make_schedule  # noqa: E402
from course_utils.flow_matching import euler_sample, straightness, train_flow_matching  # noqa: E402
from course_utils.flows import Flow, FlowConfig, mean_nll, train_flow  # noqa: E402
from course_utils.latent_diffusion import (Guided, LatentDiffusionConfig, train_latent_diffusion,  # noqa: E402
                                           train_latent_space)
from course_utils.toy_diffusion import toy_config, train_toy_diffusion  # noqa: E402
from goals import report  # noqa: E402  (benchmarks/goals.py)

CALLS = (1, 2, 5, 10, 20, 50, 100)


def timed(fn):
    start = time.perf_counter()
    result = fn()
    return result, time.perf_counter() - start


def moons(seed: int, device: torch.device) -> dict:
    train, test = data.load("moons", "train").x.to(device), data.load("moons", "test").x
    config.seed_everything(seed)
    flow = Flow(FlowConfig())
    _, flow_s = timed(lambda: train_flow(flow, train, progress=False))
    nll = mean_nll(flow, test.to(device))
    toy = toy_config("moons")
    config.seed_everything(seed)
    (velocity, _), fm_s = timed(lambda: train_flow_matching(train, toy, progress=False))
    config.seed_everything(seed)
    (denoiser, _), dm_s = timed(lambda: train_toy_diffusion(train, toy, progress=False))
    alpha_bar = make_schedule(toy)[1]
    noise = torch.randn(2500, 2, generator=torch.Generator().manual_seed(seed + 1)).to(device)
    fm, ddim = {}, {}
    for calls in CALLS:
        path = euler_sample(velocity, noise, calls)
        fm[calls] = metrics.energy_distance(velocity.to_data(path[-1]).cpu(), test)
        drawn = ddim_sample(denoiser, (2500, 2), alpha_bar, calls, torch.Generator().manual_seed(seed + 1),
                            trajectory=calls == 100)
        ddim[calls] = metrics.energy_distance(denoiser.to_data(drawn.x).cpu(), test)
    return {"nll": nll, "flow_s": flow_s, "fm_s": fm_s, "dm_s": dm_s, "fm": fm, "ddim": ddim,
            "fm_straightness": straightness(path), "ddim_straightness": straightness(drawn.trajectory)}


def guidance(seed: int, device: torch.device) -> dict:
    train = data.load("digits", "train")
    config.seed_everything(seed)
    space, ae_s = timed(lambda: train_latent_space(train.x.to(device), progress=False))
    codes = space.encode(train.x.to(device))
    latent = LatentDiffusionConfig(p_uncond=0.1)
    config.seed_everything(seed)
    (model, _), train_s = timed(lambda: train_latent_diffusion(codes, train.y.to(device), latent, progress=False))
    alpha_bar = make_schedule(latent)[1]
    requested = torch.arange(10).repeat_interleave(100)
    classifier = metrics.digits_classifier()
    result = {"ae_s": ae_s, "train_s": train_s}
    for w in (0.0, 1.0):
        guided = Guided(model, requested.to(device), w)
        drawn, sample_s = timed(lambda: ddim_sample(guided, (len(requested), 8), alpha_bar, 50,
                                                    torch.Generator().manual_seed(seed + 4)))
        with torch.no_grad():
            result[w] = float((classifier(space.decode(drawn.x).cpu()).argmax(dim=1) == requested).float().mean())
        result["sample_s"] = sample_s
    return result


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", default=None, help="cpu, cuda or mps (default: the best available)")
    parser.add_argument("--seeds", type=int, default=3, help="training seeds 0, 1, ...; goals use the mean (default 3)")
    args = parser.parse_args()
    device = config.get_device(args.device)
    print(f"Notebook 04 quality, FULL mode, on {device} with {torch.get_num_threads()} CPU threads, "
          f"seeds 0..{args.seeds - 1}")
    runs = []
    for seed in range(args.seeds):
        run = moons(seed, device) | {"guided": guidance(seed, device)}
        runs.append(run)
        g = run["guided"]
        print(f"\nseed {seed}: RealNVP test NLL {run['nll']:.3f} nats/point (trained in {run['flow_s']:.1f} s); "
              f"flow matching {run['fm_s']:.1f} s, diffusion {run['dm_s']:.1f} s to train")
        print(f"  energy distance to the test set: {'calls':>5} {'flow matching':>14} {'DDIM':>8}")
        for calls in CALLS:
            print(f"  {'':>32}{calls:>5} {run['fm'][calls]:>14.4f} {run['ddim'][calls]:>8.4f}")
        print(f"  straightness of 100-step paths: flow matching {run['fm_straightness']:.2f}, "
              f"DDIM {run['ddim_straightness']:.2f}")
        print(f"  guidance: accuracy {g[0.0]:.3f} at w = 0, {g[1.0]:.3f} at w = 1 (autoencoder {g['ae_s']:.1f} s, "
              f"latent diffusion {g['train_s']:.1f} s, 1,000 guided samples {g['sample_s']:.1f} s)", flush=True)

    def mean(values):
        values = list(values)
        return sum(values) / len(values)

    nll = mean(r["nll"] for r in runs)
    accuracy = mean(r["guided"][1.0] for r in runs)
    fm10, ddim10 = mean(r["fm"][10] for r in runs), mean(r["ddim"][10] for r in runs)
    rows = [(f"two moons: RealNVP test NLL (mean of {len(runs)})", f"{nll:.3f}", "<= 1.35", nll <= 1.35),
            (f"guidance w = 1: requested digit (mean of {len(runs)})", f"{accuracy:.3f}", ">= 0.90", accuracy >= 0.90),
            ("guidance w = 0: requested digit", f"{mean(r['guided'][0.0] for r in runs):.3f}", "reported", True),
            ("two moons, 10 calls: energy distance FM / DDIM", f"{fm10:.4f} / {ddim10:.4f}", "reported", True),
            ("straightness of the paths FM / DDIM", f"{mean(r['fm_straightness'] for r in runs):.2f} / "
             f"{mean(r['ddim_straightness'] for r in runs):.2f}", "reported", True)]
    print()
    return report(rows)


if __name__ == "__main__":
    sys.exit(main())
