"""course_utils.diffusion and .unet: schedule, q_sample, loss, steps and samplers against closed forms; training."""
from __future__ import annotations

import math

import pytest
import torch
from torch import nn

from course_utils import data, metrics
from course_utils.diffusion import (Samples, alpha_bar, betas_from_alpha_bar, cosine_alpha_bar, ddim_sample, ddim_step,
                                    ddim_timesteps, ddpm_loss, ddpm_sample, ddpm_step, linear_betas, make_schedule,
                                    predict_noise, q_sample, timestep_embedding, train_diffusion)
from course_utils.toy_diffusion import ToyDenoiser, ToyDiffusionConfig, toy_config, train_toy_diffusion
from course_utils.unet import DigitsDenoiser, DigitsDiffusionConfig, train_digits_diffusion

T = 1000


class GaussianOracle(nn.Module):
    """The exact E[eps | x_t] when the data are N(mean, std^2) in every coordinate: the best possible denoiser.

    x_t = sqrt(ab) x_0 + sqrt(1 - ab) eps is Gaussian too, so E[eps | x_t] is linear in x_t:
    sqrt(1 - ab) (x_t - sqrt(ab) mean) / (ab std^2 + 1 - ab).
    """

    def __init__(self, alpha_bar: torch.Tensor, mean: float, std: float) -> None:
        super().__init__()
        self.register_buffer("alpha_bar", alpha_bar)
        self.mean, self.std, self.calls = mean, std, 0

    def forward(self, x_t: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        self.calls += 1
        ab = self.alpha_bar[t].reshape(-1, *[1] * (x_t.dim() - 1))
        return (1 - ab).sqrt() * (x_t - ab.sqrt() * self.mean) / (ab * self.std**2 + 1 - ab)


# ---------------------------------------------------------------- schedules

def test_linear_schedule_has_ho_et_al_endpoints_and_alpha_bar_is_the_cumulative_product():
    betas = linear_betas(T)
    assert betas.shape == (T,)
    assert math.isclose(float(betas[0]), 1e-4, rel_tol=1e-6) and math.isclose(float(betas[-1]), 0.02, rel_tol=1e-6)
    assert torch.all(betas[1:] > betas[:-1])
    ab = alpha_bar(betas)
    assert torch.allclose(ab[:3], torch.tensor([1 - 1e-4, (1 - 1e-4) * (1 - betas[1]),
                                                (1 - 1e-4) * (1 - betas[1]) * (1 - betas[2])]))
    assert torch.all(ab[1:] < ab[:-1]) and torch.all((ab > 0) & (ab < 1))
    assert float(ab[-1]) < 1e-4  # x_T is pure noise, to 4 decimals
    small = alpha_bar(linear_betas(5, 0.1, 0.5))
    assert torch.allclose(small, torch.tensor([0.9, 0.9 * 0.8, 0.9 * 0.8 * 0.7, 0.9 * 0.8 * 0.7 * 0.6,
                                               0.9 * 0.8 * 0.7 * 0.6 * 0.5]))


def test_cosine_schedule_follows_its_formula_and_keeps_more_signal_than_the_linear_one():
    ab = cosine_alpha_bar(T)
    assert ab.shape == (T,)
    assert torch.all(ab[1:] < ab[:-1]) and torch.all((ab > 0) & (ab < 1))
    f = lambda t: math.cos((t / T + 0.008) / 1.008 * math.pi / 2) ** 2  # noqa: E731
    for t in (0, 250, 500, 900):  # alpha_bar_t = f(t + 1) / f(0) with steps counted from 0
        assert math.isclose(float(ab[t]), f(t + 1) / f(0), rel_tol=1e-4)
    assert float(ab[T // 2]) == pytest.approx(0.5, abs=0.03)  # about half the signal at half time
    assert float(ab[T // 2]) > 5 * float(alpha_bar(linear_betas(T))[T // 2])
    betas = betas_from_alpha_bar(ab)
    assert float(betas.max()) <= 0.999 + 1e-6 and float(betas.min()) > 0
    assert torch.allclose(alpha_bar(betas), ab, rtol=1e-4, atol=1e-7)


@pytest.mark.parametrize("schedule", ["linear", "cosine"])
def test_make_schedule_returns_matching_betas_and_alpha_bar(schedule):
    betas, ab = make_schedule(ToyDiffusionConfig(schedule=schedule))
    assert betas.shape == ab.shape == (T,)
    assert torch.allclose(alpha_bar(betas), ab, rtol=1e-4, atol=1e-7)
    with pytest.raises(ValueError, match="linear"):
        make_schedule(ToyDiffusionConfig(schedule="quadratic"))


# ---------------------------------------------------------------- q_sample and the loss

def test_q_sample_is_the_closed_form_for_each_example_and_broadcasts():
    ab = alpha_bar(linear_betas(T))
    x0, noise = torch.randn(4, 3, 5, 5), torch.randn(4, 3, 5, 5)
    t = torch.tensor([0, 10, 500, 999])
    x_t = q_sample(x0, t, noise, ab)
    assert x_t.shape == x0.shape and x_t.dtype == x0.dtype
    for i in range(4):
        assert torch.allclose(x_t[i], ab[t[i]].sqrt() * x0[i] + (1 - ab[t[i]]).sqrt() * noise[i], atol=1e-6)
    points = q_sample(torch.randn(4, 2), t, torch.randn(4, 2), ab)
    assert points.shape == (4, 2)


def test_q_sample_has_the_forward_process_marginal_mean_and_variance():
    ab = alpha_bar(linear_betas(T))
    x0 = torch.tensor([[2.0, -1.0]]).expand(200_000, 2)
    for step in (50, 300, 800):
        t = torch.full((len(x0),), step)
        x_t = q_sample(x0, t, torch.randn(x0.shape, generator=torch.Generator().manual_seed(step)), ab)
        assert torch.allclose(x_t.mean(0), ab[step].sqrt() * x0[0], atol=0.01)
        assert torch.allclose(x_t.var(0), (1 - ab[step]).expand(2), rtol=0.02)


def test_ddpm_loss_is_zero_for_a_model_that_knows_the_noise_and_one_for_a_model_that_guesses_zero():
    ab = alpha_bar(linear_betas(T))
    x0 = torch.randn(512, 2)
    seen = []

    def knows_x0(x_t, t):  # recovers the noise exactly from x_t, t and the clean x0
        seen.append(t)
        a = ab[t][:, None]
        return (x_t - a.sqrt() * x0) / (1 - a).sqrt()

    assert float(ddpm_loss(knows_x0, x0, ab, torch.Generator().manual_seed(0))) < 1e-8
    t = torch.cat(seen)
    assert t.shape == (512,) and t.dtype == torch.int64 and int(t.min()) >= 0 and int(t.max()) < T
    assert len(t.unique()) > 300  # uniform over [0, T): 512 draws hit many distinct steps

    zero = float(ddpm_loss(lambda x_t, t: torch.zeros_like(x_t), torch.randn(20_000, 2), ab,
                           torch.Generator().manual_seed(0)))
    assert zero == pytest.approx(1.0, abs=0.03)  # E[eps^2] = 1


def test_ddpm_loss_draws_from_its_generator_and_reaches_both_ends_of_the_schedule():
    ab = alpha_bar(linear_betas(10))
    model = nn.Linear(2, 2)

    def net(x_t, t):
        return model(x_t) + t[:, None].float()

    x0 = torch.randn(64, 2)
    same = [ddpm_loss(net, x0, ab, torch.Generator().manual_seed(3)) for _ in range(2)]
    assert torch.equal(same[0], same[1])
    assert not torch.equal(same[0], ddpm_loss(net, x0, ab, torch.Generator().manual_seed(4)))
    seen = []
    ddpm_loss(lambda x_t, t: seen.append(t) or x_t, torch.randn(2000, 2), ab)
    assert set(torch.cat(seen).tolist()) == set(range(10))


# ---------------------------------------------------------------- the steps

def test_ddpm_step_is_algorithm_2():
    betas = linear_betas(T).double()
    ab = alpha_bar(betas)
    x_t, eps, z = torch.randn(3, 3, 2, dtype=torch.float64)
    t = 600
    beta, a, abar = float(betas[t]), 1 - float(betas[t]), float(ab[t])
    by_hand = 1 / math.sqrt(a) * (x_t - beta / math.sqrt(1 - abar) * eps) + math.sqrt(beta) * z
    assert torch.allclose(ddpm_step(x_t, t, eps, betas, ab, z), by_hand)
    # The last step adds no noise (and needs none).
    last = 1 / math.sqrt(1 - float(betas[0])) * (x_t - float(betas[0]) / math.sqrt(1 - float(ab[0])) * eps)
    assert torch.allclose(ddpm_step(x_t, 0, eps, betas, ab, z), last)
    assert torch.allclose(ddpm_step(x_t, 0, eps, betas, ab, None), last)


def test_ddim_step_with_the_true_noise_recovers_x0_and_composes():
    ab = alpha_bar(linear_betas(T)).double()
    x0, eps = torch.randn(5, 1, 4, 4, dtype=torch.float64), torch.randn(5, 1, 4, 4, dtype=torch.float64)
    for t in (0, 100, 999):
        x_t = q_sample(x0, torch.full((5,), t), eps, ab)
        assert torch.allclose(ddim_step(x_t, t, -1, eps, ab), x0, atol=1e-8)  # t_prev = -1: the predicted x0
        # With the true noise, a jump to any earlier step lands on that step's q_sample with the same noise.
        for t_prev in (0, t // 2):
            if t_prev < t:
                expected = q_sample(x0, torch.full((5,), t_prev), eps, ab)
                assert torch.allclose(ddim_step(x_t, t, t_prev, eps, ab), expected, atol=1e-8)
    # Two jumps with the same eps equal one: x_999 -> x_500 -> x_-1 is x_999 -> x_-1.
    x_t = torch.randn(5, 1, 4, 4, dtype=torch.float64)
    two = ddim_step(ddim_step(x_t, 999, 500, eps, ab), 500, -1, eps, ab)
    assert torch.allclose(two, ddim_step(x_t, 999, -1, eps, ab), atol=1e-8)
    assert torch.allclose(two, (x_t - (1 - ab[999]).sqrt() * eps) / ab[999].sqrt(), atol=1e-8)


def test_ddim_timesteps_are_evenly_spaced_from_the_last_step_to_zero():
    assert ddim_timesteps(1000, 4) == [999, 666, 333, 0]
    times = ddim_timesteps(1000, 50)
    assert len(times) == 50 == len(set(times)) and times[0] == 999 and times[-1] == 0
    assert ddim_timesteps(1000, 1000) == list(range(999, -1, -1))


# ---------------------------------------------------------------- samplers

def test_samplers_with_the_exact_denoiser_draw_the_data_distribution():
    betas = linear_betas(T)
    ab = alpha_bar(betas)
    oracle = GaussianOracle(ab, mean=1.5, std=0.3)
    ddpm = ddpm_sample(oracle, (4000, 2), betas, ab, generator=torch.Generator().manual_seed(0))
    assert isinstance(ddpm, Samples) and ddpm.x.shape == (4000, 2) and ddpm.calls == T == oracle.calls
    assert float(ddpm.x.mean()) == pytest.approx(1.5, abs=0.02)
    assert float(ddpm.x.std()) == pytest.approx(0.3, abs=0.01)
    # DDIM with all T steps is exact too; with fewer, its discretisation error shrinks the spread a little.
    spread = {}
    for steps in (50, 250, T):
        oracle.calls = 0
        ddim = ddim_sample(oracle, (4000, 2), ab, steps, generator=torch.Generator().manual_seed(0))
        assert ddim.x.shape == (4000, 2) and ddim.calls == steps == oracle.calls
        assert float(ddim.x.mean()) == pytest.approx(1.5, abs=0.02)
        spread[steps] = float(ddim.x.std())
    assert spread[T] == pytest.approx(0.3, abs=0.01)
    assert 0.25 < spread[50] < spread[250] < spread[T]


def test_samplers_are_deterministic_under_a_seeded_generator_and_record_trajectories():
    betas = linear_betas(50)
    ab = alpha_bar(betas)
    model = ToyDenoiser(ToyDiffusionConfig())
    a = ddpm_sample(model, (7, 2), betas, ab, generator=torch.Generator().manual_seed(1), trajectory=True)
    b = ddpm_sample(model, (7, 2), betas, ab, generator=torch.Generator().manual_seed(1))
    c = ddpm_sample(model, (7, 2), betas, ab, generator=torch.Generator().manual_seed(2))
    assert torch.equal(a.x, b.x) and not torch.equal(a.x, c.x)
    assert len(a.trajectory) == 51 and b.trajectory == [] and torch.equal(a.trajectory[-1], a.x)
    d = ddim_sample(model, (7, 2), ab, 10, generator=torch.Generator().manual_seed(1), trajectory=True)
    e = ddim_sample(model, (7, 2), ab, 10, generator=torch.Generator().manual_seed(1))
    assert torch.equal(d.x, e.x) and len(d.trajectory) == 11
    assert torch.equal(d.trajectory[0], a.trajectory[0])  # the same x_T from the same seed


def test_samplers_call_the_step_function_they_are_given():
    betas = linear_betas(20)
    ab = alpha_bar(betas)
    calls = []

    def my_ddpm_step(x_t, t, eps, betas, alpha_bar, noise):
        calls.append((t, noise is None))
        return ddpm_step(x_t, t, eps, betas, alpha_bar, noise)

    def my_ddim_step(x_t, t, t_prev, eps, alpha_bar):
        calls.append((t, t_prev))
        return ddim_step(x_t, t, t_prev, eps, alpha_bar)

    model = ToyDenoiser(ToyDiffusionConfig())
    ddpm_sample(model, (3, 2), betas, ab, step=my_ddpm_step)
    assert calls == [(t, t == 0) for t in range(19, -1, -1)]
    calls.clear()
    ddim_sample(model, (3, 2), ab, 4, step=my_ddim_step)
    assert calls == [(19, 13), (13, 6), (6, 0), (0, -1)]


# ---------------------------------------------------------------- denoisers and training

def test_timestep_embedding_is_sinusoidal():
    emb = timestep_embedding(torch.tensor([0, 1, 500]), 16)
    assert emb.shape == (3, 16)
    assert torch.allclose(emb[0], torch.cat([torch.ones(8), torch.zeros(8)]))
    assert math.isclose(float(emb[1, 0]), math.cos(1.0), rel_tol=1e-6)  # the fastest frequency, 1 radian per step
    assert math.isclose(float(emb[1, 8]), math.sin(1.0), rel_tol=1e-6)
    assert torch.allclose(emb.norm(dim=1), torch.full((3,), math.sqrt(8.0)))


def test_denoisers_map_shapes_and_round_trip_the_data():
    toy = ToyDenoiser(ToyDiffusionConfig())
    points = 4 * torch.rand(6, 2) - 2
    assert toy(toy.from_data(points), torch.randint(T, (6,))).shape == (6, 2)
    assert torch.allclose(toy.to_data(toy.from_data(points)), points)
    digits = DigitsDenoiser(DigitsDiffusionConfig())
    images = torch.rand(5, 1, 8, 8)
    x = digits.from_data(images)
    assert float(x.min()) >= -1 and float(x.max()) <= 1
    assert digits(x, torch.randint(T, (5,))).shape == (5, 1, 8, 8)
    assert torch.allclose(digits.to_data(x), images, atol=1e-6)
    assert float(digits.to_data(torch.full((1, 1, 8, 8), 3.0)).max()) == 1.0  # samples are clamped to [0, 1]


def test_toy_config_scales_each_dataset_to_about_unit_extent():
    for name in ("grid25", "swissroll", "moons"):
        points = data.load(name, "train").x
        scaled = ToyDenoiser(toy_config(name)).from_data(points)
        assert 0.8 < float(scaled.abs().max()) < 1.3
    with pytest.raises(ValueError, match="data_scale"):
        toy_config("ring8")


def test_configs_are_small_in_fast_mode(monkeypatch):
    monkeypatch.setenv("COURSE_FAST", "1")
    fast = ToyDiffusionConfig().steps, DigitsDiffusionConfig().steps
    monkeypatch.delenv("COURSE_FAST")
    full = ToyDiffusionConfig().steps, DigitsDiffusionConfig().steps
    assert all(f <= 300 for f in fast) and all(f >= 10 * s for f, s in zip(full, fast))


def test_a_short_toy_run_lowers_the_loss_and_moves_samples_onto_the_grid():
    torch.manual_seed(0)
    grid = data.load("grid25", "train")
    config = ToyDiffusionConfig(steps=800)
    betas, ab = make_schedule(config)
    losses = []

    def recorded_loss(model, x0, alpha_bar):
        value = ddpm_loss(model, x0, alpha_bar)
        losses.append(float(value.detach()))
        return value

    model, history = train_toy_diffusion(grid.x, config, loss=recorded_loss, progress=False)
    assert len(losses) == len(history.loss) == 800 and isinstance(model, ToyDenoiser)
    assert sum(losses[-100:]) / 100 < 0.5 * sum(losses[:10]) / 10
    samples = model.to_data(ddpm_sample(model, (500, 2), betas, ab, generator=torch.Generator().manual_seed(0)).x)
    distance = torch.cdist(samples, grid.info["centres"]).min(dim=1).values  # to the nearest mode
    assert float((distance < 0.3).mean(dtype=torch.float32)) > 0.25  # uniform points on the grid: about 0.07
    assert metrics.mode_coverage(samples, grid.info["centres"], grid.info["std"]).modes_covered >= 20


def test_a_short_digits_run_lowers_the_loss():
    images = data.load("digits", "train").x
    config = DigitsDiffusionConfig(steps=100)

    def seeded_loss(model):  # the same t and noise before and after training
        x0 = model.from_data(images[:512])
        with torch.no_grad():
            return float(ddpm_loss(model, x0, model.alpha_bar, torch.Generator().manual_seed(0)))

    torch.manual_seed(0)
    before = seeded_loss(DigitsDenoiser(config))
    torch.manual_seed(0)
    model, history = train_digits_diffusion(images, config, progress=False)
    assert isinstance(model, DigitsDenoiser) and not model.training and len(history.loss) == 100
    assert seeded_loss(model) < 0.75 * before


def test_train_diffusion_feeds_the_loss_batches_and_the_schedule_and_decays_the_learning_rate():
    torch.manual_seed(0)
    ab = alpha_bar(linear_betas(T))
    x = torch.randn(256, 2)
    model = ToyDenoiser(ToyDiffusionConfig())
    seen = []

    def loss(m, x0, alpha_bar):
        seen.append((m, x0.shape, alpha_bar))
        return ddpm_loss(m, x0, alpha_bar)

    before = [p.detach().clone() for p in model.parameters()]
    history = train_diffusion(model, x, ab, steps=5, batch_size=32, lr=1e-2, loss=loss, progress=False)
    assert len(history.loss) == 5 and not model.training
    assert all(m is model and shape == (32, 2) and torch.equal(a, ab) for m, shape, a in seen)
    assert any(not torch.equal(b, p) for b, p in zip(before, model.parameters()))


def test_clipping_keeps_the_predicted_x0_in_range_and_changes_nothing_inside_it():
    ab = alpha_bar(linear_betas(T))
    x_t = 3 * torch.randn(6, 1, 8, 8)
    wild = lambda x, t: -5 * x  # noqa: E731  a model whose x_0 predictions leave [-1, 1]
    for t in (10, 500, 990):
        eps = predict_noise(wild, x_t, t, ab, clip=1.0)
        x0 = ddim_step(x_t, t, -1, eps, ab)
        assert float(x0.abs().max()) <= 1 + 1e-4
        assert torch.equal(predict_noise(wild, x_t, t, ab), wild(x_t, t))
    x0 = 0.9 * torch.rand(6, 1, 8, 8)
    noise = torch.randn(6, 1, 8, 8)
    x_t = q_sample(x0, torch.full((6,), 300), noise, ab)
    knows = lambda x, t: noise  # noqa: E731
    assert torch.allclose(predict_noise(knows, x_t, 300, ab, clip=1.0), noise, atol=1e-4)


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")
def test_everything_runs_on_cuda():
    device = torch.device("cuda")
    betas, ab = make_schedule(ToyDiffusionConfig())
    x0 = torch.randn(16, 1, 8, 8, device=device)
    x_t = q_sample(x0, torch.randint(T, (16,), device=device), torch.randn_like(x0), ab)
    assert x_t.device.type == "cuda"
    images = data.load("digits", "train").x[:256].to(device)
    model, _ = train_digits_diffusion(images, DigitsDiffusionConfig(steps=5), progress=False)
    assert next(model.parameters()).device.type == "cuda"
    assert ddpm_loss(model, model.from_data(images[:8]), ab, torch.Generator().manual_seed(0)).device.type == "cuda"
    gpu = ddim_sample(model, (4, 1, 8, 8), ab, 5, generator=torch.Generator().manual_seed(0))
    cpu = ddim_sample(model.cpu(), (4, 1, 8, 8), ab, 5, generator=torch.Generator().manual_seed(0))
    assert gpu.x.device.type == "cuda" and torch.allclose(gpu.x.cpu(), cpu.x, atol=1e-3)
    model.to(device)
    assert ddpm_sample(model, (4, 1, 8, 8), betas, ab, torch.Generator().manual_seed(0)).x.device.type == "cuda"
    toy, _ = train_toy_diffusion(torch.randn(256, 2, device=device), ToyDiffusionConfig(steps=5), progress=False)
    assert ddpm_sample(toy, (8, 2), betas.to(device), ab.to(device)).x.device.type == "cuda"
