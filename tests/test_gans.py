"""course_utils.gans and .dcgan: losses against closed forms, the step's gradients, batched seeds, short training."""
from __future__ import annotations

import copy

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from course_utils import data, metrics
from course_utils.dcgan import DCDiscriminator, DCGANConfig, DCGenerator, train_dcgan
from course_utils.gans import (SeedLinear, ToyDiscriminator, ToyGANConfig, ToyGenerator, coverage_per_seed,
                               discriminator_loss, gan_step, generator_loss_minimax, generator_loss_non_saturating,
                               mixture_sampler, toy_configs, train_toy_gan)


# ---------------------------------------------------------------- losses

def test_discriminator_loss_is_the_binary_cross_entropy_and_stays_finite():
    real, fake = 5 * torch.randn(7, 1), 5 * torch.randn(4, 1)
    expected = (F.binary_cross_entropy_with_logits(real, torch.ones_like(real))
                + F.binary_cross_entropy_with_logits(fake, torch.zeros_like(fake)))
    assert torch.allclose(discriminator_loss(real, fake), expected, atol=1e-6)
    # By the formula with probabilities, where it is finite.
    d_real, d_fake = torch.sigmoid(real.double()), torch.sigmoid(fake.double())
    by_hand = -(d_real.log().mean() + (1 - d_fake).log().mean())
    assert torch.allclose(discriminator_loss(real.double(), fake.double()), by_hand)
    assert torch.isfinite(discriminator_loss(torch.tensor([-1000.0]), torch.tensor([1000.0])))


def test_generator_losses_match_their_formulas_and_gradients():
    logits = torch.linspace(-6, 6, 13, dtype=torch.float64, requires_grad=True)
    d = torch.sigmoid(logits)
    assert torch.allclose(generator_loss_minimax(logits), (1 - d).log().mean())
    assert torch.allclose(generator_loss_non_saturating(logits), -d.log().mean())
    # d/dl of the per-sample losses: minimax -D, non-saturating -(1 - D) (the notebook's figure).
    (g_mm,) = torch.autograd.grad(generator_loss_minimax(logits) * 13, logits)
    (g_ns,) = torch.autograd.grad(generator_loss_non_saturating(logits) * 13, logits)
    assert torch.allclose(g_mm, -d.detach())
    assert torch.allclose(g_ns, -(1 - d.detach()))


def test_the_optimal_discriminator_value_is_minus_two_log_two_at_equilibrium():
    # With p_G = p_data, D* = 1/2 everywhere: L_D = 2 log 2 (Goodfellow et al., theorem 1).
    half = torch.zeros(10)
    assert torch.isclose(discriminator_loss(half, half), 2 * torch.log(torch.tensor(2.0)))


# ---------------------------------------------------------------- the step

def _tiny_pair(seed: int = 0):
    torch.manual_seed(seed)
    g = nn.Sequential(nn.Linear(3, 8), nn.ReLU(), nn.Linear(8, 2))
    d = nn.Sequential(nn.Linear(2, 8), nn.LeakyReLU(0.2), nn.Linear(8, 1))
    return g, d


def test_gan_step_updates_d_on_detached_fakes_then_g_through_the_new_d():
    g, d = _tiny_pair()
    real, z = torch.randn(16, 2), torch.randn(16, 3)
    g0, d0 = copy.deepcopy(g), copy.deepcopy(d)
    # The expected update, by hand, with SGD(lr=0.1).
    fake = g0(z).detach()
    d_loss = discriminator_loss(d0(real), d0(fake))
    d_grads = torch.autograd.grad(d_loss, list(d0.parameters()))
    with torch.no_grad():
        for p, grad in zip(d0.parameters(), d_grads):
            p -= 0.1 * grad
    g_loss = generator_loss_non_saturating(d0(g0(z)))
    g_grads = torch.autograd.grad(g_loss, list(g0.parameters()))
    with torch.no_grad():
        for p, grad in zip(g0.parameters(), g_grads):
            p -= 0.1 * grad

    losses = gan_step(g, d, torch.optim.SGD(g.parameters(), lr=0.1), torch.optim.SGD(d.parameters(), lr=0.1), real, z)
    assert set(losses) == {"D loss", "G loss"}
    assert torch.isclose(losses["D loss"], d_loss.detach())
    for mine, want in zip(list(g.parameters()) + list(d.parameters()), list(g0.parameters()) + list(d0.parameters())):
        assert torch.allclose(mine, want, atol=1e-6)


def test_gan_step_leaves_no_gradient_on_g_when_d_steps():
    g, d = _tiny_pair(1)
    seen = {}

    class Recording(torch.optim.SGD):
        def step(self, closure=None):
            seen[self.name] = [p.grad is not None and bool(p.grad.abs().sum() > 0) for p in g.parameters()]
            return super().step(closure)

    g_opt, d_opt = Recording(g.parameters(), lr=0.1), Recording(d.parameters(), lr=0.1)
    g_opt.name, d_opt.name = "G", "D"
    gan_step(g, d, g_opt, d_opt, torch.randn(8, 2), torch.randn(8, 3))
    assert seen["D"] == [False] * 4  # the fakes were detached
    assert seen["G"] == [True] * 4


