"""Notebook 01's quality goals, measured in FULL mode on the embedded digits.

    python benchmarks/autoencoders_quality.py [--seeds 3] [--device cpu]

Trains exactly what the notebook trains in FULL mode (the default configurations
of ``course_utils.autoencoders`` and ``course_utils.vae``, with the reference
functions) once per seed, and prints a table: measured value, goal, pass or not.

- AE with an 8-d latent: test MSE per pixel at most 0.8 x that of PCA with 8 components.
- VAE (8-d latent) samples: the reference digits classifier assigns all 10 classes
  and its mean confidence is at least 0.7 (1,000 samples).
- The VAE's test negative ELBO, in nats per image (reported, no goal).
A goal passes when it holds for every seed; the table shows the worst seed.
"""
from __future__ import annotations

import argparse
import os
import sys
import time

os.environ.pop("COURSE_FAST", None)  # FULL mode: the configurations' defaults are read at creation

import torch  # noqa: E402

from course_utils import config, data, metrics  # noqa: E402
from course_utils.autoencoders import Autoencoder, AutoencoderConfig, reconstruction_mse, train_autoencoder  # noqa: E402
from course_utils.pca import pca_fit, pca_project, pca_reconstruct  # noqa: E402
from course_utils.vae import VAE, VAEConfig, evaluate_negative_elbo, train_vae  # noqa: E402
from goals import report  # noqa: E402  (benchmarks/goals.py)


def one_seed(seed: int, device: torch.device) -> dict[str, float]:
    x = data.load("digits", "train").x.flatten(1).to(device)  # (N, 64)
    x_test = data.load("digits", "test").x.flatten(1).to(device)
    mean, components = pca_fit(x, 8)
    pca_mse = float(((pca_reconstruct(pca_project(x_test, mean, components), mean, components) - x_test) ** 2).mean())
    config.seed_everything(seed)
    start = time.perf_counter()
    ae = Autoencoder(AutoencoderConfig(latent_dim=8))
    train_autoencoder(ae, x, progress=False)
    ae_seconds = time.perf_counter() - start
    config.seed_everything(seed)
    start = time.perf_counter()
    vae = VAE(VAEConfig(latent_dim=8))
    train_vae(vae, x, progress=False)
    vae_seconds = time.perf_counter() - start
    samples = vae.sample(1000, torch.Generator().manual_seed(seed)).view(-1, 1, 8, 8)
    coverage = metrics.class_coverage(samples)
    return {"pca_mse": pca_mse, "ae_mse": reconstruction_mse(ae, x_test), "classes": coverage.classes_covered,
            "confidence": coverage.mean_confidence, "nelbo": evaluate_negative_elbo(vae, x_test),
            "ae_seconds": ae_seconds, "vae_seconds": vae_seconds}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--device", default=None, help="cpu, cuda or mps (default: the best available)")
    args = parser.parse_args()
    device = config.get_device(args.device)
    runs = [one_seed(seed, device) for seed in range(args.seeds)]
    ratio = max(r["ae_mse"] / r["pca_mse"] for r in runs)
    classes = min(r["classes"] for r in runs)
    confidence = min(r["confidence"] for r in runs)
    nelbo = [r["nelbo"] for r in runs]
    rows = [
        ("AE-8 test MSE / PCA-8 test MSE", f"{ratio:.3f}", "<= 0.80", ratio <= 0.8),
        ("VAE samples: classes assigned", f"{classes}/10", "10/10", classes == 10),
        ("VAE samples: mean confidence", f"{confidence:.3f}", ">= 0.70", confidence >= 0.7),
        ("VAE test -ELBO (nats/image)", f"{sum(nelbo) / len(nelbo):.2f} (min {min(nelbo):.2f}, max {max(nelbo):.2f})",
         "reported", True),
        ("AE-8 training time (s)", f"{max(r['ae_seconds'] for r in runs):.1f}", "reported", True),
        ("VAE training time (s)", f"{max(r['vae_seconds'] for r in runs):.1f}", "reported", True),
    ]
    print(f"Notebook 01 quality, FULL mode, {args.seeds} seeds (worst seed shown), on {device} "
          f"with {torch.get_num_threads()} CPU threads")
    return report(rows)


if __name__ == "__main__":
    sys.exit(main())
