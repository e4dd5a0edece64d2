"""Metrics the course measures its models with.

- ``digits_classifier()``: a small reference classifier of 8x8 digits. Its weights
  ship with the package (70 KB, made by ``train_digits_classifier``; run
  ``python -m course_utils.metrics`` to make them again). It judges generated
  digits (``class_coverage``) and gives the feature space of ``digits_frechet_distance``.
- ``frechet_distance``: the distance between two Gaussians fitted to features (FID's formula).
- ``mode_coverage``: for samples of a 2-D mixture, how many modes are covered and
  what fraction of samples are high quality (within 3 std of their nearest mode).
- ``knn_accuracy`` and ``linear_probe_accuracy``: how much label information frozen features hold.
"""
from __future__ import annotations

import functools
from dataclasses import dataclass
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn


WEIGHTS = Path(__file__).parent / "assets" / "digits_classifier.pt"


class DigitsClassifier(nn.Module):
    """An MLP on 8x8 digits: 64 -> 128 -> 64 (features) -> 10 (logits)."""

    def __init__(self) -> None:
        super().__init__()
        self.body = nn.Sequential(nn.Flatten(), nn.Linear(64, 128), nn.ReLU(), nn.Linear(128, 64), nn.ReLU())
        self.head = nn.Linear(64, 10)

    def features(self, images: torch.Tensor) -> torch.Tensor:
        """(N, 1, 8, 8) images in [0, 1] -> (N, 64) features."""
        return self.body(images.reshape(-1, 1, 8, 8))

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        """(N, 1, 8, 8) images in [0, 1] -> (N, 10) logits."""
        return self.head(self.features(images))


def train_digits_classifier(steps: int = 1500, seed: int = 0) -> DigitsClassifier:
    """Train the reference classifier on the digits train split (full batch, Adam, seeded).

    Inputs get light noise and random shifts of one pixel, so the classifier also
    judges imperfect generated digits sensibly.
    """
    from .data import digits

    train = digits.load("train")
    with torch.random.fork_rng(devices=[]):  # leave the caller's random state untouched
        torch.manual_seed(seed)
        model = DigitsClassifier()
        optimizer = torch.optim.Adam(model.parameters(), lr=3e-3, weight_decay=1e-4)
        for _ in range(steps):
            shift = torch.randint(-1, 2, (2,)).tolist()
            x = torch.roll(train.x, shifts=shift, dims=(2, 3)) if torch.rand(()) < 0.5 else train.x
            x = (x + 0.05 * torch.randn_like(x)).clamp(0, 1)
            loss = F.cross_entropy(model(x), train.y)
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
    return model.eval().requires_grad_(False)


@functools.lru_cache(maxsize=1)
def _reference_digits_classifier() -> DigitsClassifier:
    if not WEIGHTS.exists():  # a source tree without the asset: train it (a few seconds)
        return train_digits_classifier()
    model = DigitsClassifier()
    model.load_state_dict(torch.load(WEIGHTS, map_location="cpu", weights_only=True))
    return model.eval().requires_grad_(False)


def digits_classifier(device: torch.device | str = "cpu") -> DigitsClassifier:
    """The reference digits classifier (about 97% test accuracy), frozen, on ``device``."""
    model = _reference_digits_classifier()
    return model if torch.device(device) == torch.device("cpu") else _copy_to(model, device)


@dataclass
class ClassCoverage:
    classes_covered: int  # how many of the 10 digits the classifier assigns to some sample
    mean_confidence: float  # mean of the classifier's top probability
    counts: list[int]  # samples assigned to each digit


@torch.no_grad()
def class_coverage(images: torch.Tensor) -> ClassCoverage:
    """Judge (N, 1, 8, 8) generated digits in [0, 1] with the reference classifier."""
    probs = digits_classifier(images.device)(images.float()).softmax(dim=1)  # (N, 10)
    confidence, predicted = probs.max(dim=1)
    counts = torch.bincount(predicted, minlength=10)
    return ClassCoverage(int((counts > 0).sum()), float(confidence.mean()), counts.tolist())


def frechet_distance(features_a: torch.Tensor, features_b: torch.Tensor) -> float:
    """||mu_a - mu_b||^2 + Tr(S_a + S_b - 2 (S_a S_b)^(1/2)) for (N, D) and (M, D) features."""
    a, b = features_a.double(), features_b.double()
    mu_a, mu_b = a.mean(0), b.mean(0)
    cov_a, cov_b = torch.atleast_2d(torch.cov(a.T)), torch.atleast_2d(torch.cov(b.T))  # (D, D), also for D = 1
    # Tr (S_a S_b)^(1/2) = sum of sqrt(eigenvalues of S_a^(1/2) S_b S_a^(1/2)), a symmetric matrix.
    vals, vecs = torch.linalg.eigh(cov_a)
    sqrt_a = vecs @ torch.diag(vals.clamp_min(0).sqrt()) @ vecs.T
    middle = sqrt_a @ cov_b @ sqrt_a
    trace_sqrt = torch.linalg.eigvalsh((middle + middle.T) / 2).clamp_min(0).sqrt().sum()
    return float((mu_a - mu_b).square().sum() + cov_a.trace() + cov_b.trace() - 2 * trace_sqrt)


