"""Tests for course_utils.metrics: mode coverage, Frechet distance, the digits classifier, probes."""
import math

import numpy as np
import pytest
import scipy.linalg
import torch

from course_utils import data, metrics
from course_utils.data import toy2d
from course_utils.metrics import (class_coverage, digits_classifier, digits_frechet_distance, frechet_distance,
                                  knn_accuracy, linear_probe_accuracy, mode_coverage)


@pytest.fixture(scope="module")
def digits_train():
    return data.load("digits", "train")


@pytest.fixture(scope="module")
def digits_test():
    return data.load("digits", "test")


@pytest.fixture(scope="module")
def noise_images():
    return torch.rand(300, 1, 8, 8, generator=torch.Generator().manual_seed(0))


# ---------------------------------------------------------------- mode_coverage

def test_ring8_exact_samples_cover_all_modes_with_gaussian_mass():
    points, _ = toy2d.sample("ring8", 20_000, torch.Generator().manual_seed(1))
    result = mode_coverage(points, toy2d.mode_centres("ring8"), toy2d.mode_std("ring8"))
    assert result.modes_covered == 8 and result.n_modes == 8
    # P(|z| < 3) for a 2-D standard Gaussian (Rayleigh distribution): 1 - exp(-9/2)
    assert result.high_quality == pytest.approx(1 - math.exp(-4.5), abs=0.005)


def test_threshold_changes_quality_as_rayleigh_cdf():
    points, _ = toy2d.sample("ring8", 20_000, torch.Generator().manual_seed(2))
    result = mode_coverage(points, toy2d.mode_centres("ring8"), toy2d.mode_std("ring8"), threshold=1.0)
    assert result.high_quality == pytest.approx(1 - math.exp(-0.5), abs=0.015)


def test_all_samples_on_one_mode_cover_one():
    centres = toy2d.mode_centres("ring8")
    std = toy2d.mode_std("ring8")
    points = centres[3] + std * torch.randn(500, 2, generator=torch.Generator().manual_seed(0))
    result = mode_coverage(points, centres, std)
    assert result.modes_covered == 1 and result.n_modes == 8
    assert result.high_quality > 0.95


def test_samples_far_from_every_mode_cover_nothing():
    centres = toy2d.mode_centres("ring8")
    points = torch.randn(300, 2, generator=torch.Generator().manual_seed(0)) * 0.1 + torch.tensor([10.0, -10.0])
    result = mode_coverage(points, centres, toy2d.mode_std("ring8"))
    assert result.modes_covered == 0
    assert result.high_quality == 0.0


def test_far_samples_do_not_count_toward_coverage():
    """A mode is covered only by a high-quality sample, not by a far one that happens to be nearest."""
    centres = torch.tensor([[0.0, 0.0], [10.0, 0.0]])
    points = torch.tensor([[0.01, 0.0], [9.0, 0.0]])  # the second is nearest to mode 1 but 10 std away
    result = mode_coverage(points, centres, std=0.1)
    assert result.modes_covered == 1
    assert result.high_quality == 0.5


def test_grid25_true_samples_cover_all():
    ds = data.load("grid25", "test")
    result = mode_coverage(ds.x, ds.info["centres"], ds.info["std"])
    assert (result.modes_covered, result.n_modes) == (25, 25)
    assert result.high_quality > 0.97


def test_mode_coverage_empty_samples():
    result = mode_coverage(torch.zeros(0, 2), toy2d.mode_centres("ring8"), 0.02)
    assert result.modes_covered == 0 and result.high_quality == 0.0


# ---------------------------------------------------------------- frechet_distance

def scipy_frechet(a: np.ndarray, b: np.ndarray) -> float:
    mu1, mu2 = a.mean(0), b.mean(0)
    s1, s2 = np.cov(a, rowvar=False), np.cov(b, rowvar=False)
    covmean = scipy.linalg.sqrtm(s1 @ s2)
    covmean = covmean.real
    return float(((mu1 - mu2) ** 2).sum() + np.trace(s1 + s2 - 2 * covmean))


def correlated(n, d, seed, shift=0.0):
    g = torch.Generator().manual_seed(seed)
    mix = torch.randn(d, d, generator=g, dtype=torch.float64)
    return torch.randn(n, d, generator=g, dtype=torch.float64) @ mix + shift


def test_identical_features_give_zero():
    x = correlated(500, 6, 0)
    assert abs(frechet_distance(x, x)) < 1e-8
    assert abs(frechet_distance(x.float(), x.float())) < 1e-4


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_parity_with_scipy(seed):
    a = correlated(400, 8, seed)
    b = correlated(300, 8, seed + 100, shift=0.3)
    got = frechet_distance(a, b)
    want = scipy_frechet(a.numpy(), b.numpy())
    assert want > 1
    assert got == pytest.approx(want, rel=1e-6)


