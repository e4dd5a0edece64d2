"""The course's figures, with one look: image grids, 2-D scatter and density plots,
loss curves, embedding scatters and similarity heat maps.

Every function draws on a new figure (or on ``ax`` if given) and returns the
figure, with labelled axes and a title; tensors may live on any device.
"""
from __future__ import annotations

import math
import textwrap
from typing import Callable, Sequence

import matplotlib.pyplot as plt
import numpy as np
import torch

#: Colours used across all notebooks: data in blue, model samples in orange, modes in black.
PALETTE = {"data": "#1f77b4", "model": "#ff7f0e", "mode": "#222222", "good": "#2ca02c", "bad": "#d62728"}
STYLE = {
    "figure.dpi": 100, "savefig.dpi": 100, "figure.figsize": (6.0, 4.0), "font.size": 10,
    "axes.titlesize": 11, "axes.titleweight": "bold", "axes.spines.top": False, "axes.spines.right": False,
    "axes.grid": True, "grid.alpha": 0.25, "image.cmap": "gray", "legend.frameon": False,
}


def use_style() -> None:
    """Apply the course's matplotlib style (``setup()`` calls this)."""
    plt.rcParams.update(STYLE)


def _numpy(x) -> np.ndarray:
    return x.detach().float().cpu().numpy() if isinstance(x, torch.Tensor) else np.asarray(x)


def _new_axes(ax, figsize=None):
    if ax is not None:
        return ax.figure, ax
    return plt.subplots(figsize=figsize)


def show_images(images: torch.Tensor, captions: Sequence[str] | None = None, ncols: int = 8,
                title: str | None = None, size: float = 1.1, vmin: float = 0.0, vmax: float = 1.0):
    """A grid of (N, C, H, W) images in [vmin, vmax] (C = 1 or 3), with an optional caption under each."""
    images = _numpy(images)
    n = len(images)
    ncols = min(ncols, n)
    nrows = math.ceil(n / ncols)
    height = size * images.shape[2] / images.shape[3]  # keep the images' aspect ratio
    wrap = max(12, int(size * 16))  # characters per caption line at fontsize 7
    lines = max((len(textwrap.wrap(str(c), wrap)) for c in captions), default=0) if captions is not None else 0
    fig, axes = plt.subplots(nrows, ncols, figsize=(size * ncols, (height + 0.14 * lines + 0.1) * nrows
                                                    + 0.4 * bool(title)), squeeze=False)
    for i, ax in enumerate(axes.flat):
        ax.set_axis_off()
        if i >= n:
            continue
        image = images[i]
        if image.shape[0] == 1:
            ax.imshow(image[0], cmap="gray", vmin=vmin, vmax=vmax, interpolation="nearest")
        else:
            ax.imshow(np.clip((image.transpose(1, 2, 0) - vmin) / (vmax - vmin), 0, 1), interpolation="nearest")
        if captions is not None:
            ax.set_title(textwrap.fill(str(captions[i]), wrap), fontsize=7, fontweight="normal")
    if title:
        fig.suptitle(title, fontweight="bold")
    fig.tight_layout()
    return fig


def image_grid(images: torch.Tensor, nrow: int, row_labels: Sequence[str] | None = None,
               col_labels: Sequence[str] | None = None, title: str | None = None, ax=None, size: float = 0.55):
    """(N, C, H, W) images in [0, 1] tiled into one picture, ``nrow`` per row, with optional row and column labels.

    One image on one axes (torchvision's ``make_grid``, grey lines between the
    tiles): compact for latent grids, traversals and before/after rows.
    """
    from torchvision.utils import make_grid

    images = images.detach().float().cpu().clamp(0, 1)
    grid = make_grid(images, nrow=nrow, padding=1, pad_value=0.5)  # (3, H', W'): grey images become RGB
    rows = math.ceil(len(images) / nrow)
    height, width = images.shape[2] + 1, images.shape[3] + 1  # a tile and its line
    fig, ax = _new_axes(ax, (size * nrow + (1.3 if row_labels else 0.3), size * rows * height / width + 0.5))
    ax.imshow(grid.permute(1, 2, 0).numpy(), interpolation="nearest")
    ax.grid(False)
    centre = lambda i, step: 1 + i * step + (step - 1) / 2 - 0.5  # noqa: E731  pixel centres are integers
    ax.set_xticks([centre(i, width) for i in range(len(col_labels))] if col_labels else [], col_labels or [],
                  fontsize=8)
    ax.set_yticks([centre(i, height) for i in range(len(row_labels))] if row_labels else [], row_labels or [],
                  fontsize=8)
    ax.tick_params(length=0)
    for spine in ax.spines.values():
        spine.set_visible(False)
    if title:
        ax.set_title(title)
    return fig


