"""Notebook 04's modules: flows (coupling, NLL), flow matching (loss, Euler, straightness), latent diffusion and guidance."""
from __future__ import annotations

import math

import pytest
import torch
from torch import nn

from course_utils import data, metrics
from course_utils.diffusion import ddim_sample, ddpm_loss, make_schedule
from course_utils.flow_matching import (VelocityField, euler_sample, flow_matching_loss, straightness,
                                        train_flow_matching)
from course_utils.flows import (Flow, FlowConfig, ScaleShift, coupling_forward, coupling_inverse, mean_nll,
                                negative_log_likelihood, train_flow)
from course_utils.latent_diffusion import (Guided, LatentDenoiser, LatentDiffusionConfig, LatentSpace,
                                           classifier_free_guidance, train_latent_diffusion, train_latent_space)
from course_utils.toy_diffusion import ToyDiffusionConfig
from course_utils.train import minimise


def random_net(dim: int, seed: int) -> ScaleShift:
    torch.manual_seed(seed)
    net = ScaleShift(dim, 16, 2)
    with torch.no_grad():  # away from the identity it starts as
        nn.init.normal_(net.net[-1].weight, std=0.5)
        net.scale.uniform_(0.5, 1.5)
    return net


# ---------------------------------------------------------------- coupling layers and the NLL

def test_coupling_keeps_the_masked_coordinates_and_inverts_exactly():
    net, mask = random_net(4, 0), torch.tensor([1.0, 0.0, 1.0, 0.0])
    x = 2 * torch.randn(64, 4)
    with torch.no_grad():
        y, log_det = coupling_forward(x, mask, net)
        assert y.shape == x.shape and log_det.shape == (64,)
        assert torch.equal(y[:, [0, 2]], x[:, [0, 2]])
        assert not torch.allclose(y[:, [1, 3]], x[:, [1, 3]])
        assert torch.allclose(coupling_inverse(y, mask, net), x, atol=1e-5)
        assert torch.allclose(coupling_forward(coupling_inverse(x, mask, net), mask, net)[0], x, atol=1e-5)


def test_coupling_log_det_matches_the_brute_force_jacobian():
    net, mask = random_net(3, 1), torch.tensor([0.0, 1.0, 1.0])
    for seed in range(4):
        point = torch.randn(3, generator=torch.Generator().manual_seed(seed))
        jacobian = torch.autograd.functional.jacobian(lambda v: coupling_forward(v[None], mask, net)[0][0], point)
        assert math.isclose(float(coupling_forward(point[None], mask, net)[1][0].detach()),
                            float(torch.linalg.slogdet(jacobian)[1]), abs_tol=1e-5)


def test_negative_log_likelihood_is_the_change_of_variables_with_a_standard_normal():
    z, log_det = torch.randn(10, 3), torch.randn(10)
    normal = torch.distributions.MultivariateNormal(torch.zeros(3), torch.eye(3))
    assert torch.allclose(negative_log_likelihood(z, log_det), -(normal.log_prob(z) + log_det), atol=1e-5)
    assert math.isclose(float(negative_log_likelihood(torch.zeros(1, 2), torch.zeros(1))), math.log(2 * math.pi),
                        rel_tol=1e-6)


