"""GANs (notebook 02): the losses, one training step, and small GANs on 2-D data.

A generator G maps noise z ~ N(0, I) to a sample; a discriminator D maps a sample
to a logit l, and D(x) = sigmoid(l) is its probability that x is real. They play

    min_G max_D  E_x[log D(x)] + E_z[log(1 - D(G(z)))]        (Goodfellow et al., 2014, eq. 1)

- ``discriminator_loss``: D's side, the binary cross-entropy of "real" on real
  logits and "fake" on fake ones, computed from logits (stable).
- ``generator_loss_minimax``: G's side of eq. 1, E[log(1 - D(G(z)))]. Its gradient
  vanishes when D confidently rejects the fakes, which is how training starts.
- ``generator_loss_non_saturating``: -E[log D(G(z))], the same fixed point with a
  strong gradient exactly there; what everyone uses.
- ``gan_step``: one alternating update, D first (on detached fakes), then G.

These four are the answers to notebook 02's exercises, imported from ``answers.a02_gans``.

The 2-D GANs below train several independent GANs at once (``seeds``): every
layer holds one weight matrix per GAN and multiplies them in one batched matmul,
so tensors have shape (S, B, ...) for S GANs. The losses and the step do not know:
a mean over (S, B) is each GAN's own loss up to the factor 1/S, which Adam ignores.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field, replace
from typing import Callable

import torch
from torch import nn

# The answers to notebook 02, written once in the answer file: the three losses and the step.
from .answers.a02_gans import (discriminator_loss, gan_step, generator_loss_minimax,  # noqa: F401
                               generator_loss_non_saturating)
from .config import pick
from .train import History, fit


class SeedLinear(nn.Module):
    """S independent linear layers: (S, B, n_in) -> (S, B, n_out), one weight matrix per GAN."""

    def __init__(self, seeds: int, n_in: int, n_out: int) -> None:
        super().__init__()
        bound = 1 / math.sqrt(n_in)  # nn.Linear's default initialisation, for each GAN
        self.weight = nn.Parameter(torch.empty(seeds, n_in, n_out).uniform_(-bound, bound))
        self.bias = nn.Parameter(torch.empty(seeds, 1, n_out).uniform_(-bound, bound))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.baddbmm(self.bias, x, self.weight)  # bias + x @ weight, batched over S


def seed_mlp(seeds: int, sizes: list[int], activation: Callable[[], nn.Module]) -> nn.Sequential:
    """An MLP of ``SeedLinear`` layers with ``activation`` between them (none after the last)."""
    layers: list[nn.Module] = []
    for i, (n_in, n_out) in enumerate(zip(sizes[:-1], sizes[1:])):
        layers.append(SeedLinear(seeds, n_in, n_out))
        if i < len(sizes) - 2:
            layers.append(activation())
    return nn.Sequential(*layers)


@dataclass
class ToyGANConfig:
    """A GAN on 2-D points and how it trains. ``seeds`` GANs train at once, each from its own initialisation.

    The defaults are the plain GAN of the notebook (DCGAN's optimiser settings);
    the remedies change ``pack``, ``d_hidden`` and the optimiser fields.
    """

    latent_dim: int = 2
    g_hidden: int = 64
    d_hidden: int = 64
    layers: int = 3  # hidden layers of each network
    pack: int = 1  # PacGAN: the discriminator judges `pack` samples at once, all real or all fake
    data_scale: float = 4.0  # the data's extent: the networks work on x / data_scale, about [-1, 1]
    lr: float = 2e-4
    betas: tuple[float, float] = (0.5, 0.999)
    lr_decay: float = 0.0  # decay the learning rate linearly to 0 over this last fraction of the steps
    batch_size: int = 128
    steps: int = field(default_factory=lambda: pick(fast=150, full=6000))
    seeds: int = 3


class ToyGenerator(nn.Module):
    """z (S, B, latent_dim) -> points (S, B, 2)."""

    def __init__(self, config: ToyGANConfig) -> None:
        super().__init__()
        self.config = config
        self.net = seed_mlp(config.seeds, [config.latent_dim] + [config.g_hidden] * config.layers + [2], nn.ReLU)

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        return self.net(z) * self.config.data_scale

    def sample(self, n: int, generator: torch.Generator | None = None) -> torch.Tensor:
        """n points from each of the S GANs, (S, n, 2), with noise from ``generator`` (drawn on the CPU)."""
        z = torch.randn(self.config.seeds, n, self.config.latent_dim, generator=generator)
        with torch.no_grad():
            return self(z.to(self.net[0].weight.device))


class ToyDiscriminator(nn.Module):
    """points (S, B, 2) -> logits (S, B / pack, 1). With ``pack`` > 1, B must be a multiple of it."""

    def __init__(self, config: ToyGANConfig) -> None:
        super().__init__()
        self.config = config
        sizes = [2 * config.pack] + [config.d_hidden] * config.layers + [1]
        self.net = seed_mlp(config.seeds, sizes, lambda: nn.LeakyReLU(0.2))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        s, b, _ = x.shape
        if b % self.config.pack:
            raise ValueError(f"PacGAN packs {self.config.pack} samples per judgement: the batch of {b} "
                             f"must be a multiple of {self.config.pack}.")
        packed = x.reshape(s, b // self.config.pack, 2 * self.config.pack)  # `pack` points side by side
        return self.net(packed / self.config.data_scale)


def train_gan(generator: nn.Module, discriminator: nn.Module, sample_real: Callable[[int], torch.Tensor], *,
              steps: int, latent_shape: tuple[int, ...], lr: float, betas: tuple[float, float], lr_decay: float = 0.0,
              batch_size: int, step: Callable[..., dict] = gan_step, snapshot_every: int | None = None,
              snapshot_z: torch.Tensor | None = None, desc: str = "GAN", progress: bool = True
              ) -> tuple[History, dict[int, torch.Tensor]]:
    """Train with Adam and ``step`` (your ``gan_step`` in the notebook) on the generator's device.

    Args:
        sample_real: returns a batch of ``batch_size`` real samples, on the device.
        latent_shape: the shape of z without the batch, e.g. (S, latent_dim) puts the batch in dim 1
            (where the 2-D GANs keep it): z is drawn as ``latent_shape[:-1] + (batch_size,) + latent_shape[-1:]``.
        lr_decay: the learning rate decays linearly to 0 over this last fraction of the steps.
        snapshot_every, snapshot_z: every so many steps, keep ``generator(snapshot_z)`` (on the CPU).
    Returns:
        The History of both losses and the snapshots, {step: samples}.
    """
    device = next(generator.parameters()).device
    g_optimizer = torch.optim.Adam(generator.parameters(), lr=lr, betas=betas)
    d_optimizer = torch.optim.Adam(discriminator.parameters(), lr=lr, betas=betas)
    decay_steps = max(1, round(lr_decay * steps))

    def factor(i: int) -> float:  # 1 until the last `decay_steps`, then linearly down to 0
        return min(1.0, (steps - i) / decay_steps) if lr_decay > 0 else 1.0

    schedules = [torch.optim.lr_scheduler.LambdaLR(o, factor) for o in (g_optimizer, d_optimizer)]
    z_shape = (*latent_shape[:-1], batch_size, latent_shape[-1])
    snapshots: dict[int, torch.Tensor] = {}
    count = 0

    def one_step(real: torch.Tensor) -> dict:
        nonlocal count
        generator.train(), discriminator.train()
        losses = step(generator, discriminator, g_optimizer, d_optimizer, real, torch.randn(z_shape, device=device))
        for schedule in schedules:
            schedule.step()
        count += 1
        if snapshot_z is not None and snapshot_every and (count % snapshot_every == 0 or count == 1):
            generator.eval()
            with torch.no_grad():
                snapshots[count] = generator(snapshot_z.to(device)).cpu()
        return losses

    history = fit(one_step, lambda: sample_real(batch_size), steps=steps, desc=desc, progress=progress)
    generator.eval(), discriminator.eval()
    return history, snapshots


def mixture_sampler(centres: torch.Tensor, std: float, seeds: int,
                    device: torch.device | str = "cpu") -> Callable[[int], torch.Tensor]:
    """A function drawing (seeds, n, 2) fresh points of the mixture with these (K, 2) centres, on ``device``."""
    centres = centres.to(device)

    def sample(n: int) -> torch.Tensor:
        which = torch.randint(len(centres), (seeds, n), device=device)
        return centres[which] + std * torch.randn(seeds, n, 2, device=device)

    return sample


def train_toy_gan(config: ToyGANConfig, centres: torch.Tensor, std: float, step: Callable[..., dict] = gan_step,
                  device: torch.device | str = "cpu", snapshot_every: int | None = None, desc: str = "GAN",
                  progress: bool = True) -> tuple[ToyGenerator, History, dict[int, torch.Tensor]]:
    """Train ``config.seeds`` GANs on the 2-D mixture; return the generator, the losses and snapshots."""
    generator, discriminator = ToyGenerator(config).to(device), ToyDiscriminator(config).to(device)
    snapshot_z = torch.randn(config.seeds, 1000, config.latent_dim, generator=torch.Generator().manual_seed(0))
    history, snapshots = train_gan(
        generator, discriminator, mixture_sampler(centres, std, config.seeds, device), steps=config.steps,
        latent_shape=(config.seeds, config.latent_dim), lr=config.lr, betas=config.betas, lr_decay=config.lr_decay,
        batch_size=config.batch_size, step=step, snapshot_every=snapshot_every, snapshot_z=snapshot_z, desc=desc,
        progress=progress)
    return generator, history, snapshots


def toy_configs(dataset: str) -> dict[str, ToyGANConfig]:
    """The notebook's plain GAN and its remedies on "ring8" or "grid25" (the benchmark trains the same).

    - plain GAN: DCGAN's Adam settings (lr 2e-4, beta1 0.5), equal networks.
    - remedy 1, tuned training: a faster Adam (lr 1e-3, beta1 0, beta2 0.99) decaying to 0 over the
      second half, networks twice as wide (128 units) and batches twice as large (256). Each part
      counts: without the larger batch, some seeds end with 20-22 of the grid's 25 modes.
    - remedy 2, PacGAN: remedy 1, with the discriminator judging pairs of samples (Lin et al., 2018).
    """
    steps = {"ring8": pick(fast=150, full=3000), "grid25": pick(fast=150, full=6000)}[dataset]
    scale = {"ring8": 2.0, "grid25": 4.0}[dataset]
    plain = ToyGANConfig(data_scale=scale, steps=steps)
    tuned = ToyGANConfig(data_scale=scale, steps=steps, lr=1e-3, betas=(0.0, 0.99), lr_decay=0.5, g_hidden=128,
                         d_hidden=128, batch_size=256)
    packed = replace(tuned, pack=2)
    return {"plain GAN": plain, "tuned training": tuned, "tuned + PacGAN-2": packed}


def coverage_per_seed(generator: ToyGenerator, centres: torch.Tensor, std: float, n: int = 2500,
                      seed: int = 1) -> list:
    """``metrics.mode_coverage`` of n samples of each of the generator's S GANs (seeded noise)."""
    from .metrics import mode_coverage

    samples = generator.sample(n, torch.Generator().manual_seed(seed))  # (S, n, 2)
    return [mode_coverage(s, centres, std) for s in samples]