def scatter2d(points: torch.Tensor, labels: torch.Tensor | None = None, centres: torch.Tensor | None = None,
              title: str | None = None, ax=None, color: str = PALETTE["data"], s: float = 2.0,
              lim: float | None = None, label: str | None = None):
    """A scatter of (N, 2) points, coloured by ``labels`` if given, with mode ``centres`` as open circles."""
    fig, ax = _new_axes(ax, (4.5, 4.5))
    p = _numpy(points)
    if centres is not None:  # open circles behind the points, so tight modes stay visible
        c = _numpy(centres)
        ax.scatter(c[:, 0], c[:, 1], marker="o", s=70, facecolors="none", edgecolors=PALETTE["mode"],
                   linewidths=0.8, label="modes", zorder=1)
    if labels is None:
        ax.scatter(p[:, 0], p[:, 1], s=s, color=color, alpha=0.6, linewidths=0, label=label, zorder=2)
    else:
        ax.scatter(p[:, 0], p[:, 1], s=s, c=_numpy(labels), cmap="tab10", alpha=0.7, linewidths=0, zorder=2)
    if lim is not None:
        ax.set_xlim(-lim, lim)
        ax.set_ylim(-lim, lim)
    ax.set_aspect("equal")
    ax.set(xlabel="$x_1$", ylabel="$x_2$", title=title)
    return fig


def density2d(density: Callable[[torch.Tensor], torch.Tensor] | torch.Tensor, lim: float = 3.0,
              resolution: int = 200, title: str | None = None, ax=None, log: bool = False,
              centre: tuple[float, float] = (0.0, 0.0)):
    """A heat map of a 2-D density: a function of (M, 2) points, or a histogram of (N, 2) samples.

    It covers the square of half-width ``lim`` around ``centre``.
    """
    fig, ax = _new_axes(ax, (4.5, 4.5))
    (x0, x1), (y0, y1) = [(c - lim, c + lim) for c in centre]
    if callable(density):
        grid = torch.cartesian_prod(torch.linspace(x0, x1, resolution), torch.linspace(y0, y1, resolution))
        with torch.no_grad():  # grid: (R*R, 2), x varies slowest
            values = _numpy(density(grid)).reshape(resolution, resolution).T  # rows = x_2
    else:
        p = _numpy(density)
        values, _, _ = np.histogram2d(p[:, 1], p[:, 0], bins=resolution, range=[[y0, y1], [x0, x1]])
    if log:
        values = np.log(np.maximum(values, 1e-12))
    image = ax.imshow(values, origin="lower", extent=(x0, x1, y0, y1), cmap="magma", aspect="equal")
    fig.colorbar(image, ax=ax, fraction=0.046, pad=0.04)
    ax.grid(False)
    ax.set(xlabel="$x_1$", ylabel="$x_2$", title=title)
    return fig


