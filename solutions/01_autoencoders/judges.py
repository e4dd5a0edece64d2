"""The judges of notebook 01's hidden tests.

They run in the grader, outside the student's process: ``mine`` holds what the hidden cell's ``observe()``
computed with the student's functions, ``ref`` what it computes with the answers in
``course_utils/answers/a01_autoencoders.py``. A CheckFailed fails the test; the student is told only the name
of the check, so names say what is checked, never the values.
"""
import torch

from course_utils import checks


def _unchanged(mine, ref, name: str) -> None:
    """The arguments after the call (``mine``) are exactly the inputs (``ref``, which the answers leave alone)."""
    checks.check_close(mine, ref, name=name, rtol=0, atol=0)


def _tensors(values, what: str) -> list:
    checks.check_true(type(values) is list and all(type(v) is torch.Tensor for v in values), what)
    return values


def _share_within_one_sigma(standardised: torch.Tensor) -> torch.Tensor:
    return (standardised.abs() < 1).double().mean()


def check_pca_hidden(mine: dict, ref: dict) -> None:
    for trial in range(6):
        t = trial + 1
        rc = ref[f"components {trial}"]
        tol = {"atol": 1e-8} if rc.dtype == torch.float64 else {"atol": 1e-4, "rtol": 1e-4}  # trial 6: float32
        _unchanged(mine[f"x after pca_fit {trial}"], ref[f"x after pca_fit {trial}"],
                   f"the data after pca_fit on random data {t} (pca_fit must not change its input in place)")
        checks.check_close(mine[f"mean {trial}"], ref[f"mean {trial}"], name=f"the mean on random data {t}", **tol)
        c = checks.check_tensor(mine[f"components {trial}"], f"the components on random data {t}")
        checks.check_true(c.shape == rc.shape and c.dtype == rc.dtype,
                          f"the components on random data {t} have shape (k, D), one row per principal direction, "
                          "and the dtype of the data")
        checks.check_close(c @ c.T, torch.eye(len(rc), dtype=rc.dtype), **tol,
                           name=f"C C^T on random data {t} (the components must be orthonormal rows)")
        checks.check_close(c.T @ c, rc.T @ rc, **tol,
                           name=f"the projector C^T C onto the first k principal directions, on random data {t}")
        codes, ref_codes = checks.check_tensor(mine[f"codes {trial}"], f"the codes of random data {t}"), \
            ref[f"codes {trial}"]
        checks.check_true(codes.shape == ref_codes.shape and codes.dtype == ref_codes.dtype,
                          f"the codes of random data {t} have shape (N, k) and the dtype of the data")
        checks.check_close(codes @ c, ref_codes @ rc, **tol,
                           name=f"the codes (mapped back with their own components), on random data {t}")
        checks.check_close(mine[f"reconstruction {trial}"], ref[f"reconstruction {trial}"], **tol,
                           name=f"the reconstruction of random data {t}")
        checks.check_true(mine[f"pca_fit device {trial}"] == "",
                          "pca_fit should keep to its input's device (another device than the CPU's in this test)")
        checks.check_probe(mine, ref, f"given codes {trial}", **tol,
                           name=f"pca_project with a given mean and components, on random data {t}")
        checks.check_probe(mine, ref, f"given reconstruction {trial}", **tol,
                           name=f"pca_reconstruct with a given mean and components, on random data {t}")
    checks.check_close(mine["every component: reconstruction"], ref["every component: data"], atol=1e-8,
                       name="the reconstruction with every component (should be exact)")
    codes = checks.check_tensor(mine["every component: codes"], "the codes with every component")
    checks.check_true(codes.shape == ref["every component: codes"].shape,
                      "the codes with every component have shape (N, D)")
    variances = codes.var(dim=0)
    checks.check_true(bool((variances[:-1] >= variances[1:] - 1e-9).all()),
                      "the codes' variances must decrease: the first component explains the most")
    checks.check_close(variances, ref["every component: codes"].var(dim=0), atol=1e-8,
                       name="the variance of the codes along each principal direction")