def test_the_flow_starts_as_the_identity_inverts_and_its_density_integrates_to_one():
    flow = Flow(FlowConfig(layers=4, hidden=32))
    with torch.no_grad():
        for net in flow.nets:
            nn.init.normal_(net.net[-1].weight, std=0.3)
        flow.mean.copy_(torch.tensor([0.3, -0.2]))
        flow.std.copy_(torch.tensor([0.7, 1.4]))
        x = torch.randn(200, 2)
        z, log_det = flow(x)
        assert torch.allclose(flow.inverse(z), x, atol=1e-4)
        # undoing the last k layers goes part of the way: undoing the rest from there arrives at x
        halfway = flow.inverse(z, layers=2)
        rest = halfway
        for mask, net in list(zip(flow.masks, flow.nets))[:2][::-1]:
            rest = coupling_inverse(rest, mask, net)
        assert not torch.allclose(halfway, x, atol=1e-2)
        assert torch.allclose(rest * flow.std + flow.mean, x, atol=1e-4)
        assert torch.equal(flow.inverse(z, layers=0), z)
        # a new flow is the identity after its standardisation, whose Jacobian it counts: N(mean, diag(std^2))
        identity = Flow(FlowConfig(layers=2))
        identity.mean.copy_(flow.mean)
        identity.std.copy_(flow.std)
        normal = torch.distributions.Normal(flow.mean, flow.std)
        assert torch.allclose(identity.log_prob(x), normal.log_prob(x).sum(dim=1), atol=1e-5)
    axis = torch.linspace(-8, 8, 401)
    grid = torch.cartesian_prod(axis, axis)
    cell = float(axis[1] - axis[0]) ** 2
    assert math.isclose(float(flow.log_prob(grid).exp().sum()) * cell, 1.0, abs_tol=0.02)


def test_a_short_flow_run_lowers_the_test_nll_and_samples_near_the_moons():
    torch.manual_seed(0)
    train, test = data.load("moons", "train").x, data.load("moons", "test").x
    flow = Flow(FlowConfig(steps=300))
    before = mean_nll(Flow(FlowConfig()), test)  # before training: no standardisation yet
    history = train_flow(flow, train, progress=False)
    after = mean_nll(flow, test)
    assert len(history.loss) == 300 and not flow.training
    assert after < 1.2 and after < before - 1.0
    samples = flow.sample(500, generator=torch.Generator().manual_seed(0))
    nearest = torch.cdist(samples, test).min(dim=1).values
    assert float(nearest.median()) < 0.1  # data-scale points: the moons have noise 0.05


def test_the_flow_runs_the_coupling_functions_it_is_given():
    calls = {"forward": 0, "inverse": 0}

    def forward(x, mask, net):
        calls["forward"] += 1
        return coupling_forward(x, mask, net)

    def inverse(y, mask, net):
        calls["inverse"] += 1
        return coupling_inverse(y, mask, net)

    flow = Flow(FlowConfig(layers=3), forward=forward, inverse=inverse)
    flow.inverse(flow(torch.randn(4, 2))[0])
    assert calls == {"forward": 3, "inverse": 3}


# ---------------------------------------------------------------- flow matching

def test_flow_matching_loss_regresses_the_straight_line_velocity():
    class Oracle(nn.Module):  # data all at 0: the velocity is -x0 = -x_t / (1 - t)
        def forward(self, x_t, t):
            return -x_t / (1 - t).reshape(-1, *[1] * (x_t.dim() - 1))

    assert float(flow_matching_loss(Oracle(), torch.zeros(256, 1, 8, 8), torch.Generator().manual_seed(0))) < 1e-10
    zero = lambda x, t: torch.zeros_like(x)  # noqa: E731  pays E||x1 - x0||^2 per coordinate = 1 + 4 here
    assert math.isclose(float(flow_matching_loss(zero, torch.full((20000, 2), 2.0), torch.Generator().manual_seed(1))),
                        5.0, rel_tol=0.03)
    x1 = torch.randn(8, 2)
    first = flow_matching_loss(zero, x1, torch.Generator().manual_seed(3))
    assert first.dim() == 0  # the draws come from the generator: the same seed, the same loss; another, another
    assert torch.equal(first, flow_matching_loss(zero, x1, torch.Generator().manual_seed(3)))
    assert not torch.equal(first, flow_matching_loss(zero, x1, torch.Generator().manual_seed(4)))


def test_euler_sample_is_exact_for_constant_velocity_and_converges_on_a_linear_ode():
    path = euler_sample(lambda x, t: torch.full_like(x, 2.0), torch.zeros(3, 2), 4)
    assert len(path) == 5 and torch.allclose(torch.stack(path)[:, 0, 0], torch.tensor([0.0, 0.5, 1.0, 1.5, 2.0]))
    errors = [abs(float(euler_sample(lambda x, t: -x, torch.ones(1, 1), n)[-1]) - math.exp(-1)) for n in (10, 100)]
    assert errors[1] < errors[0] / 5  # first order: 10 x the steps, about a tenth of the error
    seen = []
    euler_sample(lambda x, t: seen.append(t.clone()) or torch.zeros_like(x), torch.zeros(2, 1), 4)
    assert torch.allclose(torch.stack(seen)[:, 0], torch.tensor([0.0, 0.25, 0.5, 0.75]))


