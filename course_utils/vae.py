"""The variational autoencoder (Kingma and Welling, 2014) for images in [0, 1] (notebook 01).

The encoder outputs a diagonal Gaussian q(z|x) = N(mu, diag(exp(log_var))); the
decoder outputs the logits of a Bernoulli p(x|z) for every pixel; the prior is
p(z) = N(0, I). Training maximises the evidence lower bound, so the loss is

    -ELBO(x) = E_q[-log p(x|z)] + KL(q(z|x) || p(z))           (nats per image)
             ~ BCE(decoder(z), x) summed over pixels + KL,   z = mu + sigma * eps

- ``reparameterise``: z = mu + exp(log_var / 2) * eps, eps ~ N(0, I), so the
  sample is a differentiable function of mu and log_var (the reparameterisation trick).
- ``kl_to_standard_normal``: in closed form for a diagonal Gaussian,
  KL = 1/2 sum_j (mu_j^2 + exp(log_var_j) - 1 - log_var_j).
- ``negative_elbo``: the two terms, averaged over the batch.

Sampling new images: z ~ N(0, I), then the decoder's Bernoulli means sigmoid(logits).
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable

import torch
from torch import nn

from .answers.a01_autoencoders import kl_to_standard_normal, negative_elbo, reparameterise  # noqa: F401
from .autoencoders import mlp, random_batches
from .config import pick
from .train import History, fit


@dataclass
class VAEConfig:
    """A VAE and how it trains. Step counts default to FULL, or FAST under ``COURSE_FAST=1``."""

    input_dim: int = 64
    latent_dim: int = 8
    hidden: tuple[int, ...] = (256, 128)
    steps: int = field(default_factory=lambda: pick(fast=150, full=5000))
    batch_size: int = 128
    lr: float = 2e-3


class VAE(nn.Module):
    """Encoder x (B, D) -> (mu, log_var) (B, k) each; decoder z (B, k) -> Bernoulli logits (B, D)."""

    def __init__(self, config: VAEConfig) -> None:
        super().__init__()
        self.config = config
        self.encoder = mlp([config.input_dim, *config.hidden, 2 * config.latent_dim])
        self.decoder = mlp([config.latent_dim, *reversed(config.hidden), config.input_dim])

    def encode(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        mu, log_var = self.encoder(x).chunk(2, dim=1)  # (B, k) each
        return mu, log_var

    def decode(self, z: torch.Tensor) -> torch.Tensor:
        """The Bernoulli logits (B, D); ``torch.sigmoid`` of them is the expected image."""
        return self.decoder(z)

    def forward(self, x: torch.Tensor, reparameterise: Callable = reparameterise
                ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        mu, log_var = self.encode(x)
        return self.decode(reparameterise(mu, log_var)), mu, log_var

    @torch.no_grad()
    def sample(self, n: int, generator: torch.Generator | None = None) -> torch.Tensor:
        """``n`` new images (n, D): decode z ~ N(0, I) and take the Bernoulli means."""
        device = next(self.parameters()).device
        z = torch.randn(n, self.config.latent_dim, generator=generator).to(device)  # CPU draws: same on any device
        return torch.sigmoid(self.decode(z))

    @torch.no_grad()
    def reconstruct(self, x: torch.Tensor) -> torch.Tensor:
        """The expected image decoded from each input's posterior mean (B, D)."""
        return torch.sigmoid(self.decode(self.encode(x)[0]))


def train_vae(model: VAE, x_train: torch.Tensor, reparameterise: Callable = reparameterise,
              negative_elbo: Callable = negative_elbo, kl_to_standard_normal: Callable = kl_to_standard_normal,
              desc: str = "VAE", progress: bool = True) -> History:
    """Minimise ``negative_elbo`` on ``x_train`` (N, D) with the given functions, on ``x_train``'s device.

    The notebook passes the student's own three functions. Records the loss and,
    for the plot, its KL term (the rest is the reconstruction term).
    """
    config = model.config
    model.to(x_train.device).train()
    optimizer = torch.optim.Adam(model.parameters(), lr=config.lr)
    schedule = torch.optim.lr_scheduler.OneCycleLR(optimizer, config.lr, total_steps=config.steps)

    def step(x: torch.Tensor) -> dict[str, torch.Tensor]:
        logits, mu, log_var = model(x, reparameterise)
        loss = negative_elbo(logits, x, mu, log_var)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        schedule.step()
        return {"-ELBO": loss, "KL": kl_to_standard_normal(mu.detach(), log_var.detach()).mean()}

    history = fit(step, random_batches(x_train, config.batch_size), steps=config.steps, desc=desc,
                  progress=progress)
    model.eval()
    return history


@torch.no_grad()
def evaluate_negative_elbo(model: VAE, x: torch.Tensor, negative_elbo: Callable = negative_elbo,
                           reparameterise: Callable = reparameterise, draws: int = 10, seed: int = 0) -> float:
    """-ELBO of ``x`` (N, D) in nats per image, averaged over ``draws`` seeded samples of z per image."""
    model.eval()
    mu, log_var = model.encode(x)  # (N, k) each
    generator = torch.Generator().manual_seed(seed)  # CPU draws: the same number on any device
    total = 0.0
    for _ in range(draws):
        eps = torch.randn(mu.shape, generator=generator).to(mu.device)
        total += float(negative_elbo(model.decode(reparameterise(mu, log_var, eps)), x, mu, log_var))
    return total / draws


def latent_grid(model: VAE, n: int = 15, extent: float = 0.95) -> torch.Tensor:
    """Decode an n x n grid of a 2-D latent space (Kingma and Welling's figure 4): (n * n, D) images.

    The grid is evenly spaced in probability, not in z: z_j = Phi^-1(p_j) for
    p_j evenly spaced in [(1 - extent) / 2, (1 + extent) / 2], so it covers the
    prior's mass evenly. Rows go down in z_2, columns right in z_1.
    """
    if model.config.latent_dim != 2:
        raise ValueError(f"latent_grid needs a VAE with latent_dim=2, not {model.config.latent_dim}")
    device = next(model.parameters()).device
    p = torch.linspace((1 - extent) / 2, (1 + extent) / 2, n)
    z = torch.distributions.Normal(0.0, 1.0).icdf(p)  # (n,)
    z1, z2 = torch.meshgrid(z, z.flip(0), indexing="xy")  # z_2 decreases down the rows
    with torch.no_grad():
        return torch.sigmoid(model.decode(torch.stack([z1, z2], dim=-1).reshape(-1, 2).to(device)))


@torch.no_grad()
def traverse(model: VAE, z: torch.Tensor, values: torch.Tensor) -> torch.Tensor:
    """Vary one latent coordinate at a time around ``z`` (k,): (k * len(values), D) images, one row per coordinate."""
    k = z.numel()
    codes = z.reshape(1, 1, k).repeat(k, len(values), 1)  # (k, V, k)
    dims = torch.arange(k, device=z.device)
    codes[dims, :, dims] = values.to(z.device).expand(k, -1)  # coordinate j of row j takes every value
    return torch.sigmoid(model.decode(codes.reshape(-1, k)))


@torch.no_grad()
def interpolate(model: VAE, z_a: torch.Tensor, z_b: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
    """Decode points on the straight line (1 - t) z_a + t z_b for each t: (len(t), D) images."""
    t = t.to(z_a.device).reshape(-1, 1)  # (T, 1)
    return torch.sigmoid(model.decode((1 - t) * z_a + t * z_b))
