"""course_utils.pca, .autoencoders and .vae: parity with closed forms and trusted libraries, short training runs."""
from __future__ import annotations

import math

import pytest
import torch
from sklearn.decomposition import PCA

from course_utils import data
from course_utils.autoencoders import (Autoencoder, AutoencoderConfig, corrupt, encode_all, reconstruction_mse,
                                       train_autoencoder)
from course_utils.pca import explained_variance_ratio, pca_fit, pca_project, pca_reconstruct, subspace_similarity
from course_utils.vae import (VAE, VAEConfig, evaluate_negative_elbo, interpolate, kl_to_standard_normal, latent_grid,
                              negative_elbo, reparameterise, train_vae, traverse)


@pytest.fixture(scope="module")
def digits() -> tuple[torch.Tensor, torch.Tensor]:
    return data.load("digits", "train").x.flatten(1), data.load("digits", "test").x.flatten(1)


# ---------------------------------------------------------------- PCA

def test_pca_matches_scikit_learn(digits):
    x = digits[0].double()
    mean, components = pca_fit(x, 10)
    reference = PCA(n_components=10, svd_solver="full").fit(x.numpy())
    assert torch.allclose(mean, torch.from_numpy(reference.mean_), atol=1e-10)
    # The same directions up to sign: |<c_i, r_i>| = 1.
    cosines = (components * torch.from_numpy(reference.components_)).sum(1).abs()
    assert torch.allclose(cosines, torch.ones(10, dtype=torch.float64), atol=1e-8)
    codes = pca_project(x, mean, components)
    assert torch.allclose(codes.abs(), torch.from_numpy(reference.transform(x.numpy())).abs(), atol=1e-8)
    assert torch.allclose(explained_variance_ratio(x)[:10], torch.from_numpy(reference.explained_variance_ratio_),
                          atol=1e-10)


def test_pca_rows_are_orthonormal_and_the_directions_those_of_minus_x():
    x = torch.randn(50, 7, dtype=torch.float64) * torch.linspace(3, 0.5, 7)
    _, components = pca_fit(x, 5)
    assert torch.allclose(components @ components.T, torch.eye(5, dtype=torch.float64), atol=1e-12)
    _, flipped = pca_fit(-x, 5)  # the same directions, each up to its sign (the notebook's pca_fit leaves it free)
    assert torch.allclose((flipped * components).sum(1).abs(), torch.ones(5, dtype=torch.float64), atol=1e-10)


def test_pca_with_every_component_reconstructs_exactly_and_fewer_lose_the_rest():
    x = torch.randn(30, 6, dtype=torch.float64)
    mean, components = pca_fit(x, 6)
    assert torch.allclose(pca_reconstruct(pca_project(x, mean, components), mean, components), x, atol=1e-12)
    mean, components = pca_fit(x, 3)
    error = ((pca_reconstruct(pca_project(x, mean, components), mean, components) - x) ** 2).sum()
    s = torch.linalg.svdvals(x - x.mean(0))
    assert torch.isclose(error, (s[3:] ** 2).sum())  # Eckart-Young: the discarded singular values


def test_subspace_similarity_ignores_the_basis():
    basis = torch.linalg.qr(torch.randn(10, 3, dtype=torch.float64)).Q.T  # (3, 10)
    mixed = torch.randn(3, 3, dtype=torch.float64) @ basis  # another basis of the same span
    assert torch.allclose(subspace_similarity(mixed, basis), torch.ones(3, dtype=torch.float64), atol=1e-10)
    other = torch.linalg.qr(torch.randn(10, 6, dtype=torch.float64)).Q.T
    assert subspace_similarity(other[:3], other[3:]).max() < 1e-10  # orthogonal spans


# ---------------------------------------------------------------- denoising corruption

def test_corrupt_adds_scaled_noise_and_clips():
    x = torch.tensor([[0.2, 0.9, 0.5]])
    assert torch.allclose(corrupt(x, 0.25, torch.tensor([[1.0, 1.0, -3.0]])), torch.tensor([[0.45, 1.0, 0.0]]))
    x = torch.full((400, 64), 0.5)
    noisy = corrupt(x, 0.1)
    assert abs(float(noisy.std()) - 0.1) < 0.01 and torch.equal(x, torch.full((400, 64), 0.5))
    assert ((corrupt(x, 5.0) >= 0) & (corrupt(x, 5.0) <= 1)).all()


# ---------------------------------------------------------------- VAE pieces

