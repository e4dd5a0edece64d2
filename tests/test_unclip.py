"""Notebook 06's unCLIP decoder: the PCA latent space, the v loss, guidance, generation, devices, a short training run."""
from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from course_utils.data import shapes
from course_utils.diffusion import ddim_sample
from course_utils.pca import pca_fit, subspace_similarity
from course_utils.unclip import (CaptionDenoiser, PCASpace, TextGuided, UnCLIPConfig, generate, train_decoder,
                                 v_loss)

torch.set_num_threads(1)
TINY = UnCLIPConfig(condition_dim=16, components=16, hidden=32, blocks=1, time_dim=16, steps=5, sample_steps=4)


@pytest.fixture(scope="module")
def images() -> torch.Tensor:
    return shapes.generate(96, seed=3).x  # (96, 3, 32, 32)


def embeddings(n: int, d: int = 16, seed: int = 0) -> torch.Tensor:
    """(n, d) random unit vectors, stand-ins for CLIP text embeddings."""
    return F.normalize(torch.randn(n, d, generator=torch.Generator().manual_seed(seed)), dim=1)


@pytest.fixture(scope="module")
def decoder(images):
    torch.manual_seed(0)
    return train_decoder(images, embeddings(len(images)), TINY, progress=False)


# ---------------------------------------------------------------- the latent space

def test_pca_space_spans_the_principal_subspace_and_round_trips(images):
    torch.manual_seed(0)
    space = PCASpace(images, components=10, whitening=0.75)
    _, reference = pca_fit(images.flatten(1), 10)  # 01's PCA, by the full SVD
    assert subspace_similarity(space.directions, reference).min() > 0.99
    assert torch.allclose(space.directions @ space.directions.T, torch.eye(10), atol=1e-5)
    codes = space.encode(images)
    assert codes.shape == (96, 10) and float(codes.pow(2).mean()) == pytest.approx(1.0, rel=1e-4)  # variance 1 overall
    assert space.decode(codes).shape == images.shape
    full = PCASpace(images, components=95, whitening=1.0)  # all the directions the 96 images span
    assert torch.allclose(full.encode(images).pow(2).mean(dim=0), torch.ones(95), atol=1e-3)  # unit variance each
    assert torch.allclose(full.decode(full.encode(images)), images, atol=1e-3)
    with pytest.raises(ValueError, match="components"):
        PCASpace(images[:8], components=8, whitening=1.0)


# ---------------------------------------------------------------- the denoiser, the loss, guidance

def test_eps_from_v_and_v_agree_on_the_predicted_z0():
    denoiser = CaptionDenoiser(TINY)
    z_t, t, c = torch.randn(6, 16), torch.tensor([0, 10, 200, 500, 900, 999]), embeddings(6)
    ab = denoiser.alpha_bar[t][:, None]
    v, eps = denoiser.velocity(z_t, t, c), denoiser(z_t, t, c)
    from_eps = (z_t - (1 - ab).sqrt() * eps) / ab.sqrt()
    from_v = ab.sqrt() * z_t - (1 - ab).sqrt() * v  # z_0 = sqrt(alpha_bar) z_t - sqrt(1 - alpha_bar) v
    assert torch.allclose(from_eps[:5], from_v[:5], atol=1e-4)  # t = 999: alpha_bar ~ 1e-9, eps barely sees v


def test_v_loss_is_zero_for_the_true_v_and_one_for_a_zero_prediction():
    class Oracle(CaptionDenoiser):  # knows z_0 = 0, so v = sqrt(alpha_bar) eps = sqrt(alpha_bar) z_t / sqrt(1 - alpha_bar)
        def velocity(self, z_t, t, condition=None):
            ab = self.alpha_bar[t][:, None]
            return ab.sqrt() * z_t / (1 - ab).sqrt()

    torch.manual_seed(0)
    assert float(v_loss(Oracle(TINY), torch.zeros(512, 16), None)) == pytest.approx(0.0, abs=1e-6)

    class Zero(CaptionDenoiser):
        def velocity(self, z_t, t, condition=None):
            return torch.zeros_like(z_t)

    # with unit-variance z_0 independent of eps, E|v|^2 = alpha_bar + (1 - alpha_bar) = 1
    assert float(v_loss(Zero(TINY), torch.randn(4096, 16), None)) == pytest.approx(1.0, rel=0.05)