def loss_curve(curves: dict[str, Sequence[float]] | Sequence[float], title: str | None = None, ax=None,
               smooth: int | None = None, log: bool = False, xlabel: str = "step"):
    """Training curves against the step; ``smooth`` draws a moving average over the raw values."""
    fig, ax = _new_axes(ax)
    curves = curves if isinstance(curves, dict) else {"loss": curves}
    for i, (name, values) in enumerate(curves.items()):
        values = np.asarray(values, dtype=float)
        window = smooth or max(1, len(values) // 50)
        colour = plt.cm.tab10(i)
        if window > 1 and len(values) > window:
            ax.plot(values, color=colour, alpha=0.25, linewidth=0.8)
            kernel = np.ones(window) / window
            ax.plot(np.arange(window - 1, len(values)), np.convolve(values, kernel, "valid"), color=colour, label=name)
        else:
            ax.plot(values, color=colour, label=name)
    if log:
        ax.set_yscale("log")
    ax.set(xlabel=xlabel, ylabel="loss" if len(curves) == 1 else "value", title=title or "Training curve")
    if len(curves) > 1:
        ax.legend()
    return fig


def embedding_scatter(features: torch.Tensor, labels: torch.Tensor, method: str = "pca",
                      class_names: Sequence[str] | None = None, title: str | None = None, ax=None,
                      seed: int = 0, s: float = 6.0, colours: Sequence[str] | None = None):
    """(N, D) features projected to 2-D by PCA or t-SNE, coloured by label, with a legend of class names.

    ``colours``: one matplotlib colour per class (default: the tab10 cycle), e.g. the colours a label names.
    """
    from sklearn.decomposition import PCA
    from sklearn.manifold import TSNE

    x = _numpy(features).reshape(len(features), -1)
    if method == "pca":
        xy = PCA(n_components=2, random_state=seed).fit_transform(x)
    elif method == "tsne":
        xy = TSNE(n_components=2, init="pca", perplexity=min(30.0, (len(x) - 1) / 3), random_state=seed).fit_transform(x)
    else:
        raise ValueError(f"method must be 'pca' or 'tsne', not {method!r}")
    fig, ax = _new_axes(ax, (5, 4.5))
    y = labels.detach().cpu().numpy() if isinstance(labels, torch.Tensor) else np.asarray(labels)  # keep ints
    for k in np.unique(y):
        name = class_names[k] if class_names is not None else str(k)
        colour = colours[k] if colours is not None else plt.cm.tab10(int(k) % 10)
        ax.scatter(xy[y == k, 0], xy[y == k, 1], s=s, color=colour, label=name, linewidths=0)
    ax.legend(markerscale=2, fontsize=8, loc="best", ncol=2 if len(np.unique(y)) > 6 else 1)
    ax.set(xlabel=f"{method.upper()} 1", ylabel=f"{method.upper()} 2", title=title or f"{method.upper()} embedding")
    ax.set_xticks([])
    ax.set_yticks([])
    return fig


def similarity_heatmap(matrix: torch.Tensor, row_labels: Sequence[str] | None = None,
                       col_labels: Sequence[str] | None = None, title: str | None = None, ax=None,
                       vmin: float = -1.0, vmax: float = 1.0, annotate: bool | None = None,
                       label: str = "cosine similarity", cmap: str = "RdBu_r"):
    """A similarity matrix as a heat map (the lecture's CLIP figure), values written in small matrices.

    ``label`` names the colour bar; any other table of numbers can be drawn with its own label and ``cmap``.
    """
    m = _numpy(matrix)
    fig, ax = _new_axes(ax, (0.45 * m.shape[1] + 2.5, 0.45 * m.shape[0] + 1.5))
    image = ax.imshow(m, cmap=cmap, vmin=vmin, vmax=vmax)
    if annotate if annotate is not None else m.size <= 100:
        for (i, j), v in np.ndenumerate(m):
            r, g, b, _ = image.cmap(image.norm(v))  # the cell's colour: white text on dark cells, black on light
            ax.text(j, i, f"{v:.2f}", ha="center", va="center", fontsize=7,
                    color="white" if 0.299 * r + 0.587 * g + 0.114 * b < 0.5 else "black")
    ax.set_xticks(range(m.shape[1]), col_labels if col_labels is not None else range(m.shape[1]),
                  rotation=90 if col_labels is not None else 0)
    ax.set_yticks(range(m.shape[0]), row_labels if row_labels is not None else range(m.shape[0]))
    ax.grid(False)
    fig.colorbar(image, ax=ax, fraction=0.046, pad=0.04, label=label)
    ax.set_title(title or "Similarity matrix")
    return fig
