"""Comparing what a student hands back with what was expected: the bottom layer of ``checks``.

- ``check_close(actual, expected)``: same type of thing, shape, dtype, device, values.
- ``check_true(condition, message)``: an invariant (symmetry, a bound, a sign).
- ``check_tensor(value, name)``: ``value`` is a real tensor (judges read what students hand over).
- ``Partial(right, total)``: what a judge returns for partial credit.

They accept only real results: a torch tensor, a NumPy array or a Python number
(or tuples and lists of them). Anything else -- a subclass with its own ``__eq__``,
an object that claims to equal everything -- is refused with a message, so a check
can only pass when the values really are right.
"""
from __future__ import annotations

import math
from typing import Any

import numpy as np
import torch


class CheckFailed(AssertionError):
    """A check did not pass; the message says what was expected and what came back.

    ``check`` names what was checked, without the values: all a student is told of a failed hidden test.
    """

    def __init__(self, message: str, check: str | None = None) -> None:
        super().__init__(message)
        self.check = check or message


_NUMBER_TYPES = (bool, int, float, np.bool_, np.integer, np.floating)


def is_number(x: Any) -> bool:
    """``x`` is a real Python or NumPy number (bool, int, float, np.int64, np.float32, ...)."""
    # Exact types only: a subclass of float could override __eq__ or __sub__.
    return type(x) in (bool, int, float) or (isinstance(x, np.generic) and type(x).__module__ == "numpy"
                                               and isinstance(x, _NUMBER_TYPES))


def as_real(value: Any, name: str = "the result") -> torch.Tensor:
    """``value`` as a detached CPU tensor, if it is a real tensor, array or number; else CheckFailed."""
    if type(value) in (torch.Tensor, torch.nn.Parameter):
        return value.detach().cpu()
    if type(value) is np.ndarray and value.dtype.kind in "biuf":
        return torch.from_numpy(value.copy())
    if is_number(value):
        return torch.tensor(value)
    if value is None:
        raise CheckFailed(f"{name} is None: did the function forget to `return` its result?", name)
    raise CheckFailed(f"{name} should be a torch.Tensor (or a number), but it is a "
                      f"{type(value).__module__}.{type(value).__qualname__}.", name)


def rel_error(actual: Any, expected: Any) -> float:
    """The largest relative error, as in CS231n: max |a - e| / max(1e-8, |a| + |e|)."""
    a, e = as_real(actual).double(), as_real(expected).double()
    return float(((a - e).abs() / (a.abs() + e.abs()).clamp_min(1e-8)).max()) if a.numel() else 0.0


def check_close(actual: Any, expected: Any, *, name: str = "the result", rtol: float = 1e-5,
                atol: float = 1e-6, check_dtype: bool = True, check_device: bool = True) -> None:
    """Raise CheckFailed unless ``actual`` matches ``expected`` in kind, shape, dtype, device and values.

    Values match when ``|actual - expected| <= atol + rtol * |expected|`` elementwise
    (NaN never matches). Tuples and lists are compared element by element.
    """
    if isinstance(expected, (tuple, list)):
        if type(actual) not in (tuple, list) or len(actual) != len(expected):
            raise CheckFailed(f"{name} should be a {type(expected).__name__} of {len(expected)} items, "
                              f"but it is {_describe(actual)}.", name)
        for i, (a, e) in enumerate(zip(actual, expected)):
            check_close(a, e, name=f"{name}[{i}]", rtol=rtol, atol=atol,
                        check_dtype=check_dtype, check_device=check_device)
        return
    a, e = as_real(actual, name), as_real(expected, "the expected value")
    if isinstance(expected, torch.Tensor) and not isinstance(actual, torch.Tensor):
        raise CheckFailed(f"{name} should be a torch.Tensor, but it is {_describe(actual)}.", name)
    if tuple(a.shape) != tuple(e.shape):
        raise CheckFailed(f"{name} has shape {tuple(a.shape)}, expected {tuple(e.shape)}."
                          + _shape_hint(tuple(a.shape), tuple(e.shape)), name)
    if check_dtype and isinstance(expected, torch.Tensor) and actual.dtype != expected.dtype:
        raise CheckFailed(f"{name} has dtype {actual.dtype}, expected {expected.dtype}.", name)
    if check_device and isinstance(expected, torch.Tensor) and actual.device != expected.device:
        raise CheckFailed(f"{name} is on device {actual.device}, expected {expected.device}: "
                          "create new tensors on the input's device (e.g. `device=x.device`).", name)
    if a.dtype == torch.bool or e.dtype == torch.bool:
        wrong = a.bool() != e.bool()
    else:
        a64, e64 = a.double(), e.double()
        finite = torch.isfinite(e64)
        close = (a64 - e64).abs() <= atol + rtol * e64.abs()  # NaN compares False: never close
        # An infinite expected value must be matched exactly (inf <= inf would accept anything).
        wrong = torch.where(finite, ~close, a64 != e64)
    if bool(wrong.any()):
        n_wrong, n = int(wrong.sum()), wrong.numel()
        index = tuple(int(i) for i in torch.nonzero(wrong)[0]) if wrong.dim() else ()
        where = f" at index {index}" if index else ""
        raise CheckFailed(
            f"{name} has wrong values in {n_wrong} of {n} entries. First{where}: expected "
            f"{_fmt(e[index] if index else e)}, got {_fmt(a[index] if index else a)} "
            f"(allowed error: {atol:g} + {rtol:g} x |expected|; largest relative error {rel_error(a, e):.2e}).", name)


def check_tensor(value: Any, name: str) -> torch.Tensor:
    """``value`` itself if it is a real torch.Tensor, else CheckFailed saying that ``name`` should be one."""
    if type(value) not in (torch.Tensor, torch.nn.Parameter):
        raise CheckFailed(f"{name} should be a torch.Tensor, but it is {_describe(value)}.",
                          f"{name} should be a torch.Tensor")
    return value


class Partial:
    """What a judge returns for partial credit: ``right`` of ``total`` answers right (``detail``: which)."""

    def __init__(self, right: int, total: int, detail: str = "") -> None:
        if not (isinstance(right, int) and isinstance(total, int) and 0 <= right <= total and total > 0):
            raise ValueError(f"Partial({right!r}, {total!r}): need 0 <= right <= total, total > 0")
        self.right, self.total, self.detail = right, total, detail


def check_true(condition: Any, message: str) -> None:
    """Raise CheckFailed(message) unless ``condition`` is a real True (a bool or a one-element bool tensor)."""
    if type(condition) in (torch.Tensor, torch.nn.Parameter) and condition.numel() == 1 \
            and condition.dtype == torch.bool:
        condition = bool(condition.item())
    elif type(condition) is np.bool_:
        condition = bool(condition)
    if type(condition) is not bool:
        raise CheckFailed(f"{message} (the condition was {_describe(condition)}, not True or False)", message)
    if not condition:
        raise CheckFailed(message, message)


def _describe(x: Any) -> str:
    if isinstance(x, torch.Tensor):
        return f"a tensor of shape {tuple(x.shape)}"
    return f"a {type(x).__qualname__}"


def _fmt(x: torch.Tensor) -> str:
    v = x.item() if x.numel() == 1 else x
    return f"{v:.6g}" if isinstance(v, float) and math.isfinite(v) else str(v)


def _shape_hint(got: tuple, want: tuple) -> str:
    if len(got) == len(want) == 2 and got == want[::-1]:
        return " (It looks transposed.)"
    if sum(got) and math.prod(got) == math.prod(want):
        return " (Same number of entries: check a reshape, a transpose or the axis of a reduction.)"
    return ""