@torch.no_grad()
def digits_frechet_distance(images_a: torch.Tensor, images_b: torch.Tensor) -> float:
    """Frechet distance between two sets of (N, 1, 8, 8) digits in the reference classifier's features."""
    model = digits_classifier(images_a.device)
    return frechet_distance(model.features(images_a.float()), model.features(images_b.to(images_a.device).float()))


def energy_distance(a: torch.Tensor, b: torch.Tensor) -> float:
    """2 E||a - b|| - E||a - a'|| - E||b - b'|| between two sets of points (N, D) and (M, D).

    Zero exactly when the two distributions are equal (Szekely and Rizzo, 2013); it sees both
    points in the wrong place and parts of the data left uncovered. Uses all pairs: keep N, M to a few thousand.
    """
    a, b = a.double(), b.to(a.device).double()
    return float(2 * torch.cdist(a, b).mean() - torch.cdist(a, a).mean() - torch.cdist(b, b).mean())


@torch.no_grad()
def digits_class_spread(images: torch.Tensor, labels: torch.Tensor) -> float:
    """How varied (N, 1, 8, 8) digits are within their classes: in the reference classifier's features,
    the mean squared distance of each image to the mean of its class (labels (N,)), averaged over classes.

    Divide by the same for real digits (e.g. the test set with its labels) to read it as a fraction.
    """
    features = digits_classifier(images.device).features(images.float())  # (N, F)
    labels = labels.to(images.device)
    spreads = [(features[labels == c] - features[labels == c].mean(dim=0)).square().sum(dim=1).mean()
               for c in labels.unique() if int((labels == c).sum()) > 1]
    return float(torch.stack(spreads).mean())


@dataclass
class ModeCoverage:
    modes_covered: int  # modes nearest to at least one high-quality sample
    n_modes: int
    high_quality: float  # fraction of samples within `threshold` std of their nearest mode


def mode_coverage(samples: torch.Tensor, centres: torch.Tensor, std: float, threshold: float = 3.0) -> ModeCoverage:
    """Mode coverage of (N, 2) samples of a mixture with (K, 2) ``centres`` and per-mode ``std``."""
    distances = torch.cdist(samples.float(), centres.to(samples.device).float())  # (N, K)
    nearest_distance, nearest = distances.min(dim=1)
    good = nearest_distance < threshold * std
    covered = torch.unique(nearest[good]).numel()
    return ModeCoverage(covered, len(centres), float(good.float().mean()) if len(samples) else 0.0)


@torch.no_grad()
def knn_accuracy(train_features: torch.Tensor, train_labels: torch.Tensor, test_features: torch.Tensor,
                 test_labels: torch.Tensor, k: int = 20, batch_size: int = 1024) -> float:
    """Accuracy of a k-nearest-neighbour vote under cosine similarity (majority of the k nearest)."""
    train = F.normalize(train_features.float(), dim=1)
    n_classes = int(train_labels.max()) + 1
    correct = 0
    for start in range(0, len(test_features), batch_size):  # batches keep the (B, N) matrix small
        query = F.normalize(test_features[start:start + batch_size].float(), dim=1)
        nearest = (query @ train.T).topk(min(k, len(train)), dim=1).indices  # (B, k)
        votes = F.one_hot(train_labels[nearest], n_classes).sum(dim=1)  # (B, C)
        correct += int((votes.argmax(dim=1) == test_labels[start:start + batch_size]).sum())
    return correct / len(test_features)


def linear_probe_accuracy(train_features: torch.Tensor, train_labels: torch.Tensor,
                          test_features: torch.Tensor, test_labels: torch.Tensor, c: float = 1.0) -> float:
    """Test accuracy of a logistic regression on standardised frozen features (scikit-learn, CPU)."""
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    probe = make_pipeline(StandardScaler(), LogisticRegression(C=c, max_iter=2000))
    probe.fit(train_features.detach().cpu().numpy(), train_labels.cpu().numpy())
    return float(probe.score(test_features.detach().cpu().numpy(), test_labels.cpu().numpy()))


def _copy_to(model: nn.Module, device: torch.device | str) -> nn.Module:
    copy = DigitsClassifier()
    copy.load_state_dict(model.state_dict())
    return copy.to(device).eval().requires_grad_(False)


if __name__ == "__main__":  # python -m course_utils.metrics: make the shipped weights again
    WEIGHTS.parent.mkdir(exist_ok=True)
    torch.save(train_digits_classifier().state_dict(), WEIGHTS)
    print(f"wrote {WEIGHTS} ({WEIGHTS.stat().st_size / 1024:.0f} KB)")
