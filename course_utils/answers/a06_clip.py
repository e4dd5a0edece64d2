"""Notebook 06's graded exercises: CLIP's symmetric loss, the zero-shot classifier, its predictions and top-k accuracy.

Each section below is the solution cell of the same grade id in solutions/06_clip/06_clip.ipynb.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F

from ..reference import ReferenceNotReleased  # noqa: F401  (the students' copy raises it)


def embed_texts(model, tokenizer, texts: list[str], batch_size: int = 500) -> torch.Tensor:
    """``clip.embed_texts``, which the notebook imports and ``zero_shot_classifier`` calls: unit text embeddings
    (M, D). Imported when called, because ``clip`` imports this file."""
    from ..clip import embed_texts as embed

    return embed(model, tokenizer, texts, batch_size)


# %% clip_loss
def clip_loss(image_features: torch.Tensor, text_features: torch.Tensor, logit_scale) -> torch.Tensor:
    """CLIP's symmetric loss: the mean of the images-to-captions and the captions-to-images cross-entropies.

    Args: image_features (N, D) and text_features (N, D), unit rows, row i of both from pair i; logit_scale s,
    a Python number or a scalar tensor (a parameter: the loss must be differentiable with respect to it).
    Returns a scalar (0-d) tensor on the features' device; new tensors (the targets) are made there too.
    """
    ### BEGIN SOLUTION
    logits = logit_scale * image_features @ text_features.T  # (N, N): image i against every caption
    targets = torch.arange(len(logits), device=logits.device)  # (N,): pair i is on the diagonal
    return (F.cross_entropy(logits, targets) + F.cross_entropy(logits.T, targets)) / 2
    # sample wrong answer: return F.cross_entropy(logits, targets)  # images to captions only
    ### END SOLUTION


# %% zero_shot_classifier
def zero_shot_classifier(model, tokenizer, class_names: list[str], templates: list[str]) -> torch.Tensor:
    """A prompt ensemble: row c is the normalised mean of the unit text embeddings of class_names[c] written into
    each of the K templates (``template.format(label=name)``), embedded with ``embed_texts(model, tokenizer, ...)``.

    Returns (C, D) unit rows, on the model's device and in its dtype (as ``embed_texts`` gives them).
    """
    ### BEGIN SOLUTION
    prompts = [template.format(label=name) for name in class_names for template in templates]  # C * K texts
    embeddings = embed_texts(model, tokenizer, prompts)  # (C * K, D), unit rows, class by class
    means = embeddings.view(len(class_names), len(templates), -1).mean(dim=1)  # (C, D)
    return F.normalize(means, dim=1)
    # sample wrong answer: return means  # not normalised again
    ### END SOLUTION


# %% zero_shot_predict
def zero_shot_predict(image_features: torch.Tensor, classifier: torch.Tensor) -> torch.Tensor:
    """The zero-shot prediction: for each of the (N, D) image features, the index of the class (a row of the
    (C, D) classifier) with the highest similarity I^T W_c. Returns (N,) int64, on the features' device."""
    ### BEGIN SOLUTION
    return (image_features @ classifier.T).argmax(dim=1)  # (N, C) -> (N,)
    ### END SOLUTION


def top_k_accuracy(scores: torch.Tensor, labels: torch.Tensor, k: int = 1) -> float:
    """The fraction of the N rows of scores (N, C) whose label (labels (N,), int64) is among their k highest
    scores, as a Python float. The labels may be on another device than the scores (the notebook's labels stay
    on the CPU while its scores are on the model's device): move them to the scores' device."""
    ### BEGIN SOLUTION
    top = scores.topk(k, dim=1).indices  # (N, k)
    return float((top == labels.to(scores.device)[:, None]).any(dim=1).float().mean())
    # sample wrong answer: return float((top[:, 0] == labels.to(scores.device)).float().mean())  # ignores k
    ### END SOLUTION