def check_corrupt_hidden(mine: dict, ref: dict) -> None:
    for trial in range(6):
        checks.check_probe(mine, ref, f"random {trial}", name=f"corrupt(x, sigma, noise) on random input {trial + 1}"
                           + (" (float64, a batch of one)" if trial == 5 else ""))
    x = ref["x"]
    checks.check_close(mine["sigma 0"], x, name="corrupt(x, 0.0), which should be x")
    noisy = checks.check_tensor(mine["sigma 0.7"], "corrupt(x, 0.7)")
    checks.check_true(noisy.shape == x.shape, "corrupt(x, 0.7) has the shape of x")
    checks.check_true(bool(((noisy >= 0) & (noisy <= 1)).all()), "corrupted pixels must stay in [0, 1]")
    checks.check_true(float((noisy - x).abs().mean()) > 0.1, "with sigma = 0.7 the images should change a lot")
    first, second = _tensors(mine["two calls"], "corrupt(x, 0.3) must return a torch.Tensor")
    checks.check_true(first.shape == x.shape and not torch.equal(first, second), "two calls should draw fresh noise")
    grey = checks.check_tensor(mine["grey, sigma 0.1"], "corrupt(x, 0.1)")
    checks.check_true(grey.shape == ref["grey, sigma 0.1"].shape, "corrupt(x, 0.1) has the shape of x")
    noise = (grey.double() - 0.5) / 0.1  # 20,000 draws of the noise, which clipping never reaches here
    checks.check_close(noise.mean(), torch.tensor(0.0, dtype=torch.float64), atol=0.03, rtol=0,
                       name="the mean of the noise drawn with noise=None (should be 0)")
    checks.check_close(noise.std(), torch.tensor(1.0, dtype=torch.float64), atol=0.03, rtol=0,
                       name="the standard deviation of the noise drawn with noise=None, over sigma (should be 1)")
    checks.check_close(_share_within_one_sigma(noise), torch.tensor(0.6827, dtype=torch.float64), atol=0.015, rtol=0,
                       name="the share of the noise within one sigma of 0 (standard normal noise: 68%)")
    drawn, gradient = mine["drawn: result, gradient"]
    drawn = checks.check_tensor(drawn, "corrupt(x, 0.3) with an x that requires gradients")
    checks.check_true(drawn.shape == (20, 64) and gradient is not None,
                      "with noise=None, gradients should reach x through corrupt (no .detach(), no torch.no_grad())")
    # d clip(x + sigma eps) / dx: 1 where the pixel was not clipped, 0 where it was
    checks.check_close(gradient, ((drawn > 0) & (drawn < 1)).float(), atol=0, rtol=0,
                       name="the gradient of corrupt(x, 0.3) with respect to x (1 where not clipped, else 0)")
    checks.check_true(mine["drawn: device"] == "", "with noise=None, corrupt should draw its noise on x's device "
                      "(another device than the CPU's in this test)")


def check_reparameterise_hidden(mine: dict, ref: dict) -> None:
    for trial in range(6):
        checks.check_probe(mine, ref, f"random {trial}", name=f"reparameterise(mu, log_var, eps) on random input "
                           f"{trial + 1}" + (" (float64, a batch of one)" if trial == 5 else ""))
    mu, log_var = torch.tensor([-2.0, 0.0, 1.5]), torch.tensor([0.0, 2.0, -2.0])
    draws = checks.check_tensor(mine["draws"], "reparameterise(mu, log_var)")
    checks.check_true(draws.shape == ref["draws"].shape, "reparameterise(mu, log_var) has the shape of mu")
    checks.check_close(draws.mean(0), mu, name="the mean of 40,000 draws (should be mu)", atol=0.05, rtol=0)
    checks.check_close(draws.var(0), log_var.exp(), name="the variance of 40,000 draws (should be exp(log_var))",
                       rtol=0.05, atol=0)
    checks.check_close(_share_within_one_sigma((draws.double() - mu) / (0.5 * log_var).exp()),
                       torch.tensor(0.6827, dtype=torch.float64), atol=0.01, rtol=0,
                       name="the share of 40,000 draws within one standard deviation of mu (normal noise: 68%)")
    first, second = _tensors(mine["two calls"], "reparameterise(mu, log_var) must return a torch.Tensor")
    checks.check_true(first.shape == second.shape == (5, 3) and not torch.equal(first, second),
                      "with eps=None, two calls should draw fresh noise")
    leaf_mu, leaf_log_var, _ = ref["drawn: mu, log_var, z"]
    z = checks.check_tensor(mine["drawn: mu, log_var, z"][2],
                            "reparameterise(mu, log_var) with mu and log_var that require gradients")
    grad_mu, grad_log_var = mine["drawn: gradients"]
    checks.check_true(grad_mu is not None and grad_log_var is not None,
                      "gradients must reach both mu and log_var (no torch.normal, no .detach())")
    checks.check_close(grad_mu, torch.ones(4, 3), name="d z / d mu with eps drawn inside (should be 1)")
    checks.check_true(z.shape == leaf_mu.shape, "reparameterise(mu, log_var) has the shape of mu")
    checks.check_close(grad_log_var, 0.5 * (z - leaf_mu), atol=1e-5,
                       name="d z / d log_var with eps drawn inside (should be (z - mu) / 2)")
    checks.check_true(bool(grad_log_var.abs().sum() > 0), "gradients must reach log_var")
    checks.check_true(mine["drawn: device"] == "", "with eps=None, reparameterise should draw eps on mu's device "
                      "(another device than the CPU's in this test)")


