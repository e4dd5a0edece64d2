"""Differently written correct solutions of notebook 05's exercises (they must pass every check), and the
mutants of the reference answers that no check can kill because they are equivalent."""
import torch  # whatever the alternatives need is taken from the notebook's namespace anyway
import torch.nn.functional as F

EQUIVALENT = {
    ("sobel", "return edges.expand(-1, x.shape[1], -1, -1)"):
        "the same values; only the memory layout differs (an expanded view), which nothing promises or writes into",
    ("sobel", "edges = torch.where(peak >= 1e-06, magnitude / peak.clamp_min(1e-06), 0.0)"):
        "differs only for a maximum of exactly 1e-6, the threshold itself (a single float32 value, measure zero)",
    ("sobel", "edges = torch.where(peak > 1e-06, magnitude / peak, 0.0)"):
        "torch.where keeps the division only where peak > 1e-6, where the clamp does nothing; its 0/0 is never "
        "selected, and the backward is the same too (both NaN where every magnitude is 0: sqrt's gradient at 0)",
    ("sobel", "edges = torch.where(peak > 1e-06, magnitude / peak.clamp_min(0.0), 0.0)"):
        "clamp_min(0) does nothing to a maximum of magnitudes (>= 0); the unselected 0/0 is masked by torch.where, "
        "forward and backward (as for the clamp dropped)",
    ("colour_drop", "grey_level = (luma * x).sum(dim=1, keepdim=True)"):
        "for x in [0, 1] (the docstring's inputs) the grey level is already in [0, 1]: the weights are positive and "
        "sum to 1 (exactly 1.0 in float32, just below 1 in float64), so the clamp does nothing",
    ("colour_drop", "grey_level = (luma * x).sum(dim=1, keepdim=True).clamp(-1, 1)"):
        "the grey level of x in [0, 1] is in [0, 1] (positive weights summing to 1): any clamp containing [0, 1] is a no-op",
    ("colour_drop", "grey_level = (luma * x).sum(dim=1, keepdim=True).clamp(0, 2)"):
        "the grey level of x in [0, 1] is in [0, 1] (positive weights summing to 1): any clamp containing [0, 1] is a no-op",
    ("colour_drop", "coins = torch.rand(x.shape[0], generator=generator, device=source).to(x.device) <= p"):
        "differs only when a float32 draw in [0, 1) equals p exactly: probability at most 2^-24 per image, for any p "
        "(at p = 0, <= turns one image in 16 million grey); 'with probability p' holds for both",
    ("colour_drop", "return torch.where(coins.view(-1, 1, 1, 1), grey_level, x)"):
        "torch.where broadcasts the (B, 1, H, W) grey level against x (B, 3, H, W): the same (B, 3, H, W) result",
    ("nt_xent", "targets = (torch.arange(2 * n, device=z.device) - n) % (2 * n)"):
        "i - n and i + n differ by 2n, and torch's % takes the divisor's sign, so both are the same index in [0, 2n)",
}

# %% sobel grey level by einsum, magnitude by hypot, maximum by flatten-max, channels by repeat
def sobel(x: torch.Tensor) -> torch.Tensor:
    B, C, H, W = x.shape
    if C == 3:
        g = torch.einsum("c,bchw->bhw", x.new_tensor(LUMA), x).unsqueeze(1)  # (B, 1, H, W)
    else:
        g = x  # one channel: the image is its own grey level
    g_x = x.new_tensor([[-1, 0, 1], [-2, 0, 2], [-1, 0, 1]])
    weight = torch.stack([g_x, g_x.T])[:, None]  # (2, 1, 3, 3)
    both = F.conv2d(F.pad(g, (1, 1, 1, 1), mode="replicate"), weight)  # (B, 2, H, W)
    magnitude = torch.hypot(both[:, :1], both[:, 1:])  # (B, 1, H, W)
    peak = magnitude.flatten(1).max(dim=1).values.view(B, 1, 1, 1)
    flat = peak <= 1e-6
    edges = torch.where(flat, torch.zeros_like(magnitude), magnitude / torch.where(flat, torch.ones_like(peak), peak))
    return edges.repeat(1, C, 1, 1)

