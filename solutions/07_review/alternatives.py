"""Differently written correct solutions of notebook 07's exercises (they must pass every check), and the
mutants of the reference answers that no check can kill because they are equivalent."""

EQUIVALENT = {
    ("mlp_backward", "dz1 = dh * (z1 > 0)"):
        "a bool tensor times a float tensor is promoted to the float's dtype: the same values as .to(dh.dtype)",
    ("mlp_backward", "dlogits = (logits.softmax(dim=1) - F.one_hot(y, classes)) / n"):
        "float minus int64 is promoted to the float's dtype: the same values as one_hot(...).to(logits.dtype)",
    ("answers_generative", "answer_vae_kl = 0.5 * (1 + 1 - 1 + 0 + (0 + 2 - 1 - math.log(2)))"):
        "adds instead of subtracts log 1 = 0: the same number",
    ("answers_generative", "answer_vae_kl = 0.5 * (1 + 1 - 1 + (0 + 2 - 1 - math.log(2)))"):
        "drops the term log 1 = 0: the same number",
    ("answers_generative", "answer_vae_kl = 0.5 * (1 - 0 + (0 + 2 - 1 - math.log(2)))"):
        "1 + 1 - 1 written as 1: the same number",
    ("answers_generative", "answer_vae_kl = 0.5 * (1 + 1 - 1 - 0 + (1 - math.log(2)))"):
        "0 + 2 - 1 written as 1: the same number",
    ("answers_generative", "answer_vae_kl = 0.5 * (1 + 1 - 1 - 0 + (2 - 1 - math.log(2)))"):
        "drops the term mu^2 = 0: the same number",
}

# %% mlp_forward with torch.nn.functional
def mlp_forward(x, W1, b1, W2, b2):
    z1 = torch.addmm(b1, x, W1)
    h = torch.nn.functional.relu(z1)
    return z1, h, torch.addmm(b2, h, W2)

# %% mlp_backward with autograd's rules written out, the one-hot made by indexing
def mlp_backward(x, y, W2, z1, h, logits):
    probabilities = torch.softmax(logits, dim=1)
    dlogits = probabilities.clone()
    dlogits[torch.arange(len(y), device=y.device), y] -= 1
    dlogits = dlogits / len(y)
    dh = dlogits @ W2.T
    dz1 = torch.where(z1 > 0, dh, torch.zeros_like(dh))
    return x.T @ dz1, dz1.sum(0), h.T @ dlogits, dlogits.sum(0)

# %% conv_output_size with math.floor
def conv_output_size(size, kernel, stride=1, padding=0, dilation=1):
    effective = dilation * (kernel - 1) + 1  # the span of the dilated kernel
    return int(math.floor((size + 2 * padding - effective) / stride)) + 1

# %% sgd_momentum_step in PyTorch's order of operations
def sgd_momentum_step(param, grad, velocity, lr, momentum, weight_decay=0.0):
    d_p = grad.add(param, alpha=weight_decay)
    buf = velocity.mul(momentum).add(d_p)
    return param.sub(buf, alpha=lr), buf

# %% adam_step with torch.addcmul and the bias corrections folded into the step size
def adam_step(param, grad, m, v, step, lr=1e-3, beta1=0.9, beta2=0.999, eps=1e-8):
    new_m = m * beta1 + (1 - beta1) * grad
    new_v = torch.addcmul(v * beta2, grad, grad, value=1 - beta2)
    denominator = (new_v / (1 - beta2 ** step)).sqrt() + eps
    return param - (lr / (1 - beta1 ** step)) * new_m / denominator, new_m, new_v

# %% answers_fundamentals as NumPy numbers and upper-case letters
answer_task_type = "B"
answer_conv_params = np.int64(1216)
answer_overfitting = " d "
answer_dropout_scale = np.float32(1.25)
answer_batchnorm_eval = "c"
answer_receptive_field = 7.0
answer_initial_loss = 1.609

# %% answers_generative rounded to 3 decimals
answer_generative = "d"
answer_linear_autoencoder = "b"
answer_vae_kl = 0.653
answer_reparameterisation = "a"
answer_optimal_discriminator = 0.5
answer_mode_collapse = "c"

# %% answers_contrastive rounded to 3 decimals, one as a one-element tensor
answer_pretext = "c"
answer_triplet_loss = torch.tensor(0.3)
answer_cosine = 0.596
answer_nt_xent_constant = 5.541
answer_projection_head = "b"
answer_temperature = "a"
answer_clip_zero_shot = "d"
answer_typographic = "a"
