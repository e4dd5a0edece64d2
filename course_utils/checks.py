"""Checking helpers shared by the notebooks' visible tests, hidden tests and pytest.

One set of helpers serves all three, so a student sees the same message in the
notebook that the autograder records:

- ``check_close(actual, expected)``: same type of thing, shape, dtype, device, values.
- ``check_function(fn, reference, make_inputs)``: compare a function with the
  reference on seeded random inputs.
- ``check_true(condition, message)``: an invariant (symmetry, a bound, a sign).
- ``check_tensor(value, name)``: ``value`` is a real tensor (judges read what students hand over).
- ``check_device(fn, *args)``: ``fn`` runs on another device (CUDA, else ``meta``) and keeps its tensors
  there; ``course_utils.device_check`` names the line that made a tensor on the CPU.
- ``probe(key, fn, *args)`` in a hidden test, ``check_probe(mine, ref, key, name)`` in its judge: one call's
  result, its inputs afterwards, the gradients to its inputs and the device report, compared as a whole.
- ``replaced(globals(), name=stand_in)``: test one exercise on its own, with a correct stand-in for an
  earlier exercise it calls.
- ``hidden_test(grade_id, observe)``: a hidden test. ``observe()`` only computes the student's outputs
  on seeded hidden inputs; a judge compares them with the reference answer's outputs. When a notebook
  is graded, the judge runs in the grader, outside the student's process (``autograder.judging``).

They accept only real results (``course_utils.compare``, where ``check_close`` and ``check_true`` live):
a torch tensor, a NumPy array or a Python number, or tuples and lists of them.
"""
from __future__ import annotations

import contextlib
import os
import random
from typing import Any, Callable, Sequence

import numpy as np
import torch

from .compare import (CheckFailed, Partial, as_real, check_close, check_tensor, check_true, is_number,  # noqa: F401
                      rel_error)
from .device_check import device_report, other_device


def check_function(fn: Callable, reference: Callable, make_inputs: Callable[[torch.Generator], Sequence],
                   *, name: str | None = None, trials: int = 3, seed: int = 0,
                   device: torch.device | str | None = None, **tolerances: Any) -> None:
    """Compare ``fn`` with ``reference`` on ``trials`` seeded random inputs.

    ``make_inputs(generator)`` returns the positional arguments for one call. Each
    function gets its own copy of the inputs, so one that changes its inputs in
    place cannot affect the other; a function that does change them fails.
    ``tolerances`` are passed on to ``check_close`` (rtol, atol, check_dtype, check_device).
    """
    name = name or getattr(fn, "__name__", "your function")
    args = ()
    for trial in range(trials):
        generator = torch.Generator().manual_seed(seed + trial)
        args = tuple(_to(x, device) for x in make_inputs(generator))
        expected = reference(*_clone(args))
        given = _clone(args)
        try:
            actual = fn(*given)
        except NotImplementedError:
            raise
        except Exception as err:  # say which input broke it, then show the student's own traceback
            raise CheckFailed(f"{name} raised {type(err).__name__} on random input {trial + 1} of {trials} "
                              f"(shapes {_shapes(args)}): {err}") from err
        check_close(actual, expected, name=f"{name}(...) on random input {trial + 1} of {trials} "
                    f"(shapes {_shapes(args)})", **tolerances)
        for i, (before, after) in enumerate(zip(args, given)):
            if isinstance(before, torch.Tensor) and not torch.equal(before.nan_to_num(), after.detach().nan_to_num()):
                raise CheckFailed(f"{name} changed its argument {i + 1} in place; "
                                  "compute a new tensor instead of modifying the input.")
    if args and device:
        return  # already run on the device asked for
    if args and not device_report(reference, *_clone(args)):  # where the reference runs there, so must fn
        check_device(fn, *_clone(args), name=name)


def check_device(fn: Callable, *args: Any, name: str | None = None, **kwargs: Any) -> None:
    """Raise CheckFailed unless ``fn(*args, **kwargs)`` also runs with its tensors (and modules) on another
    device, CUDA when there is one, else ``meta``, and returns its tensors there."""
    name = name or getattr(fn, "__name__", "your function")
    report = device_report(fn, *args, name=name, **kwargs)
    if report:
        raise CheckFailed(report, f"{name} should keep to its inputs' device ({other_device()} in this test)")


