"""Differently written correct solutions of notebook 00's exercise (they must pass every check), and the
mutants of the reference answer that no check can kill because they are equivalent."""

EQUIVALENT = {}

# %% cosine_similarity_matrix with torch.nn.functional.normalize
def cosine_similarity_matrix(a, b, eps=1e-8):
    return torch.nn.functional.normalize(a, dim=1, eps=eps) @ torch.nn.functional.normalize(b, dim=1, eps=eps).T

# %% cosine_similarity_matrix from the dot products and an outer product of the norms
def cosine_similarity_matrix(a, b, eps=1e-8):
    dots = a @ b.T  # (N, M)
    norms = a.norm(dim=1).clamp_min(eps)[:, None] * b.norm(dim=1).clamp_min(eps)[None, :]  # (N, M)
    return dots / norms

# %% cosine_similarity_matrix one row of a at a time (slow but right)
def cosine_similarity_matrix(a, b, eps=1e-8):
    b_unit = b / b.norm(dim=1, keepdim=True).clamp_min(eps)
    rows = [b_unit @ (row / row.norm().clamp_min(eps)) for row in a]
    return torch.stack(rows) if rows else a.new_zeros(0, len(b))