def test_parity_with_scipy_float32_input():
    a, b = correlated(300, 5, 7), correlated(300, 5, 8)
    got = frechet_distance(a.float(), b.float())
    assert got == pytest.approx(scipy_frechet(a.float().double().numpy(), b.float().double().numpy()), rel=1e-6)


def test_closed_form_for_diagonal_gaussians():
    g = torch.Generator().manual_seed(0)
    n = 40_000
    mu1, mu2 = torch.tensor([0.0, 1.0, -1.0, 2.0]), torch.tensor([1.0, 1.0, 0.5, 2.0])
    sd1, sd2 = torch.tensor([1.0, 2.0, 0.5, 1.0]), torch.tensor([1.0, 0.5, 1.5, 3.0])
    a = mu1 + sd1 * torch.randn(n, 4, generator=g)
    b = mu2 + sd2 * torch.randn(n, 4, generator=g)
    # ||mu1 - mu2||^2 + sum (s1^2 + s2^2 - 2 s1 s2) = ||mu1 - mu2||^2 + ||sd1 - sd2||^2
    exact = float((mu1 - mu2).square().sum() + (sd1 - sd2).square().sum())
    assert exact == pytest.approx(3.25 + 7.25)
    assert frechet_distance(a, b) == pytest.approx(exact, rel=0.03)


def test_frechet_is_symmetric_and_nonnegative():
    a, b = correlated(200, 5, 11), correlated(250, 5, 12, shift=1.0)
    assert frechet_distance(a, b) == pytest.approx(frechet_distance(b, a), rel=1e-9)
    assert frechet_distance(a, b) > 0


def test_frechet_mean_shift_only():
    a = correlated(300, 4, 21)
    shift = torch.tensor([1.0, -2.0, 0.5, 0.0], dtype=torch.float64)
    assert frechet_distance(a, a + shift) == pytest.approx(float(shift.square().sum()), rel=1e-9)


def test_frechet_one_dimensional_features():
    a = torch.randn(500, 1, generator=torch.Generator().manual_seed(0), dtype=torch.float64)
    b = 2 * a + 3
    # 1-D: (mu_a - mu_b)^2 + (sd_a - sd_b)^2, with b an exact affine image of a
    expected = float((a.mean() - b.mean()) ** 2 + (a.std() - b.std()) ** 2)
    assert frechet_distance(a, b) == pytest.approx(expected, rel=1e-9)


# ---------------------------------------------------------------- the digits classifier

def test_digits_classifier_accuracy(digits_test):
    model = digits_classifier()
    with torch.no_grad():
        predicted = model(digits_test.x).argmax(dim=1)
    assert float((predicted == digits_test.y).float().mean()) >= 0.95


def test_digits_classifier_is_frozen_and_cached():
    model = digits_classifier()
    assert isinstance(model, metrics.DigitsClassifier)
    assert not model.training
    assert all(not p.requires_grad for p in model.parameters())
    assert digits_classifier() is model
    assert digits_classifier("cpu") is model


def test_digits_classifier_features_shape(digits_test):
    model = digits_classifier()
    with torch.no_grad():
        features = model.features(digits_test.x[:17])
        assert features.shape == (17, 64)
        assert (features >= 0).all()  # after a ReLU
        # the logits are the head applied to the features
        torch.testing.assert_close(model(digits_test.x[:17]), model.head(features))
        # flat (N, 64) inputs are reshaped to images
        torch.testing.assert_close(model.features(digits_test.x[:17].reshape(17, 64)), features)


def test_train_digits_classifier_keeps_rng_and_learns(digits_test):
    torch.manual_seed(1234)
    state = torch.random.get_rng_state()
    model = metrics.train_digits_classifier(steps=150)
    assert torch.equal(torch.random.get_rng_state(), state)
    assert all(not p.requires_grad for p in model.parameters()) and not model.training
    with torch.no_grad():
        accuracy = float((model(digits_test.x).argmax(1) == digits_test.y).float().mean())
    assert accuracy >= 0.85


def test_class_coverage_of_real_digits(digits_test):
    result = class_coverage(digits_test.x)
    assert result.classes_covered == 10
    assert result.mean_confidence >= 0.9
    assert len(result.counts) == 10
    assert sum(result.counts) == len(digits_test)
    # each digit is about a tenth of the test split
    assert all(25 <= c <= 45 for c in result.counts)


def test_class_coverage_counts_single_class(digits_test):
    sevens = digits_test.x[digits_test.y == 7]
    result = class_coverage(sevens)
    assert result.counts[7] >= 0.9 * len(sevens)
    assert result.classes_covered <= 3
    assert sum(result.counts) == len(sevens)