# ---------------------------------------------------------------- S GANs at once

def test_seed_linear_is_s_independent_linear_layers():
    layer = SeedLinear(3, 4, 5)
    x = torch.randn(3, 7, 4)
    out = layer(x)
    for s in range(3):
        assert torch.allclose(out[s], x[s] @ layer.weight[s] + layer.bias[s], atol=1e-6)
    assert not torch.allclose(layer.weight[0], layer.weight[1])  # each GAN its own initialisation


def test_seeds_train_independently():
    # The gradient of the mean loss of S GANs, for GAN s, is GAN s's own gradient divided by S.
    config = ToyGANConfig(seeds=3, steps=1)
    gen, disc = ToyGenerator(config), ToyDiscriminator(config)
    z, real = torch.randn(3, 16, 2), torch.randn(3, 16, 2)
    discriminator_loss(disc(real), disc(gen(z).detach())).backward()
    together = disc.net[0].weight.grad.clone()
    for s in range(3):
        disc.zero_grad()
        discriminator_loss(disc(real)[s], disc(gen(z).detach())[s]).backward()
        assert torch.allclose(together[s] * 3, disc.net[0].weight.grad[s], atol=1e-6)


def test_packing_judges_pairs_and_needs_an_even_batch():
    config = ToyGANConfig(seeds=2, pack=2)
    disc = ToyDiscriminator(config)
    assert disc(torch.randn(2, 8, 2)).shape == (2, 4, 1)
    with pytest.raises(ValueError, match="multiple of 2"):
        disc(torch.randn(2, 7, 2))


def test_toy_configs_define_the_plain_gan_and_two_remedies():
    for dataset in ("ring8", "grid25"):
        settings = toy_configs(dataset)
        assert list(settings) == ["plain GAN", "tuned training", "tuned + PacGAN-2"]
        assert settings["tuned + PacGAN-2"].pack == 2 and settings["tuned training"].pack == 1
        assert settings["plain GAN"].d_hidden < settings["tuned training"].d_hidden


def test_a_short_run_moves_the_samples_onto_the_ring():
    # 600 steps of the tuned setting on the ring of 8: far more high-quality samples than at initialisation.
    info = data.load("ring8", "train").info
    config = toy_configs("ring8")["tuned training"]
    torch.manual_seed(0)
    before = sum(r.high_quality for r in coverage_per_seed(ToyGenerator(config), info["centres"], info["std"]))
    config.steps = 600
    generator, history, snapshots = train_toy_gan(config, info["centres"], info["std"], snapshot_every=300,
                                                  progress=False)
    after = coverage_per_seed(generator, info["centres"], info["std"])
    assert sum(r.high_quality for r in after) > before + 0.5
    assert sorted(snapshots) == [1, 300, 600] and snapshots[600].shape == (3, 1000, 2)
    assert len(history["D loss"]) == 600 and len(history["G loss"]) == 600


def test_mixture_sampler_draws_around_the_centres():
    centres = torch.tensor([[0.0, 0.0], [10.0, 0.0]])
    points = mixture_sampler(centres, 0.1, seeds=2)(500)
    assert points.shape == (2, 500, 2)
    nearest = torch.cdist(points.reshape(-1, 2), centres).min(1).values
    assert nearest.max() < 0.6


# ---------------------------------------------------------------- DCGAN

def test_dcgan_shapes():
    config = DCGANConfig(steps=1)
    assert DCGenerator(config)(torch.randn(5, config.latent_dim)).shape == (5, 1, 8, 8)
    assert DCDiscriminator(config)(torch.rand(5, 1, 8, 8)).shape == (5, 1)


def test_a_short_dcgan_run_makes_digit_like_samples():
    torch.manual_seed(0)
    images = data.load("digits", "train").x
    generator, history, _ = train_dcgan(images, DCGANConfig(steps=400), progress=False)
    judged = metrics.class_coverage(generator.sample(300, torch.Generator().manual_seed(0)))
    untrained = metrics.class_coverage(DCGenerator(DCGANConfig()).sample(300, torch.Generator().manual_seed(0)))
    assert judged.mean_confidence > untrained.mean_confidence + 0.15
    assert judged.classes_covered >= 6


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")
def test_gans_train_on_the_gpu():
    info = data.load("grid25", "train").info
    config = ToyGANConfig(steps=50)
    generator, _, _ = train_toy_gan(config, info["centres"], info["std"], device="cuda", progress=False)
    assert generator.net[0].weight.device.type == "cuda"
    assert len(coverage_per_seed(generator, info["centres"], info["std"])) == 3
    dcgan, _, _ = train_dcgan(data.load("digits", "train").x.cuda(), DCGANConfig(steps=20), progress=False)
    assert dcgan.sample(4).device.type == "cuda"
