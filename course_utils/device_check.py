"""Does a function keep to its inputs' device? Run it once more on another device and watch.

Every exercise should be GPU-ready: new tensors are made on the inputs' device (``device=x.device``),
never on the CPU by default. On a CPU-only machine that is checked on PyTorch's ``meta`` device, whose
tensors have a shape and a dtype but no values: mixing a ``meta`` tensor with a CPU tensor raises, as
mixing CUDA and CPU would. ``device_report(fn, *args)`` runs ``fn`` with its tensor arguments (and
modules) moved there, under a ``TorchFunctionMode`` that remembers where each CPU tensor was made, so the
report names the line that made the tensor on the wrong device. It returns "" when all went well.

On ``meta`` a function that reads a value back (``.item()``, ``float(...)``, ``if x > 0``) cannot go on;
up to that point it has been checked, and the report is "". Random numbers drawn with a CPU generator
for data on another device must be drawn on the generator's device and then moved:
``torch.randn(shape, generator=g, device=g.device).to(x.device)`` (a CUDA computation would refuse the
CPU generator otherwise), so a call that asks a CPU generator to draw elsewhere is reported too.
"""
from __future__ import annotations

import copy
import linecache
import os
import sys
from typing import Any, Callable

import torch
from torch.overrides import TorchFunctionMode

_HERE = os.path.dirname(os.path.abspath(__file__))
_TORCH = os.path.dirname(os.path.abspath(torch.__file__))


def other_device() -> torch.device:
    """Where the second run goes: CUDA when there is one, else ``meta``."""
    return torch.device("cuda") if torch.cuda.is_available() else torch.device("meta")


class WrongDevice(RuntimeError):
    """A tensor on the CPU met one on the other device; the message names where it was made."""


def _caller() -> str:
    """'line N of NAME: SOURCE' of the innermost frame outside torch and this module."""
    frame = sys._getframe(2)
    while frame is not None:
        path = os.path.abspath(frame.f_code.co_filename)
        if not (path.startswith(_TORCH) or path == os.path.abspath(__file__)):
            text = linecache.getline(frame.f_code.co_filename, frame.f_lineno).strip()
            where = f"line {frame.f_lineno - frame.f_code.co_firstlineno + 1} of {frame.f_code.co_name}"
            return f"{where}: `{text}`" if text else where
        frame = frame.f_back
    return "an unknown line"


def _tensors(value: Any) -> list[torch.Tensor]:
    if isinstance(value, torch.Tensor):
        return [value]
    if isinstance(value, (list, tuple)):
        return [t for v in value for t in _tensors(v)]
    if isinstance(value, dict):
        return [t for v in value.values() for t in _tensors(v)]
    return []


class _Watch(TorchFunctionMode):
    def __init__(self, device: torch.device) -> None:
        super().__init__()
        self.device = device
        self.made: dict[int, tuple[torch.Tensor, str]] = {}  # id -> (tensor kept alive, where it was made)

    def __torch_function__(self, func, types, args=(), kwargs=None):
        kwargs = kwargs or {}
        name = getattr(func, "__name__", str(func))
        generator = kwargs.get("generator")
        asked = kwargs.get("device")
        if isinstance(generator, torch.Generator) and asked is not None \
                and torch.device(asked).type != generator.device.type:
            raise WrongDevice(f"{_caller()} asks a generator on {generator.device} to draw on {asked}: draw on "
                              "the generator's device and move the result, e.g. `torch.randn(shape, generator=g, "
                              "device=g.device).to(x.device)`")
        operands = _tensors(list(args)) + _tensors(list(kwargs.values()))
        leaving = name in ("cpu", "numpy") or (name == "to" and any(
            isinstance(a, (str, torch.device)) and torch.device(a).type == "cpu" for a in [*args[1:], asked] if a))
        if leaving and operands and operands[0].device.type == self.device.type:
            raise WrongDevice(f"{_caller()} moves a tensor from {self.device} to the CPU: keep the computation "
                              "on the inputs' device")
        on_device = [t for t in operands if t.device.type == self.device.type]
        if name == "__setitem__" and operands and operands[0].device.type == "cpu" and operands[0].dim() > 0 \
                and any(t.device.type == self.device.type for t in operands[1:]):
            made = self.made.get(id(operands[0]))
            where = made[1] if made and made[0] is operands[0] else "a tensor on the CPU"
            raise WrongDevice(f"{where} made a tensor on the CPU, which is then filled with values from "
                              f"{self.device}: create it on the inputs' device (e.g. `device=x.device`)")
        if on_device and name not in ("__getitem__", "__setitem__", "to", "cpu", "cuda", "__get__"):
            for t in operands:
                if t.device.type == "cpu" and t.dim() > 0:  # a CPU scalar may meet any device
                    made = self.made.get(id(t))
                    where = made[1] if made and made[0] is t else "a tensor on the CPU"
                    raise WrongDevice(f"{where} made a tensor on the CPU, which `{name}` then combines with "
                                      f"the inputs on {self.device}: create it on the inputs' device "
                                      "(e.g. `device=x.device`)")
        result = func(*args, **kwargs)
        for t in _tensors(result):
            if t.device.type == "cpu" and t.dim() > 0 and id(t) not in self.made:
                self.made[id(t)] = (t, _caller())
        return result


def _move(value: Any, device: torch.device) -> Any:
    if isinstance(value, torch.Tensor):
        moved = value.detach().to(device)
        return moved.requires_grad_(value.requires_grad) if value.is_floating_point() else moved
    if isinstance(value, torch.nn.Module):
        return copy.deepcopy(value).to(device)
    if isinstance(value, list):
        return [_move(v, device) for v in value]
    if isinstance(value, tuple):
        return tuple(_move(v, device) for v in value)
    return value


def _reads_values(err: BaseException) -> bool:
    text = str(err)
    return isinstance(err, NotImplementedError) and "meta" in text or "meta tensor" in text \
        or "cannot be called on meta" in text or "data-dependent" in text


def device_report(fn: Callable, *args: Any, name: str | None = None, **kwargs: Any) -> str:
    """"" if ``fn(*args, **kwargs)`` runs on the other device and returns its tensors there, else what went wrong."""
    device = other_device()
    name = name or getattr(fn, "__name__", "the function")
    moved_args, moved_kwargs = _move(list(args), device), {k: _move(v, device) for k, v in kwargs.items()}
    watch = _Watch(device)
    try:
        with watch:
            result = fn(*moved_args, **moved_kwargs)
    except WrongDevice as err:
        return f"{name} on {device} inputs: {err}"
    except NotImplementedError as err:
        if device.type == "meta" and _reads_values(err):
            return ""
        raise
    except Exception as err:  # noqa: BLE001  what ran on the CPU should run on the other device too
        if device.type == "meta" and _reads_values(err):
            return ""
        lines = str(err).strip().splitlines() or [""]
        return f"{name} on {device} inputs raised {type(err).__name__}: {lines[0]}"
    wrong = [t for t in _tensors(result) if t.device.type != device.type]
    if wrong:
        return (f"{name} on {device} inputs returned a tensor on {wrong[0].device}: keep the result on the "
                "inputs' device")
    return ""