def test_guidance_zero_is_the_conditional_prediction_and_minus_one_the_unconditional():
    torch.manual_seed(0)
    denoiser = CaptionDenoiser(TINY).eval()
    with torch.no_grad():
        denoiser.null.normal_()  # a "no caption" embedding unlike the captions
    z_t, t, c = torch.randn(5, 16), torch.randint(1000, (5,)), embeddings(5)
    with torch.no_grad():
        conditional, unconditional = denoiser(z_t, t, c), denoiser(z_t, t)
        assert torch.allclose(TextGuided(denoiser, c, 0.0)(z_t, t), conditional, atol=1e-6)
        assert torch.allclose(TextGuided(denoiser, c, -1.0)(z_t, t), unconditional, atol=1e-6)
        guided = TextGuided(denoiser, c, 2.0)(z_t, t)
        assert torch.allclose(guided, conditional + 2.0 * (conditional - unconditional), atol=1e-5)
        assert not torch.allclose(conditional, unconditional, atol=1e-3)


def test_generate_with_guidance_zero_follows_the_conditional_model_alone(decoder):
    c = embeddings(4, seed=1)

    class Conditional(torch.nn.Module):  # model(z_t, t) of the conditional prediction, no "no caption" half
        def __init__(self):
            super().__init__()
            self.denoiser = decoder.denoiser

        def forward(self, z_t, t):
            return self.denoiser(z_t, t, c)

    expected = ddim_sample(Conditional(), (4, TINY.components), decoder.denoiser.alpha_bar, TINY.sample_steps,
                           generator=torch.Generator().manual_seed(5)).x
    images = generate(decoder, c, 0.0, generator=torch.Generator().manual_seed(5))
    assert torch.allclose(images, decoder.space.decode(expected), atol=1e-5)


# ---------------------------------------------------------------- generation and training

def test_generate_gives_images_in_range_deterministically_under_a_generator(decoder):
    c = embeddings(7, seed=2)
    images = generate(decoder, c, 2.0, generator=torch.Generator().manual_seed(0))
    assert images.shape == (7, 3, 32, 32) and images.dtype == torch.float32
    assert images.min() >= 0 and images.max() <= 1
    again = generate(decoder, c, 2.0, generator=torch.Generator().manual_seed(0))
    other = generate(decoder, c, 2.0, generator=torch.Generator().manual_seed(1))
    assert torch.equal(images, again)
    assert not torch.allclose(images, other)
    assert generate(decoder, c[:1], 2.0).shape == (1, 3, 32, 32)  # no generator: torch's global one


def test_train_decoder_checks_the_condition_and_returns_its_history(images, decoder):
    assert len(decoder.history.loss) == TINY.steps and not decoder.training
    with pytest.raises(ValueError, match="condition"):
        train_decoder(images, embeddings(len(images) - 1), TINY, progress=False)
    with pytest.raises(ValueError, match="condition"):
        train_decoder(images, embeddings(len(images), d=8), TINY, progress=False)


def test_a_short_training_run_lowers_the_loss(images):
    torch.manual_seed(0)
    attrs = shapes.generate(96, seed=3).info["attributes"]
    # the caption stand-in: one direction per colour, so the condition tells something about the image
    condition = F.normalize(torch.eye(16)[attrs["colour"]] + 0.1 * embeddings(96), dim=1)
    config = UnCLIPConfig(condition_dim=16, components=16, hidden=64, blocks=2, steps=200, batch_size=64, lr=2e-3)
    decoder = train_decoder(images, condition, config, progress=False)
    loss = decoder.history.loss
    first, last = sum(loss[:20]) / 20, sum(loss[-20:]) / 20
    assert last < 0.8 * first, (first, last)


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")
def test_decoder_trains_and_generates_on_cuda(images):
    device = torch.device("cuda")
    torch.manual_seed(0)
    decoder = train_decoder(images.to(device), embeddings(len(images)).to(device), TINY, progress=False)
    assert next(decoder.parameters()).device.type == "cuda" and decoder.space.mean.device.type == "cuda"
    c = embeddings(3, seed=4)  # on the CPU: generate moves it to the decoder's device
    on_gpu = generate(decoder, c, 1.0, generator=torch.Generator(device).manual_seed(0))
    from_cpu_noise = generate(decoder, c.to(device), 1.0, generator=torch.Generator().manual_seed(0))
    assert on_gpu.device.type == "cuda" and from_cpu_noise.device.type == "cuda"
    assert on_gpu.shape == (3, 3, 32, 32) and 0 <= float(on_gpu.min()) and float(on_gpu.max()) <= 1
    again = generate(decoder, c, 1.0, generator=torch.Generator(device).manual_seed(0))
    assert torch.allclose(on_gpu, again, atol=1e-5)
