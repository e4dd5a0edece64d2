"""Hidden tests judged outside the student's process.

A hidden test cell of a solution notebook defines ``observe()``, which computes the outputs of the
student's functions on seeded hidden inputs, and calls ``checks.hidden_test(GRADE_ID, observe)``. Its
judge, the function ``GRADE_ID(mine, ref)`` in ``judges.py`` beside the notebook, compares the student's
observations (``mine``) with the reference answers' (``ref``) and checks the invariants on them, with
``course_utils.checks``; a CheckFailed fails the test.

When a submission is graded, the kernel only saves ``observe()``'s results into its sandbox (tensors,
numbers and strings). The worker, outside the sandbox, then

1. loads them without unpickling code (``torch.load(weights_only=True)``, size-capped);
2. runs the same ``observe`` on the real answers (``course_utils.answers.aNN_name``), which the grading
   kernel does not have, from the same random state;
3. runs the judge on both and decides the points (``Verdict``).

What the student's code does in the kernel (rebinding names the test reads, patching torch, swallowing
exceptions, switching the guard off) can only spoil the hand-over, which fails the test. A student is told
of a hidden test only whether it passed and, if not, the name of the check that failed (``Verdict.message``).
"""
from __future__ import annotations

import importlib
import re
import runpy
import types
from dataclasses import dataclass
from pathlib import Path

import torch

from course_utils import checks

from . import answers
from .config import JUDGES

MAX_HAND_OVER = 64 * 2**20  # bytes of observations one hidden test may hand over
_HIDDEN = re.compile(r"### BEGIN HIDDEN TESTS[ \t]*\n(.*?)### END HIDDEN TESTS", re.S)


@dataclass
class Verdict:
    passed: bool
    message: str  # what the student sees: fixed text, naming the failed check at most
    detail: str = ""  # what the instructor sees (the judge's full message)
    fraction: float | None = None  # of the test's points, when the judge gives partial credit

    @property
    def earned(self) -> float:
        """The share of the test's points earned: 1 or 0, or the judge's fraction."""
        return self.fraction if self.fraction is not None else float(self.passed)


def hidden_cells(source_nb) -> dict[str, str]:
    """grade id -> the hidden-test code of each graded cell that has one."""
    return {c.metadata["nbgrader"]["grade_id"]: m.group(1) for c in source_nb.cells
            if c.cell_type == "code" and c.get("metadata", {}).get("nbgrader", {}).get("grade")
            for m in [_HIDDEN.search(c.source)] if m}


def reference_namespace(assignment: str) -> dict:
    """The names of the assignment's answer file (its answers and its imports)."""
    module = importlib.import_module(answers.module_name(assignment))
    return {k: v for k, v in vars(module).items() if not k.startswith("__")}


def reference_observations(observe: types.FunctionType, assignment: str) -> dict:
    """``observe()`` with the notebook's answers replaced by the real ones, from the hidden tests' seed."""
    namespace = {**observe.__globals__, **reference_namespace(assignment)}
    on_reference = types.FunctionType(observe.__code__, namespace, observe.__name__, observe.__defaults__,
                                      observe.__closure__)
    return checks.observe_seeded(on_reference)


def load_judges(folder: Path) -> dict:
    path = Path(folder) / JUDGES
    if not path.exists():
        raise FileNotFoundError(f"{path} is missing: every hidden test needs its judge there.")
    return runpy.run_path(str(path))


def judge(judges: dict, grade_id: str, mine: dict | None, ref: dict) -> Verdict:
    """Run the judge of ``grade_id`` on the student's observations (None: none reached the grader)."""
    if mine is None:
        return Verdict(False, "✘ hidden tests: no results reached the grader (the cell failed or did not run)")
    if grade_id not in judges:
        raise KeyError(f"{JUDGES} has no judge named {grade_id}")
    try:
        given = judges[grade_id](mine, ref)
    except checks.CheckFailed as err:
        return Verdict(False, f"✘ hidden test failed: {err.check}", str(err))
    except Exception as err:  # noqa: BLE001  a key missing, a list where a tensor belongs: results not as asked
        return Verdict(False, "✘ hidden tests: the results handed to the grader were incomplete or malformed",
                       f"{type(err).__name__}: {err}")
    if isinstance(given, checks.Partial):  # some of the answers right: that share of the points
        return Verdict(given.right == given.total, f"{'✔' if given.right == given.total else '✘'} hidden tests: "
                       f"{given.right} of {given.total} answers right", given.detail,
                       fraction=given.right / given.total)
    return Verdict(True, "✔ hidden tests passed")


def load_observations(path: Path) -> dict | None:
    """The observations a kernel saved, loaded as plain data (None when missing, too large or not plain)."""
    try:
        if not path.is_file() or path.stat().st_size > MAX_HAND_OVER:
            return None
        found = torch.load(path, map_location="cpu", weights_only=True)
        return checks.plain_observations(found)
    except Exception:  # noqa: BLE001  anything a submission could leave there
        return None


class Collecting(types.SimpleNamespace):
    """``checks`` as a hidden cell sees it when the grader reads the cell: ``hidden_test`` keeps the cell's
    ``observe`` in ``found`` instead of running it; every other name is ``course_utils.checks``'s own."""

    def __init__(self, found: dict) -> None:
        super().__init__()
        self._found = found

    def hidden_test(self, name, observe) -> None:
        self._found[name] = observe

    def __getattr__(self, name):
        return getattr(checks, name)


class Judge:
    """The worker's judge of one assignment: references computed once, then any number of submissions."""

    def __init__(self, source_nb, source_folder: Path, assignment: str) -> None:
        self.assignment = assignment
        self.cells = hidden_cells(source_nb)
        self.judges = load_judges(source_folder) if self.cells else {}
        self.references: dict[str, dict] = {}
        for grade_id, code in self.cells.items():
            observe = self._observe(grade_id, code)
            self.references[grade_id] = reference_observations(observe, assignment)

    def _observe(self, grade_id: str, code: str) -> types.FunctionType:
        found = {}
        namespace = {"torch": torch, "checks": Collecting(found), **reference_namespace(self.assignment)}
        exec(compile(code, f"<hidden test {grade_id}>", "exec"), namespace)  # the instructor's own code
        if set(found) != {grade_id}:
            raise ValueError(f"the hidden cell {grade_id} must call checks.hidden_test({grade_id!r}, observe) "
                             f"once (it called it for {sorted(found)})")
        return found[grade_id]

    def verdicts(self, hand_over: Path) -> dict[str, Verdict]:
        return {grade_id: judge(self.judges, grade_id, load_observations(hand_over / f"{grade_id}.pt"), ref)
                for grade_id, ref in self.references.items()}


def judge_here(grade_id: str, observe) -> None:
    """``checks.hidden_test`` outside the grader: judge the notebook's own functions in this process.

    The judges are in ``judges.py`` in the working folder (the notebook's own folder), or, where the
    notebook runs in a folder of its own name without them (plain ``nbgrader autograde`` or ``validate``),
    in the instructor's ``solutions/`` folder of that name; the reference answers are those of the
    assignment named by that folder, in ``course_utils.answers``.
    """
    from .config import ROOT, SOURCE

    folder = Path.cwd()
    if not (folder / JUDGES).exists():
        folder = ROOT / SOURCE / folder.name
    mine = checks.observe_seeded(observe)
    ref = reference_observations(observe, folder.name)
    verdict = judge(load_judges(folder), grade_id, mine, ref)
    if not verdict.passed:
        raise checks.CheckFailed(verdict.detail or verdict.message, verdict.message)
    checks.ok("the hidden tests pass")