def check_kl_hidden(mine: dict, ref: dict) -> None:
    for trial in range(5):
        checks.check_probe(mine, ref, f"random {trial}",
                           name=f"kl_to_standard_normal(mu, log_var) on random input {trial + 1}")
    checks.check_probe(mine, ref, "float32, batch of one",
                       name="kl_to_standard_normal(mu, log_var) on float32 input, a batch of one")
    mu, log_var = ref["inputs 601"]
    by_torch = torch.distributions.kl_divergence(torch.distributions.Normal(mu, (0.5 * log_var).exp()),
                                                 torch.distributions.Normal(0.0, 1.0)).sum(dim=1)
    kl = mine["KL 601"]
    checks.check_close(kl, by_torch, name="KL against torch.distributions.kl_divergence")
    checks.check_true(bool((kl > 0).all()), "KL must be positive away from the prior")
    checks.check_close(mine["at the prior"], torch.zeros(3), atol=0, rtol=0,
                       name="KL at mu = 0, log_var = 0 (should be exactly 0)")
    only_log_var = checks.check_tensor(mine["only log_var moves"], "the KL")
    only_mu = checks.check_tensor(mine["only mu moves"], "the KL")
    checks.check_true(only_log_var.numel() == 1 and float(only_log_var) > 0 and only_mu.numel() == 1
                      and float(only_mu) > 0,
                      "KL must be positive when only mu, or only log_var, moves away from the prior")
    checks.check_close(only_log_var, ref["only log_var moves"], name="KL when only log_var moves away from the prior")
    checks.check_close(only_mu, ref["only mu moves"], name="KL when only mu moves away from the prior")
    gradients = mine["gradients"]
    checks.check_true(gradients[0] is not None and gradients[1] is not None,
                      "gradients must reach mu and log_var (no .detach(), no NumPy)")
    checks.check_close(gradients, ref["gradients"], name="the gradients of the KL with respect to mu and log_var")


def _bernoulli_nll(logits: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
    """-log p(x | logits) summed over the pixels, by torch.distributions: (B, D) -> (B,)."""
    return -torch.distributions.Bernoulli(logits=logits, validate_args=False).log_prob(x).sum(1)


def check_negative_elbo_hidden(mine: dict, ref: dict) -> None:
    # The hidden cell gave negative_elbo a correct KL: a mistake in kl_to_standard_normal is not counted here.
    for trial in range(6):
        checks.check_probe(mine, ref, f"random {trial}", rtol=1e-4,
                           name=f"-ELBO on random input {trial + 1} (a scalar: sum over pixels, mean over the batch)"
                           + (", float64, a batch of one" if trial == 5 else ""))
    once = checks.check_tensor(mine["once"], "negative_elbo")
    checks.check_close(mine["twice"], once, rtol=1e-5,
                       name="-ELBO of the batch repeated twice (a mean over the batch does not change)")
    huge = checks.check_tensor(mine["huge logits"], "negative_elbo")
    checks.check_true(huge.numel() == 1 and bool(torch.isfinite(huge).all()), "-ELBO must stay finite for large logits")
    nll = _bernoulli_nll(torch.tensor([[300.0, -300.0]]), torch.tensor([[0.0, 1.0]])).mean()  # 600 nats, KL 0
    checks.check_close(huge, nll, rtol=1e-4,
                       name="-ELBO with logits of +-300 (use binary_cross_entropy_with_logits)")