# %% sobel without conv2d: shifted slices of the padded grey level, one image at a time
def sobel(x: torch.Tensor) -> torch.Tensor:
    out = []
    for image in x:  # (C, H, W)
        if image.shape[0] == 3:
            luma = torch.tensor(LUMA, dtype=x.dtype, device=x.device)
            g = luma[0] * image[0] + luma[1] * image[1] + luma[2] * image[2]  # (H, W)
        else:
            g = image[0]
        p = F.pad(g[None, None], (1, 1, 1, 1), mode="replicate")[0, 0]  # (H + 2, W + 2)
        right_minus_left = p[:, 2:] - p[:, :-2]  # (H + 2, W)
        below_minus_above = p[2:, :] - p[:-2, :]  # (H, W + 2)
        d_x = right_minus_left[:-2] + 2 * right_minus_left[1:-1] + right_minus_left[2:]  # (H, W): G_x * g
        d_y = below_minus_above[:, :-2] + 2 * below_minus_above[:, 1:-1] + below_minus_above[:, 2:]  # G_y * g
        magnitude = (d_x ** 2 + d_y ** 2).sqrt()
        peak = magnitude.max()
        edges = magnitude / peak if float(peak) > 1e-6 else torch.zeros_like(magnitude)
        out.append(edges.expand_as(image))
    return torch.stack(out)

# %% colour_drop with an arithmetic blend of the two images by a 0/1 mask
def colour_drop(x: torch.Tensor, p: float = 1.0, generator: torch.Generator | None = None) -> torch.Tensor:
    draw_on = x.device if generator is None else generator.device
    numbers = torch.rand(len(x), generator=generator, device=draw_on).to(x.device)  # (B,)
    grey = torch.einsum("c,bchw->bhw", x.new_tensor(LUMA), x).unsqueeze(1).expand_as(x)  # (B, 3, H, W)
    mask = (numbers < p).to(x.dtype)[:, None, None, None]  # (B, 1, 1, 1): 1 turns grey
    return mask * grey + (1 - mask) * x

# %% colour_drop by writing the grey images into a copy (boolean indexing)
def colour_drop(x: torch.Tensor, p: float = 1.0, generator: torch.Generator | None = None) -> torch.Tensor:
    if generator is None:
        u = torch.rand(x.shape[0], device=x.device)
    else:
        u = torch.rand(x.shape[0], generator=generator, device=generator.device).to(x.device)
    weights = torch.tensor(LUMA, dtype=x.dtype, device=x.device)
    grey = (x * weights[:, None, None]).sum(dim=1, keepdim=True).clamp(0.0, 1.0)  # (B, 1, H, W)
    out = x.clone()
    chosen = u < p
    out[chosen] = grey[chosen].expand(-1, 3, -1, -1)
    return out

# %% nt_xent with F.normalize, the diagonal removed and the targets shifted to match
def nt_xent(z1: torch.Tensor, z2: torch.Tensor, temperature: float) -> torch.Tensor:
    n = z1.shape[0]
    z = F.normalize(torch.cat([z1, z2]), dim=1)  # (2N, D)
    logits = z @ z.T / temperature  # (2N, 2N)
    keep = ~torch.eye(2 * n, dtype=torch.bool, device=z.device)
    logits = logits[keep].view(2 * n, 2 * n - 1)  # row i without column i
    i = torch.arange(2 * n, device=z.device)
    partner = (i + n) % (2 * n)
    targets = partner - (partner > i).long()  # the partner's column once column i is gone
    return F.cross_entropy(logits, targets)

# %% nt_xent as logsumexp minus the positive, Algorithm 1's two halves written out
def nt_xent(z1: torch.Tensor, z2: torch.Tensor, temperature: float) -> torch.Tensor:
    n = len(z1)
    z = torch.cat([z1, z2])
    s = cosine_similarity_matrix(z, z) / temperature  # (2N, 2N)
    s = s - torch.diag(torch.full((2 * n,), float("inf"), dtype=s.dtype, device=s.device))  # -inf on the diagonal
    rows = torch.arange(n, device=z.device)
    first_half = torch.logsumexp(s[:n], dim=1) - s[rows, rows + n]  # l(k, k + N)
    second_half = torch.logsumexp(s[n:], dim=1) - s[rows + n, rows]  # l(k + N, k)
    return (first_half.sum() + second_half.sum()) / (2 * n)
