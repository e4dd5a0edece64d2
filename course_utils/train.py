"""``fit``: the small training loop every notebook uses. Not a framework.

You write a ``step(batch)`` that computes a loss, calls ``backward`` and steps
the optimizer, and returns the loss (a number, a tensor or a dict of them).
``fit`` feeds it batches for a number of steps or epochs, moves each batch to the
device, shows a progress bar and records the losses in a ``History``:

    step = gradient_step(optimizer, lambda batch: F.mse_loss(model(batch[0]), batch[0]))
    history = fit(step, train.loader(batch_size=128), epochs=10, device=course.device)
    history.plot()
"""
from __future__ import annotations

import contextlib
import itertools
from dataclasses import dataclass, field
from typing import Any, Callable, Iterable

import torch
from torch import nn
from tqdm.auto import tqdm

Batch = Any
StepResult = float | torch.Tensor | dict[str, float | torch.Tensor]


@dataclass
class History:
    """The values a step returned, one list per name ("loss" when it returned one value)."""

    values: dict[str, list[float]] = field(default_factory=dict)

    def __getitem__(self, name: str) -> list[float]:
        return self.values[name]

    @property
    def loss(self) -> list[float]:
        if not self.values:
            raise ValueError("This History is empty: fit() has not recorded any step yet.")
        return self.values["loss"] if "loss" in self.values else next(iter(self.values.values()))

    def last(self, name: str = "loss", window: int = 50) -> float:
        """The mean of the last ``window`` values: a less noisy final loss."""
        values = self.values[name][-window:]
        return sum(values) / len(values)

    def plot(self, title: str | None = None, ax=None, smooth: int | None = None, log: bool = False):
        """Plot every recorded curve against the step (see ``viz.loss_curve``)."""
        from .viz import loss_curve

        return loss_curve(self.values, title=title, ax=ax, smooth=smooth, log=log)


def gradient_step(optimizer: torch.optim.Optimizer, compute_loss: Callable[[Batch], torch.Tensor]
                  ) -> Callable[[Batch], torch.Tensor]:
    """The usual step: zero the gradients, compute the loss, backpropagate, update."""

    def step(batch: Batch) -> torch.Tensor:
        optimizer.zero_grad(set_to_none=True)
        loss = compute_loss(batch)
        loss.backward()
        optimizer.step()
        return loss

    return step


def to_device(batch: Batch, device: torch.device | str | None) -> Batch:
    """Move every tensor in a batch (a tensor, or tuples, lists and dicts of them) to ``device``."""
    if device is None:
        return batch
    if isinstance(batch, torch.Tensor):
        return batch.to(device, non_blocking=True)
    if isinstance(batch, (tuple, list)):
        items = [to_device(b, device) for b in batch]
        return type(batch)(*items) if hasattr(batch, "_fields") else type(batch)(items)  # namedtuples too
    if isinstance(batch, dict):
        return {k: to_device(v, device) for k, v in batch.items()}
    return batch


def fit(step: Callable[[Batch], StepResult], data: Iterable[Batch] | Callable[[], Batch], *,
        steps: int | None = None, epochs: int | None = None, device: torch.device | str | None = None,
        amp: bool = False, desc: str = "training", progress: bool = True) -> History:
    """Call ``step`` on batches from ``data`` and record what it returns.

    Args:
        step: does one update on a batch and returns its loss(es).
        data: a DataLoader (or any re-iterable of batches), or a function that returns a fresh batch.
        steps / epochs: how long to train; give exactly one (epochs needs a DataLoader).
        device: where batches are moved before ``step`` sees them.
        amp: on a CUDA device, run ``step`` under bfloat16 autocast (mixed precision). Ignored elsewhere.
        desc: the progress bar's label.
    Returns:
        A History of the values ``step`` returned.
    """
    if (steps is None) == (epochs is None):
        raise ValueError("fit() needs exactly one of steps=... or epochs=...")
    if callable(data) and not hasattr(data, "__iter__"):
        if epochs is not None:
            raise ValueError("epochs=... needs a DataLoader; a batch-making function needs steps=...")
        batches: Iterable[Batch] = (data() for _ in range(steps))
        total = steps
    elif epochs is not None:
        batches = itertools.chain.from_iterable(data for _ in range(epochs))
        total = epochs * len(data)
    else:
        batches = itertools.islice(itertools.chain.from_iterable(itertools.repeat(data)), steps)
        total = steps
    use_amp = amp and device is not None and torch.device(device).type == "cuda"
    autocast = (lambda: torch.autocast("cuda", dtype=torch.bfloat16)) if use_amp else contextlib.nullcontext

    pending: dict[str, list[torch.Tensor | float]] = {}
    history = History()
    bar = tqdm(batches, total=total, desc=desc, disable=not progress, mininterval=0.5)
    for i, batch in enumerate(bar):
        with autocast():
            result = step(to_device(batch, device))
        for name, value in (result.items() if isinstance(result, dict) else [("loss", result)]):
            pending.setdefault(name, []).append(value.detach() if isinstance(value, torch.Tensor) else value)
        if i % 25 == 0 or i == total - 1:  # turning tensors into floats waits for the GPU: do it rarely
            _flush(pending, history)
            bar.set_postfix({k: f"{v[-1]:.4g}" for k, v in history.values.items()})
    _flush(pending, history)
    return history


def _flush(pending: dict[str, list], history: History) -> None:
    for name, values in pending.items():
        if values:
            floats = torch.stack([torch.as_tensor(v, dtype=torch.float32).cpu() for v in values]).tolist()
            history.values.setdefault(name, []).extend(floats)
            values.clear()


def minimise(model: nn.Module, loss: Callable[..., torch.Tensor], x: torch.Tensor | tuple[torch.Tensor, ...], *,
             steps: int, batch_size: int, lr: float, weight_decay: float = 0.0, distinct: bool = False,
             desc: str = "training", progress: bool = True) -> History:
    """Minimise ``loss(batch)`` over ``model``'s parameters on random batches of rows of ``x``, where x lives.

    ``x`` may be a tuple of tensors with the same number of rows (e.g. codes and labels): then the
    same rows of each make a batch, and the loss is called as ``loss(*batch)``. Rows are drawn with
    replacement, or ``distinct`` within a batch (contrastive losses need that: a repeated image
    would be its own negative).

    AdamW (Adam when ``weight_decay`` is 0), with the learning rate decaying along a cosine to 0, so
    the last weights need no averaging. The models of notebooks 03 to 05 all train this way; only the
    loss differs.
    """
    tensors = x if isinstance(x, tuple) else (x,)
    model.to(tensors[0].device).train()
    optimizer = torch.optim.AdamW(model.parameters(), lr=lr, weight_decay=weight_decay)
    schedule = torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, steps)

    def step(batch: tuple[torch.Tensor, ...]) -> torch.Tensor:
        value = loss(*batch)
        optimizer.zero_grad(set_to_none=True)
        value.backward()
        optimizer.step()
        schedule.step()
        return value

    def batch() -> tuple[torch.Tensor, ...]:
        n, device = len(tensors[0]), tensors[0].device
        rows = torch.randperm(n, device=device)[:batch_size] if distinct else torch.randint(n, (batch_size,), device=device)
        return tuple(t[rows] for t in tensors)

    history = fit(step, batch, steps=steps, desc=desc, progress=progress)
    model.eval()
    return history