def test_reparameterise_is_mu_plus_sigma_eps_and_differentiable():
    mu = torch.randn(5, 3, dtype=torch.float64, requires_grad=True)
    log_var = torch.randn(5, 3, dtype=torch.float64, requires_grad=True)
    eps = torch.randn(5, 3, dtype=torch.float64)
    z = reparameterise(mu, log_var, eps)
    assert torch.allclose(z, mu + torch.exp(log_var / 2) * eps)
    z.sum().backward()
    assert torch.allclose(mu.grad, torch.ones_like(mu))
    assert torch.allclose(log_var.grad, 0.5 * torch.exp(log_var / 2) * eps)  # d z / d log_var


def test_reparameterised_draws_have_the_posterior_moments():
    torch.manual_seed(0)
    mu, log_var = torch.tensor([[-1.0, 2.0]]).repeat(50_000, 1), torch.tensor([[0.5, -1.0]]).repeat(50_000, 1)
    z = reparameterise(mu, log_var)
    assert torch.allclose(z.mean(0), mu[0], atol=0.03)
    assert torch.allclose(z.var(0), log_var[0].exp(), rtol=0.03)


def test_kl_matches_torch_distributions_and_vanishes_only_at_the_prior():
    mu, log_var = torch.randn(6, 4, dtype=torch.float64), 2 * torch.randn(6, 4, dtype=torch.float64)
    expected = torch.distributions.kl_divergence(torch.distributions.Normal(mu, (log_var / 2).exp()),
                                                 torch.distributions.Normal(0.0, 1.0)).sum(1)
    assert torch.allclose(kl_to_standard_normal(mu, log_var), expected)
    assert torch.equal(kl_to_standard_normal(torch.zeros(2, 3), torch.zeros(2, 3)), torch.zeros(2))
    assert (kl_to_standard_normal(mu, log_var) > 0).all()
    assert torch.autograd.gradcheck(kl_to_standard_normal, (mu.requires_grad_(), log_var.requires_grad_()))


def test_negative_elbo_matches_a_bernoulli_likelihood_and_stays_finite():
    logits, x = 3 * torch.randn(4, 10, dtype=torch.float64), torch.rand(4, 10, dtype=torch.float64)
    mu, log_var = torch.randn(4, 2, dtype=torch.float64), torch.randn(4, 2, dtype=torch.float64)
    log_px = torch.distributions.Bernoulli(logits=logits, validate_args=False).log_prob(x).sum(1)
    assert torch.allclose(negative_elbo(logits, x, mu, log_var), (-log_px + kl_to_standard_normal(mu, log_var)).mean())
    huge = negative_elbo(torch.tensor([[300.0, -300.0]]), torch.tensor([[0.0, 1.0]]), torch.zeros(1, 2),
                         torch.zeros(1, 2))
    assert torch.isclose(huge, torch.tensor(600.0))


# ---------------------------------------------------------------- models and training

def test_models_have_the_documented_shapes():
    x = torch.rand(5, 64)
    assert Autoencoder(AutoencoderConfig(latent_dim=3))(x).shape == (5, 64)
    linear = Autoencoder(AutoencoderConfig(latent_dim=3, linear=True))
    assert [type(m).__name__ for m in (*linear.encoder, *linear.decoder)] == ["Linear", "Linear"]
    vae = VAE(VAEConfig(latent_dim=4))
    logits, mu, log_var = vae(x)
    assert logits.shape == (5, 64) and mu.shape == log_var.shape == (5, 4)
    samples = vae.sample(7, torch.Generator().manual_seed(0))
    assert samples.shape == (7, 64) and ((samples >= 0) & (samples <= 1)).all()
    assert torch.equal(samples, vae.sample(7, torch.Generator().manual_seed(0)))
    assert encode_all(vae, x).shape == (5, 4) and torch.equal(encode_all(vae, x), vae.encode(x)[0])


def test_training_an_autoencoder_lowers_its_error(digits):
    torch.manual_seed(0)
    x, x_test = digits
    model = Autoencoder(AutoencoderConfig(latent_dim=8, steps=300))
    before = reconstruction_mse(model, x_test)
    history = train_autoencoder(model, x, progress=False)
    after = reconstruction_mse(model, x_test)
    assert len(history.loss) == 300 and after < 0.5 * before


