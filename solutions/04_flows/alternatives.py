"""Differently written correct solutions of notebook 04's exercises (they must pass every check), and the
mutants of the reference answers that no check can kill because they are equivalent."""
import math  # whatever the alternatives need is taken from the notebook's namespace anyway

import torch

EQUIVALENT = {}

# %% coupling the lecture's formula term by term: m x + (1 - m)(x e^s + t), and its inverse
def coupling_forward(x, mask, net):
    s, t = net(mask * x)  # (B, D) each
    changed = 1 - mask
    y = mask * x + changed * (x * torch.exp(s) + t)
    return y, (changed * s).sum(dim=-1)


def coupling_inverse(y, mask, net):
    s, t = net(mask * y)
    changed = 1 - mask
    return mask * y + changed * (y - t) * torch.exp(-s)

# %% coupling with torch.where on a boolean mask
def coupling_forward(x, mask, net):
    keep = mask.bool()
    s, t = net(x * mask)
    s = torch.where(keep, torch.zeros_like(s), s)
    t = torch.where(keep, torch.zeros_like(t), t)
    return x * s.exp() + t, s.sum(dim=1)


def coupling_inverse(y, mask, net):
    keep = mask.bool()
    s, t = net(y * mask)
    return torch.where(keep, y, (y - t) * torch.exp(-s))

# %% nll with torch.distributions
def negative_log_likelihood(z, log_det):
    standard = torch.distributions.Normal(torch.zeros_like(z), torch.ones_like(z), validate_args=False)
    return -(standard.log_prob(z).sum(dim=1) + log_det)

# %% nll summed per coordinate
def negative_log_likelihood(z, log_det):
    return (0.5 * z ** 2 + 0.5 * math.log(2 * math.pi)).sum(dim=-1) - log_det

# %% flow_matching_loss with normal_ and uniform_ on empty tensors, the path as x0 + t (x1 - x0), MSE by hand
def flow_matching_loss(model, x1, generator=None):
    where = generator.device if generator is not None else x1.device
    x0 = torch.empty(x1.shape, dtype=x1.dtype, device=where).normal_(generator=generator).to(x1.device)
    t = torch.empty(len(x1), dtype=x1.dtype, device=where).uniform_(generator=generator).to(x1.device)
    t_ = t.view(-1, *([1] * (x1.dim() - 1)))
    velocity = x1 - x0
    return (model(x0 + t_ * velocity, t) - velocity).square().mean()

# %% flow_matching_loss with keyword arguments and torch.lerp for the path
def flow_matching_loss(model, x1, generator=None):
    kwargs = {"generator": generator, "dtype": x1.dtype,
              "device": x1.device if generator is None else generator.device}
    x0 = torch.randn(*x1.shape, **kwargs).to(x1.device)
    t = torch.rand(x1.shape[0], **kwargs).to(x1.device)
    x_t = torch.lerp(x0, x1, t.reshape((-1,) + (1,) * (x1.dim() - 1)))
    return torch.nn.functional.mse_loss(model(x_t, t), x1 - x0, reduction="mean")

# %% euler_sample with the model put in eval mode (and its mode restored), times k / steps in x0's dtype
def euler_sample(model, x0, steps):
    was_training = model.training
    model.eval()
    path, x = [x0], x0
    with torch.no_grad():
        for k in range(steps):
            t = x0.new_full((x0.shape[0],), k / steps)
            x = x + model(x, t) / steps
            path.append(x)
    model.train(was_training)
    return path

# %% euler_sample as a decorated function with a while loop
@torch.no_grad()
def euler_sample(model, x0, steps):
    h, k, path = 1 / steps, 0, [x0]
    while k < steps:
        t = torch.ones(len(x0), device=x0.device) * (k * h)
        path.append(path[-1] + model(path[-1], t) * h)
        k += 1
    return path

# %% guidance with torch.lerp: eps_uncond + (1 + w)(eps_cond - eps_uncond)
def classifier_free_guidance(eps_cond, eps_uncond, scale):
    return torch.lerp(eps_uncond, eps_cond, 1 + scale)

# %% guidance as a weighted sum
def classifier_free_guidance(eps_cond, eps_uncond, scale):
    return (1 + scale) * eps_cond - scale * eps_uncond