def probe(key: str, fn: Callable, *args: Any, gradients: bool = True, **kwargs: Any) -> dict:
    """A hidden test's observations of ``fn(*args, **kwargs)``, under keys that start with ``key``: the
    result, the tensor arguments afterwards (were they changed in place?), the gradients of a fixed random
    weighting of the result with respect to each floating-point tensor argument (``gradients``), and the
    device report (``check_device``). A function that raises here fails its hidden test."""
    given = _clone(args)
    found = {key: fn(*given, **kwargs),
             f"{key} inputs after": [a for a in given if isinstance(a, torch.Tensor)]}
    if gradients:
        found[f"{key} gradients"] = _gradients(fn, args, kwargs)
    found[f"{key} device"] = device_report(fn, *_clone(args), **kwargs)
    return found


def _gradients(fn: Callable, args: Sequence, kwargs: dict) -> list | str:
    leaves = [a.detach().clone().requires_grad_() if isinstance(a, torch.Tensor) and a.is_floating_point() else
              (a.clone() if isinstance(a, torch.Tensor) else a) for a in args]
    try:
        outputs = [t for t in _all_tensors(fn(*leaves, **kwargs)) if t.is_floating_point() and t.requires_grad]
        generator = torch.Generator().manual_seed(0)
        total = sum((t * torch.randn(t.shape, generator=generator, dtype=t.dtype).to(t.device)).sum()
                    for t in outputs)
        if outputs:
            total.backward()
    except Exception as err:  # noqa: BLE001  recorded: the judge fails it
        return f"raised {type(err).__name__} when the result was differentiated: {err}"
    return [a.grad if isinstance(a, torch.Tensor) and a.requires_grad else None for a in leaves
            if isinstance(a, torch.Tensor)]


def _all_tensors(value: Any) -> list[torch.Tensor]:
    if isinstance(value, torch.Tensor):
        return [value]
    if isinstance(value, (list, tuple)):
        return [t for v in value for t in _all_tensors(v)]
    if isinstance(value, dict):
        return [t for v in value.values() for t in _all_tensors(v)]
    return []


def check_probe(mine: dict, ref: dict, key: str, name: str, *, gradients: bool = True, **tolerances: Any) -> None:
    """The judge's side of ``probe``: the result matches, no input changed in place, the gradients match
    (where the reference has one, so must the student), and the function kept to its inputs' device."""
    check_close(mine[key], ref[key], name=name, **tolerances)
    check_close(mine[f"{key} inputs after"], ref[f"{key} inputs after"], rtol=0, atol=0,
                name=f"{name}: the inputs must not change (compute a new tensor instead of changing one in place)")
    if gradients and f"{key} gradients" in ref:
        theirs, given = ref[f"{key} gradients"], mine[f"{key} gradients"]
        check_true(type(given) is list and len(given) == len(theirs),
                   f"{name}: its result should be differentiable ({given if type(given) is str else 'no gradients'})")
        for i, (g, r) in enumerate(zip(given, theirs)):
            if r is None:
                continue
            check_true(g is not None, f"{name}: gradients should flow back to tensor argument {i + 1} "
                       "(no .detach(), .item(), NumPy or in-place tricks)")
            check_close(g, r, name=f"{name}: the gradient with respect to tensor argument {i + 1}",
                        **{k: v for k, v in tolerances.items() if k in ("rtol", "atol")})
    report = mine[f"{key} device"]
    if report != "":
        raise CheckFailed(f"{name}: {report}", f"{name} should keep to its inputs' device (another device than "
                          "the CPU's in this test)")


#: Set by the grading kernel: the folder in which hidden tests leave their observations for the grader.
HAND_OVER: str | None = None
HIDDEN_SEED = 1234  # the global random state every observe() starts from, in the kernel and in the grader


