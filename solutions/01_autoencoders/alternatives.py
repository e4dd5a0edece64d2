"""Differently written correct solutions of notebook 01's exercises (they must pass every check), and the
mutants of the reference answers that no check can kill because they are equivalent."""
import torch  # whatever the alternatives need is taken from the notebook's namespace anyway

EQUIVALENT = {
    ("pca", "_, _, v_t = torch.linalg.svd(x - centre)"):
        "full_matrices=True (the default) only adds rows beyond min(N, D) to V^T; the first min(N, D) rows, and "
        "so v_t[:k] for every valid k <= min(N - 1, D), are the same (only the cost of an N x N U differs)",
    ("pca", "_, _, v_t = torch.linalg.svd(x - centre, full_matrices=True)"):
        "the same mutant as dropping full_matrices=False: v_t[:k] is unchanged for every valid k <= min(N - 1, D)",
}

# %% pca by the eigenvectors of the covariance matrix, with einsum
def pca_fit(x, k):
    centre = x.mean(dim=0)  # (D,)
    centred = x - centre
    covariance = centred.T @ centred / (len(x) - 1)  # (D, D)
    variances, vectors = torch.linalg.eigh(covariance)  # ascending variances, eigenvectors as columns
    order = variances.argsort(descending=True)[:k]
    return centre, vectors[:, order].T  # (k, D)


def pca_project(x, mean, components):
    return torch.einsum("nd,kd->nk", x - mean, components)


def pca_reconstruct(codes, mean, components):
    return torch.einsum("nk,kd->nd", codes, components) + mean

# %% pca by the SVD of the transposed data, one component at a time in project and reconstruct
def pca_fit(x, k):
    centre = x.sum(dim=0) / x.shape[0]
    u, _, _ = torch.linalg.svd((x - centre).T, full_matrices=False)  # (D, min(N, D)): the directions as columns
    return centre, u[:, :k].T.contiguous()


def pca_project(x, mean, components):
    return torch.stack([(x - mean) @ c for c in components], dim=1)  # (N, k)


def pca_reconstruct(codes, mean, components):
    return mean + sum(codes[:, j:j + 1] * components[j] for j in range(len(components)))

# %% corrupt with torch.randn on x's device and Tensor.clip
def corrupt(x, noise_std, noise=None):
    if noise is None:
        noise = torch.randn(x.shape, dtype=x.dtype, device=x.device)
    return (x + noise_std * noise).clip(0, 1)

# %% corrupt with torch.where for the two bounds
def corrupt(x, noise_std, noise=None):
    noisy = x + noise_std * (torch.randn_like(x) if noise is None else noise)
    noisy = torch.where(noisy < 0, torch.zeros_like(noisy), noisy)
    return torch.where(noisy > 1, torch.ones_like(noisy), noisy)

# %% reparameterise with sqrt(exp(log_var)) and torch.randn on mu's device
def reparameterise(mu, log_var, eps=None):
    if eps is None:
        eps = torch.randn(mu.shape, dtype=mu.dtype, device=mu.device)
    return torch.addcmul(mu, torch.sqrt(torch.exp(log_var)), eps)

# %% kl_to_standard_normal by torch.distributions
def kl_to_standard_normal(mu, log_var):
    q = torch.distributions.Normal(mu, torch.exp(0.5 * log_var))
    prior = torch.distributions.Normal(torch.zeros_like(mu), torch.ones_like(mu))
    return torch.distributions.kl_divergence(q, prior).sum(dim=1)

# %% kl_to_standard_normal as a loop over the latent dimensions
def kl_to_standard_normal(mu, log_var):
    total = torch.zeros_like(mu[:, 0])  # (B,)
    for j in range(mu.shape[1]):
        variance = log_var[:, j].exp()
        total = total + (mu[:, j] ** 2 + variance - 1 - log_var[:, j]) / 2
    return total

# %% negative_elbo by torch.distributions.Bernoulli
def negative_elbo(x_logits, x, mu, log_var):
    log_px = torch.distributions.Bernoulli(logits=x_logits, validate_args=False).log_prob(x).sum(dim=1)  # (B,)
    return torch.mean(-log_px + kl_to_standard_normal(mu, log_var))

# %% negative_elbo with softplus by hand: -log p = softplus(z) - x z per pixel
def negative_elbo(x_logits, x, mu, log_var):
    reconstruction = (torch.nn.functional.softplus(x_logits) - x * x_logits).sum(dim=1)  # (B,)
    return reconstruction.mean() + kl_to_standard_normal(mu, log_var).mean()