def test_straightness_is_zero_for_straight_steady_paths_and_positive_otherwise():
    start, end = torch.randn(5, 2), torch.randn(5, 2)
    steady = [start + (end - start) * k / 10 for k in range(11)]
    assert straightness(steady) < 1e-10
    uneven = [start + (end - start) * (k / 10) ** 3 for k in range(11)]  # straight, but slow then fast
    assert straightness(uneven) > 0.3


def test_a_short_flow_matching_run_carries_noise_to_the_moons():
    torch.manual_seed(0)
    train, test = data.load("moons", "train").x, data.load("moons", "test").x
    config = ToyDiffusionConfig(data_scale=2.0, steps=1500)
    model, history = train_flow_matching(train, config, progress=False)
    assert isinstance(model, VelocityField) and len(history.loss) == 1500
    noise = torch.randn(1000, 2, generator=torch.Generator().manual_seed(0))
    samples = model.to_data(euler_sample(model, noise, 20)[-1])
    assert metrics.energy_distance(samples, test[:1000]) < 0.25 * metrics.energy_distance(model.to_data(noise), test[:1000])


# ---------------------------------------------------------------- latent diffusion and guidance

def test_guidance_scale_zero_is_the_conditional_prediction_and_the_rule_is_linear():
    c, u = torch.randn(4, 8), torch.randn(4, 8)
    assert torch.equal(classifier_free_guidance(c, u, 0.0), c)
    assert torch.allclose(classifier_free_guidance(c, u, 2.0), 3 * c - 2 * u)
    assert torch.allclose(classifier_free_guidance(c, c, 5.0), c)


def test_guided_model_runs_both_halves_in_one_batch_and_uses_the_guidance_it_is_given():
    denoiser = LatentDenoiser(LatentDiffusionConfig(hidden=16, blocks=1))
    labels = torch.tensor([3, 7])
    z, t = torch.randn(2, 8), torch.tensor([10, 10])
    with torch.no_grad():
        cond, uncond = denoiser(z, t, labels), denoiser(z, t)
        assert not torch.allclose(cond, uncond)
        assert torch.allclose(Guided(denoiser, labels, 0.0)(z, t), cond, atol=1e-6)
        assert torch.allclose(Guided(denoiser, labels, 1.5)(z, t), cond + 1.5 * (cond - uncond), atol=1e-5)
        seen = []
        Guided(denoiser, labels, 1.0, guidance=lambda c, u, w: seen.append(w) or c)(z, t)
    assert seen == [1.0]
    assert torch.equal(denoiser(z, t, torch.full((2,), denoiser.null_class)), uncond)


def test_latent_training_drops_about_p_uncond_of_the_labels_and_none_means_no_class(monkeypatch):
    import course_utils.latent_diffusion as latent

    config = LatentDiffusionConfig(hidden=16, blocks=1, steps=3, batch_size=4000, p_uncond=0.25)
    watched = LatentDenoiser(config)
    monkeypatch.setattr(latent, "LatentDenoiser", lambda cfg: watched)  # train this model, so its input can be seen
    classes_read = []
    watched.classes.register_forward_hook(lambda module, args, out: classes_read.append(args[0].clone()))
    codes, labels = torch.randn(4000, 8), torch.randint(10, (4000,))
    torch.manual_seed(0)
    model, history = latent.train_latent_diffusion(codes, labels, config, progress=False)
    assert model is watched and len(history.loss) == 3 and not model.training
    dropped = torch.cat(classes_read) == watched.null_class
    assert len(dropped) == 3 * 4000 and 0.22 < float(dropped.float().mean()) < 0.28
    classes_read.clear()
    torch.manual_seed(0)
    latent.train_latent_diffusion(codes, None, config, progress=False)  # unconditional: always "no class"
    assert bool((torch.cat(classes_read) == watched.null_class).all())