def hidden_test(grade_id: str, observe: Callable[[], dict]) -> None:
    """A hidden test: ``observe()`` returns the student's outputs on seeded hidden inputs, a dict of tensors
    (or numbers, strings, and lists of them); the judge ``grade_id`` in ``judges.py`` beside the solution
    notebook compares them with what ``observe()`` returns on the reference answers.

    In the grading kernel (``HAND_OVER`` set) the observations are only saved: the grader judges them
    outside the student's process and decides the points. Anywhere else (the instructor running the
    solution notebook) the judge runs here, and raises CheckFailed when the answers in the notebook fail it.
    """
    if HAND_OVER is None:
        from autograder.judging import judge_here  # the instructor's side

        judge_here(grade_id, observe)
        return
    observations = observe_seeded(observe)
    import torch as _torch

    _torch.save(observations, os.path.join(HAND_OVER, f"{grade_id}.pt"))


def observe_seeded(observe: Callable[[], dict]) -> dict:
    """``observe()`` from a fixed random state (restored afterwards), so the grader can repeat it exactly."""
    state, np_state = random.getstate(), np.random.get_state()
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(HIDDEN_SEED)
        random.seed(HIDDEN_SEED)
        np.random.seed(HIDDEN_SEED)
        try:
            found = observe()
        finally:
            random.setstate(state)
            np.random.set_state(np_state)
    return plain_observations(found)


def plain_observations(found: Any) -> dict:
    """``found`` as plain data (str keys; detached CPU tensors, numbers, strings, None, lists of them), or
    CheckFailed naming what is not."""
    def plain(value, where):
        if type(value) in (torch.Tensor, torch.nn.Parameter):
            return value.detach().cpu().clone().contiguous().as_subclass(torch.Tensor)
        if type(value) in (bool, int, float, str, type(None)):
            return value
        if is_number(value):
            return value.item()
        if type(value) in (list, tuple):
            return [plain(v, f"{where}[{i}]") for i, v in enumerate(value)]
        raise CheckFailed(f"{where} is a {type(value).__qualname__}: a hidden test hands over tensors, numbers "
                          "and strings only", "the hidden test's results")

    if type(found) is not dict or any(type(k) is not str for k in found):
        raise CheckFailed("observe() must return a dict with string keys", "the hidden test's results")
    return {k: plain(v, k) for k, v in found.items()}


@contextlib.contextmanager
def replaced(namespace: dict, **names: Any):
    """Within the block, ``namespace`` (a notebook's ``globals()``) binds ``names`` as given; restored after.

    A test of one exercise that calls an earlier one (``negative_elbo`` calls ``kl_to_standard_normal``)
    gives it a correct stand-in for the earlier one, so a mistake costs the points of one exercise only:

        with checks.replaced(globals(), kl_to_standard_normal=correct_kl):
            found.update(checks.probe("loss", negative_elbo, x_logits, x, mu, log_var))
    """
    missing = object()
    before = {name: namespace.get(name, missing) for name in names}
    namespace.update(names)
    try:
        yield
    finally:
        for name, value in before.items():
            if value is missing:
                namespace.pop(name, None)
            else:
                namespace[name] = value


@contextlib.contextmanager
def needs_exercises():
    """Run a demo cell that uses exercises; if one is not solved yet, say so instead of failing.

        with checks.needs_exercises():
            plot(cosine_similarity_matrix(a, b))

    A name an earlier cell did not get to define (its exercise was unsolved, so it
    stopped early) is reported the same gentle way, naming the missing variable.
    """
    try:
        yield
    except NotImplementedError:
        print("\u23ed This cell uses an exercise you have not solved yet. "
              "Solve the exercises above, then run this cell again.")
    except NameError as err:
        print(f"\u23ed This cell needs a result that an earlier cell did not make ({err}). Run the cells above "
              "in order; if one of them says an exercise is unsolved, solve it first.")


def ok(message: str) -> None:
    """Print a passed check, the same way in every notebook."""
    print(f"\u2714 {message}")


def _shapes(args: Sequence) -> str:
    return ", ".join(str(tuple(a.shape)) if isinstance(a, torch.Tensor) else repr(a) for a in args)


def _clone(args: Sequence) -> tuple:
    return tuple(a.clone() if isinstance(a, torch.Tensor) else a for a in args)


def _to(x: Any, device: torch.device | str | None) -> Any:
    return x.to(device) if device is not None and isinstance(x, torch.Tensor) else x