def test_a_linear_autoencoder_finds_the_pca_subspace(digits):
    torch.manual_seed(0)
    x, x_test = digits
    model = Autoencoder(AutoencoderConfig(latent_dim=4, linear=True, batch_size=512, lr=5e-2, steps=1500))
    train_autoencoder(model, x, progress=False)
    mean, components = pca_fit(x, 4)
    pca_mse = float(((pca_reconstruct(pca_project(x_test, mean, components), mean, components) - x_test) ** 2).mean())
    assert reconstruction_mse(model, x_test) < 1.02 * pca_mse
    assert subspace_similarity(model.decoder[0].weight.detach().T, components).min() > 0.98


def test_a_denoising_autoencoder_trains_on_the_corruption_it_is_given(digits):
    calls = []

    def counting_corrupt(x, noise_std):
        calls.append(noise_std)
        return corrupt(x, noise_std)

    model = Autoencoder(AutoencoderConfig(latent_dim=8, noise_std=0.3, steps=20))
    train_autoencoder(model, digits[0], corrupt=counting_corrupt, progress=False)
    assert calls == [0.3] * 20


def test_training_a_vae_with_given_functions_lowers_the_negative_elbo(digits):
    torch.manual_seed(0)
    x, x_test = digits
    used = set()

    def spy(name, fn):
        def wrapped(*args):
            used.add(name)
            return fn(*args)
        return wrapped

    model = VAE(VAEConfig(latent_dim=4, steps=400))
    before = evaluate_negative_elbo(model, x_test)
    history = train_vae(model, x, spy("reparameterise", reparameterise), spy("negative_elbo", negative_elbo),
                        spy("kl", kl_to_standard_normal), progress=False)
    after = evaluate_negative_elbo(model, x_test)
    assert used == {"reparameterise", "negative_elbo", "kl"}
    assert set(history.values) == {"-ELBO", "KL"} and len(history["-ELBO"]) == 400
    assert after < 0.75 * before and math.isfinite(after)
    assert evaluate_negative_elbo(model, x_test, seed=3) == evaluate_negative_elbo(model, x_test, seed=3)


def test_latent_grid_traverse_and_interpolate_decode_the_right_codes():
    torch.manual_seed(0)
    vae2 = VAE(VAEConfig(latent_dim=2))
    grid = latent_grid(vae2, n=5)
    assert grid.shape == (25, 64)
    centre = torch.sigmoid(vae2.decode(torch.zeros(1, 2)))  # the middle of an odd grid is z = 0
    assert torch.allclose(grid[12], centre[0], atol=1e-6)
    with pytest.raises(ValueError, match="latent_dim=2"):
        latent_grid(VAE(VAEConfig(latent_dim=3)))

    vae = VAE(VAEConfig(latent_dim=3))
    z0, values = torch.tensor([0.5, -1.0, 2.0]), torch.tensor([-1.0, 0.0, 1.0, 2.0])
    strips = traverse(vae, z0, values)
    assert strips.shape == (12, 64)
    expected = z0.clone()
    expected[1] = values[2]  # row 1 moves coordinate 1; column 2 takes values[2]
    assert torch.allclose(strips[1 * 4 + 2], torch.sigmoid(vae.decode(expected[None]))[0], atol=1e-6)

    z_a, z_b = torch.randn(3), torch.randn(3)
    path = interpolate(vae, z_a, z_b, torch.tensor([0.0, 0.5, 1.0]))
    assert torch.allclose(path[0], torch.sigmoid(vae.decode(z_a[None]))[0], atol=1e-6)
    assert torch.allclose(path[1], torch.sigmoid(vae.decode(((z_a + z_b) / 2)[None]))[0], atol=1e-6)
    assert torch.allclose(path[2], torch.sigmoid(vae.decode(z_b[None]))[0], atol=1e-6)


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")
def test_the_models_train_on_the_device_of_their_data(digits):
    x = digits[0].cuda()
    ae = Autoencoder(AutoencoderConfig(latent_dim=8, steps=20))
    train_autoencoder(ae, x, progress=False)
    assert next(ae.parameters()).is_cuda and reconstruction_mse(ae, x) < 1
    vae = VAE(VAEConfig(latent_dim=8, steps=20))
    train_vae(vae, x, progress=False)
    assert vae.sample(4, torch.Generator().manual_seed(0)).is_cuda
    assert latent_grid(VAE(VAEConfig(latent_dim=2)).cuda(), n=3).is_cuda
    mean, components = pca_fit(x, 8)
    assert pca_project(x, mean, components).is_cuda