def test_latent_space_standardises_the_codes_and_decodes_digits():
    torch.manual_seed(0)
    images = data.load("digits", "train").x[:512]
    space = train_latent_space(images, progress=False)
    assert isinstance(space, LatentSpace)
    codes = space.encode(images)
    assert codes.shape == (512, 8)
    assert torch.allclose(codes.mean(0), torch.zeros(8), atol=1e-4) and torch.allclose(codes.std(0), torch.ones(8), atol=1e-3)
    decoded = space.decode(codes)
    assert decoded.shape == (512, 1, 8, 8) and float(decoded.min()) >= 0 and float(decoded.max()) <= 1


def test_a_short_conditional_run_makes_the_requested_class_more_likely():
    torch.manual_seed(0)
    codes = torch.cat([torch.randn(500, 8) * 0.2 + 2, torch.randn(500, 8) * 0.2 - 2])  # two classes, far apart
    labels = torch.cat([torch.zeros(500), torch.ones(500)]).long()
    config = LatentDiffusionConfig(classes=2, hidden=64, blocks=2, steps=600)
    model, _ = train_latent_diffusion(codes, labels, config, progress=False)
    alpha_bar = make_schedule(config)[1]
    asked = torch.tensor([0] * 100 + [1] * 100)
    drawn = ddim_sample(Guided(model, asked, 1.0), (200, 8), alpha_bar, 50, torch.Generator().manual_seed(0)).x
    right = (drawn.mean(dim=1) > 0) == (asked == 0)
    assert float(right.float().mean()) > 0.95


# ---------------------------------------------------------------- metrics and the trainer

def test_energy_distance_is_zero_for_equal_sets_and_grows_with_a_shift():
    a = torch.randn(500, 2, generator=torch.Generator().manual_seed(0))
    b = torch.randn(500, 2, generator=torch.Generator().manual_seed(1))
    assert abs(metrics.energy_distance(a, a)) < 1e-9
    near, far = metrics.energy_distance(a, b), metrics.energy_distance(a, b + 1.0)
    assert 0 <= near < 0.05 < far and math.isclose(far, metrics.energy_distance(b + 1.0, a), rel_tol=1e-9)


def test_class_spread_is_smaller_for_copies_of_one_image():
    test = data.load("digits", "test")
    real = metrics.digits_class_spread(test.x, test.y)
    copies = test.x[test.y == 3][:1].repeat(20, 1, 1, 1)
    assert real > 0 and metrics.digits_class_spread(copies, torch.full((20,), 3)) < 1e-6


def test_minimise_draws_the_same_rows_of_every_tensor():
    x, y = torch.arange(100.0)[:, None], torch.arange(100)
    model = nn.Linear(1, 1)
    pairs = []

    def loss(xb, yb):
        pairs.append(torch.equal(xb[:, 0].long(), yb))
        return model(xb).square().mean()

    history = minimise(model, loss, (x, y), steps=4, batch_size=16, lr=1e-3, progress=False)
    assert len(history.loss) == 4 and all(pairs) and len(pairs) == 4


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")
def test_notebook_04_modules_run_on_cuda():
    device = torch.device("cuda")
    flow = Flow(FlowConfig(steps=5))
    train_flow(flow, torch.randn(256, 2, device=device), progress=False)
    assert flow.sample(4, torch.Generator().manual_seed(0)).device.type == "cuda"
    velocity, _ = train_flow_matching(torch.randn(256, 2, device=device), ToyDiffusionConfig(steps=5), progress=False)
    assert euler_sample(velocity, torch.randn(4, 2, device=device), 3)[-1].device.type == "cuda"
    config = LatentDiffusionConfig(steps=5)
    model, _ = train_latent_diffusion(torch.randn(256, 8, device=device), torch.randint(10, (256,), device=device),
                                      config, progress=False)
    drawn = ddim_sample(Guided(model, torch.arange(4, device=device), 1.0), (4, 8), make_schedule(config)[1], 5)
    assert drawn.x.device.type == "cuda"
