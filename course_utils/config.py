"""Run-time settings of the course: FAST or FULL, the device, seeds, the data folder.

Every notebook starts with ``course = setup(seed=0)``: it reads the mode from the
environment, picks the device once, seeds every random generator and prints one
line saying what it chose. Nothing here is decided at import time: each function
reads the environment when it is called, so tests and graders can change it.

- FAST mode (``COURSE_FAST=1``): tiny settings that run in seconds, for tests and
  the autograder. FULL mode (the default): the settings that give real results.
- The device: ``COURSE_DEVICE`` if set, else CUDA, then Apple's MPS, then the CPU.
- The data folder (for the opt-in real datasets): ``COURSE_DATA``, else
  ``~/.cache/course-kit/data``.
"""
from __future__ import annotations

import os
import platform
import random
from dataclasses import dataclass
from pathlib import Path
from typing import TypeVar

import numpy as np
import torch

T = TypeVar("T")


def fast_mode() -> bool:
    """True when ``COURSE_FAST`` is set to 1 (or true/yes)."""
    return os.environ.get("COURSE_FAST", "").strip().lower() in {"1", "true", "yes"}


def pick(*, fast: T, full: T) -> T:
    """Choose a setting by mode: ``steps = pick(fast=50, full=5_000)``."""
    return fast if fast_mode() else full


def get_device(prefer: str | None = None) -> torch.device:
    """The device to compute on: ``prefer``, else ``COURSE_DEVICE``, else cuda, mps, cpu."""
    name = prefer or os.environ.get("COURSE_DEVICE")
    if name:
        device = torch.device(name)
        if device.type == "cuda" and not torch.cuda.is_available():
            raise RuntimeError(f"Device {name!r} was asked for, but PyTorch sees no CUDA GPU here. "
                               "Unset COURSE_DEVICE (or pass prefer=None) to use the CPU.")
        return device
    if torch.cuda.is_available():
        return torch.device("cuda")
    if getattr(torch.backends, "mps", None) is not None and torch.backends.mps.is_available():
        return torch.device("mps")
    return torch.device("cpu")


def seed_everything(seed: int) -> None:
    """Seed Python's, NumPy's and torch's generators (all devices)."""
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)  # also seeds every CUDA device


def data_dir() -> Path:
    """The folder where opt-in real datasets are stored (not created here)."""
    root = os.environ.get("COURSE_DATA")
    return Path(root).expanduser() if root else Path.home() / ".cache" / "course-kit" / "data"


def environment() -> dict[str, str]:
    """Versions and settings worth printing when something does not work."""
    from importlib.metadata import PackageNotFoundError, version

    report = {"python": platform.python_version(), "platform": platform.platform(terse=True)}
    for package in ("torch", "torchvision", "numpy", "scikit-learn", "matplotlib", "ipywidgets", "nbgrader"):
        try:
            report[package] = version(package)
        except PackageNotFoundError:
            report[package] = "not installed"
    report["device"] = str(get_device())
    report["mode"] = "FAST" if fast_mode() else "FULL"
    report["CPU threads"] = str(torch.get_num_threads())
    report["data folder"] = str(data_dir())
    return report


@dataclass(frozen=True)
class Course:
    """What ``setup`` chose; notebooks keep it as ``course``."""

    device: torch.device
    fast: bool
    seed: int

    @property
    def mode(self) -> str:
        return "FAST" if self.fast else "FULL"


def setup(seed: int = 0, device: str | None = None, quiet: bool = False) -> Course:
    """Pick the device once, seed everything, apply the course's plot style, and report.

    Returns a ``Course`` with ``device``, ``fast`` and ``seed``.
    """
    from . import __version__, viz

    seed_everything(seed)
    chosen = get_device(device)
    course = Course(device=chosen, fast=fast_mode(), seed=seed)
    viz.use_style()
    if not quiet:
        gpu = f" ({torch.cuda.get_device_name(chosen)})" if chosen.type == "cuda" else ""
        print(f"course_utils {__version__} | Python {platform.python_version()} | torch {torch.__version__} | "
              f"device {chosen}{gpu} | {course.mode} mode | seed {seed}")
    return course