def test_class_coverage_noise_is_less_confident(digits_test, noise_images):
    real = class_coverage(digits_test.x)
    noise = class_coverage(noise_images)
    assert sum(noise.counts) == len(noise_images)
    assert 0.1 <= noise.mean_confidence <= 1.0
    assert noise.mean_confidence < real.mean_confidence - 0.1


def test_digits_frechet_distance(digits_train, digits_test, noise_images):
    same_distribution = digits_frechet_distance(digits_train.x, digits_test.x)
    to_noise = digits_frechet_distance(digits_train.x, noise_images)
    assert same_distribution >= 0
    assert to_noise > 10 * same_distribution
    assert abs(digits_frechet_distance(digits_test.x, digits_test.x)) < 1e-6


def test_digits_frechet_distance_uses_classifier_features(digits_train, digits_test):
    model = digits_classifier()
    with torch.no_grad():
        want = frechet_distance(model.features(digits_train.x), model.features(digits_test.x))
    assert digits_frechet_distance(digits_train.x, digits_test.x) == pytest.approx(want, rel=1e-9)


# ---------------------------------------------------------------- probes

def clusters(n_per_class, n_classes, seed, spread=0.3):
    g = torch.Generator().manual_seed(seed)
    directions = torch.eye(n_classes, 8) * 5  # orthogonal directions: far apart in angle too
    labels = torch.arange(n_classes).repeat_interleave(n_per_class)
    features = directions[labels] + spread * torch.randn(len(labels), 8, generator=g)
    return features, labels


def test_knn_accuracy_on_separated_clusters():
    train_x, train_y = clusters(50, 4, 0)
    test_x, test_y = clusters(20, 4, 1)
    assert knn_accuracy(train_x, train_y, test_x, test_y, k=5) == 1.0


def test_knn_accuracy_batches_do_not_change_result():
    train_x, train_y = clusters(30, 3, 2, spread=3.0)
    test_x, test_y = clusters(40, 3, 3, spread=3.0)
    one = knn_accuracy(train_x, train_y, test_x, test_y, k=7, batch_size=1024)
    many = knn_accuracy(train_x, train_y, test_x, test_y, k=7, batch_size=7)
    assert one == many
    assert 0.34 < one < 1.0  # noisy clusters: better than chance, not perfect


def test_knn_accuracy_matches_sklearn_on_cosine():
    from sklearn.neighbors import KNeighborsClassifier

    train_x, train_y = clusters(30, 3, 4, spread=4.0)
    test_x, test_y = clusters(30, 3, 5, spread=4.0)
    knn = KNeighborsClassifier(n_neighbors=1, metric="cosine").fit(train_x.numpy(), train_y.numpy())
    assert knn_accuracy(train_x, train_y, test_x, test_y, k=1) == pytest.approx(
        knn.score(test_x.numpy(), test_y.numpy()))


def test_knn_accuracy_random_labels_is_about_chance():
    g = torch.Generator().manual_seed(0)
    train_x, test_x = torch.randn(400, 16, generator=g), torch.randn(300, 16, generator=g)
    train_y, test_y = torch.randint(2, (400,), generator=g), torch.randint(2, (300,), generator=g)
    assert knn_accuracy(train_x, train_y, test_x, test_y, k=20) < 0.7


def test_knn_k_larger_than_train_set():
    train_x, train_y = clusters(2, 2, 6)
    test_x, test_y = clusters(5, 2, 7)
    # k=3 of 4 training points: the majority is still the right class
    assert knn_accuracy(train_x, train_y, test_x, test_y, k=50) in (0.0, 0.5, 1.0)
    assert knn_accuracy(train_x, train_y, test_x, test_y, k=3) == 1.0


def test_linear_probe_on_separable_features():
    g = torch.Generator().manual_seed(0)
    w = torch.randn(6, generator=g)

    def make(n):
        x = torch.randn(n, 6, generator=g) * torch.tensor([1.0, 5.0, 0.1, 2.0, 1.0, 3.0])
        margin = x @ w
        keep = margin.abs() > 0.5
        return x[keep], (margin[keep] > 0).long()

    (train_x, train_y), (test_x, test_y) = make(600), make(400)
    assert linear_probe_accuracy(train_x, train_y, test_x, test_y) >= 0.95


def test_linear_probe_random_labels_near_chance():
    g = torch.Generator().manual_seed(1)
    train_x, test_x = torch.randn(300, 5, generator=g), torch.randn(300, 5, generator=g)
    train_y, test_y = torch.randint(2, (300,), generator=g), torch.randint(2, (300,), generator=g)
    assert linear_probe_accuracy(train_x, train_y, test_x, test_y) < 0.65
