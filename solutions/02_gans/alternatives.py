"""Differently written correct solutions of notebook 02's exercises (they must pass every check), and the
mutants of the reference answers that no check can kill because they are equivalent."""
import torch  # noqa: F401  whatever the alternatives need is taken from the notebook's namespace anyway
import torch.nn.functional as F  # noqa: F401

EQUIVALENT = {
    ("gan_step", "d_optimizer.zero_grad()  (moved before it)"):
        "clearing D's .grad before the forward pass instead of after it: the forward neither reads nor writes "
        ".grad, so d_loss.backward() finds the same cleared gradients",
    ("gan_step", "g_optimizer.zero_grad()  (moved before it)"):
        "clearing G's .grad before the forward pass through D instead of after it: the forward neither reads nor "
        "writes .grad, so g_loss.backward() finds the same cleared gradients",
}

# %% discriminator_loss with binary_cross_entropy_with_logits and targets of ones and zeros
def discriminator_loss(real_logits, fake_logits):
    real_term = F.binary_cross_entropy_with_logits(real_logits, torch.ones_like(real_logits))
    fake_term = F.binary_cross_entropy_with_logits(fake_logits, torch.zeros_like(fake_logits))
    return real_term + fake_term

# %% discriminator_loss with logsigmoid: log D = logsigmoid(l), log(1 - D) = logsigmoid(-l)
def discriminator_loss(real_logits, fake_logits):
    return -(F.logsigmoid(real_logits).mean() + F.logsigmoid(-fake_logits).mean())

# %% generator_losses with logsigmoid and binary_cross_entropy_with_logits
def generator_loss_minimax(fake_logits):
    return F.logsigmoid(-fake_logits).mean()  # log(1 - sigmoid(l)) = log sigmoid(-l)


def generator_loss_non_saturating(fake_logits):
    return F.binary_cross_entropy_with_logits(fake_logits, torch.ones_like(fake_logits))

# %% generator_losses as a flattened sum divided by the count
def generator_loss_minimax(fake_logits):
    return -F.softplus(fake_logits.reshape(-1)).sum() / fake_logits.numel()


def generator_loss_non_saturating(fake_logits):
    return F.softplus(fake_logits.neg().flatten()).sum() / fake_logits.numel()

# %% gan_step with both optimizers cleared first, once: D's half never reaches G, and D does not step again
def gan_step(generator, discriminator, g_optimizer, d_optimizer, real, z, generator_loss=generator_loss_non_saturating):
    d_optimizer.zero_grad(set_to_none=True)
    g_optimizer.zero_grad(set_to_none=True)
    fake = generator(z)
    real_logits = discriminator(real)
    fake_logits = discriminator(fake.detach())
    d_loss = discriminator_loss(real_logits, fake_logits)
    d_loss.backward()
    d_optimizer.step()
    g_loss = generator_loss(discriminator(fake))  # adds to D's gradients too: harmless, D has stepped already
    g_loss.backward()
    g_optimizer.step()
    return dict([("D loss", d_loss.detach()), ("G loss", g_loss.detach())])

# %% gan_step with the modules' zero_grad, and G's backward limited to G's parameters
def gan_step(generator, discriminator, g_optimizer, d_optimizer, real, z, generator_loss=generator_loss_non_saturating):
    fake = generator(z)
    discriminator.zero_grad()
    d_loss = discriminator_loss(discriminator(real), discriminator(fake.detach()))
    d_loss.backward()
    d_optimizer.step()
    generator.zero_grad()
    g_loss = generator_loss(discriminator(fake))
    g_loss.backward(inputs=list(generator.parameters()))  # D's gradients are left as L_D made them
    g_optimizer.step()
    losses = {"D loss": d_loss, "G loss": g_loss}
    return {name: loss.detach().clone() for name, loss in losses.items()}

# %% gan_step with D frozen (requires_grad off) during G's half, and the fakes made under no_grad for D
def gan_step(generator, discriminator, g_optimizer, d_optimizer, real, z, generator_loss=generator_loss_non_saturating):
    fake = generator(z)
    with torch.no_grad():
        fake_for_d = fake.clone()  # the same values, no graph back to G
    d_optimizer.zero_grad()
    d_loss = discriminator_loss(discriminator(real), discriminator(fake_for_d))
    d_loss.backward()
    d_optimizer.step()
    frozen = [p for p in discriminator.parameters() if p.requires_grad]
    for p in frozen:
        p.requires_grad_(False)
    try:
        g_optimizer.zero_grad()
        g_loss = generator_loss(discriminator(fake))
        g_loss.backward()
        g_optimizer.step()
    finally:
        for p in frozen:
            p.requires_grad_(True)
    return {"G loss": g_loss.detach(), "D loss": d_loss.detach()}
