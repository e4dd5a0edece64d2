"""Mutation testing of the checks: do they catch plausible wrong answers, and accept right ones?

A *mutant* is the reference answer of one exercise (a ``# %% GRADE_ID`` section of
``course_utils/answers/aNN_name.py``) with one small change inside its solution regions: a swapped
operator, an off-by-one constant, a dropped term, ``sum`` for ``mean``, a missing transpose, a flipped
sign, a detached result, a deleted statement. ``Checker`` runs the exercise's visible checks and hidden
test on a mutant *in this process*, the way a notebook would (the answers are names in one namespace, the
notebook's imports beside them) and the way the grader judges them (``autograder.judging``): a mutant is
*killed* when a visible check raises or the hidden test's judge fails it.

The same checker runs the *alternatives* (``solutions/NN_name/alternatives.py``: differently written
correct solutions, one section per grade id, which must pass) and the sample wrong answers (which must
fail). ``benchmarks/hidden_test_mutation.py`` prints the score per exercise.
"""
from __future__ import annotations

import ast
import builtins
import contextlib
import copy
import io
import os
import random
import re
import signal
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterator

import nbformat
import numpy as np
import torch

from course_utils import checks

from . import answers, judging
from .config import ALTERNATIVES, ROOT, SOURCE

SECONDS_PER_MUTANT = 30  # a mutant that runs longer is killed: the grader's cell timeout would fail it too

# ------------------------------------------------------------------ the mutants


@dataclass(frozen=True)
class Mutant:
    grade_id: str
    kind: str  # e.g. "operator + -> -"
    before: str  # the statement as written
    after: str  # the statement mutated (one line): how a survivor is named in the benchmark's list
    source: str  # the whole section, mutated


_BINOP_SWAPS = {ast.Add: [ast.Sub], ast.Sub: [ast.Add], ast.Mult: [ast.Div], ast.Div: [ast.Mult],
                ast.Pow: [ast.Mult], ast.MatMult: [ast.Mult], ast.FloorDiv: [ast.Div], ast.Mod: [ast.FloorDiv]}
_COMPARE_SWAPS = {ast.Lt: [ast.LtE, ast.Gt], ast.LtE: [ast.Lt], ast.Gt: [ast.GtE, ast.Lt], ast.GtE: [ast.Gt],
                  ast.Eq: [ast.NotEq], ast.NotEq: [ast.Eq], ast.Is: [ast.IsNot], ast.IsNot: [ast.Is]}
_NAME_SWAPS = {"sum": "mean", "mean": "sum", "amax": "amin", "amin": "amax", "max": "min", "min": "max",
               "argmax": "argmin", "argmin": "argmax", "softmax": "log_softmax", "log_softmax": "softmax",
               "cumprod": "cumsum", "cumsum": "cumprod", "exp": "log", "log": "exp", "sqrt": "square",
               "square": "sqrt", "rand": "randn", "randn": "rand", "randn_like": "rand_like",
               "zeros": "ones", "ones": "zeros", "zeros_like": "ones_like", "ones_like": "zeros_like",
               "clamp_min": "clamp_max", "softplus": "relu", "cross_entropy": "nll_loss",
               "normalize": "softmax", "linspace": "logspace", "rsqrt": "sqrt"}
# calls whose result is (close to) their first argument's kind: dropping them is a plausible slip
_DROP_METHODS = {"sqrt", "exp", "log", "detach", "clamp", "clamp_min", "clamp_max", "abs", "square", "pow",
                 "contiguous", "expand", "expand_as", "reshape", "view", "flatten", "squeeze", "unsqueeze",
                 "to", "float", "double", "sum", "mean", "T", "t", "transpose", "permute", "clone", "softmax"}
_DROP_FUNCS = {"exp", "sqrt", "log", "clamp", "normalize", "relu", "abs", "softplus", "sigmoid", "tanh",
               "cumprod", "where", "square", "detach"}
_LETTERS = ("a", "b", "c", "d")


def solution_lines(section: str) -> set[int]:
    """The 1-based line numbers of ``section`` inside its ``### BEGIN/END SOLUTION`` regions."""
    inside, found = False, set()
    for n, line in enumerate(section.splitlines(), 1):
        if line.strip() == "### BEGIN SOLUTION":
            inside = True
        elif line.strip() == "### END SOLUTION":
            inside = False
        elif inside:
            found.add(n)
    return found


def _path_to(tree: ast.AST, target: ast.AST) -> list[tuple[str, int | None]]:
    """The (field, index) steps from ``tree`` down to ``target``."""
    def walk(node, path):
        if node is target:
            return path
        for name, value in ast.iter_fields(node):
            children = value if isinstance(value, list) else [value]
            for i, child in enumerate(children):
                if isinstance(child, ast.AST):
                    found = walk(child, path + [(name, i if isinstance(value, list) else None)])
                    if found is not None:
                        return found
        return None
    return walk(tree, [])


def _follow(tree: ast.AST, path: list[tuple[str, int | None]]) -> tuple[ast.AST, str, int | None]:
    node = tree
    for name, i in path[:-1]:
        node = getattr(node, name) if i is None else getattr(node, name)[i]
    return node, path[-1][0], path[-1][1]


def _replace(tree: ast.AST, path, new) -> None:
    """Put ``new`` (a node, a list of statements, or None to delete a statement) where ``path`` leads."""
    parent, name, i = _follow(tree, path)
    if i is None:
        setattr(parent, name, new)
        return
    body = getattr(parent, name)
    body[i:i + 1] = [] if new is None else (new if isinstance(new, list) else [new])
    if not body:  # a block emptied by the deletion
        body.append(ast.Pass())


def _op_name(op: type) -> str:
    return {ast.Add: "+", ast.Sub: "-", ast.Mult: "*", ast.Div: "/", ast.Pow: "**", ast.MatMult: "@",
            ast.FloorDiv: "//", ast.Mod: "%", ast.Lt: "<", ast.LtE: "<=", ast.Gt: ">", ast.GtE: ">=",
            ast.Eq: "==", ast.NotEq: "!=", ast.Is: "is", ast.IsNot: "is not"}[op]


def _plus(node: ast.expr, k: int) -> ast.expr:
    return ast.BinOp(copy.deepcopy(node), ast.Add() if k > 0 else ast.Sub(), ast.Constant(abs(k)))


def _changes(node: ast.AST, bound: set[str]) -> Iterator[tuple[str, object]]:
    """(kind, replacement) for each mutation of ``node`` (replacement None deletes a statement)."""
    if isinstance(node, ast.BinOp):
        for op in _BINOP_SWAPS.get(type(node.op), []):
            yield f"operator {_op_name(type(node.op))} -> {_op_name(op)}", ast.BinOp(node.left, op(), node.right)
        if not isinstance(node.op, (ast.Pow, ast.Mod, ast.FloorDiv)):
            yield "term dropped (right)", node.left
            yield "term dropped (left)", node.right
    elif isinstance(node, ast.UnaryOp) and isinstance(node.op, (ast.USub, ast.Not)):
        yield "sign or negation dropped", node.operand
    elif isinstance(node, ast.Compare) and len(node.ops) == 1:
        for op in _COMPARE_SWAPS.get(type(node.ops[0]), []):
            yield (f"comparison {_op_name(type(node.ops[0]))} -> {_op_name(op)}",
                   ast.Compare(node.left, [op()], node.comparators))
    elif isinstance(node, ast.Constant) and type(node.value) is bool:
        yield "boolean flipped", ast.Constant(not node.value)
    elif isinstance(node, ast.Constant) and type(node.value) is int:
        yield "constant + 1", ast.Constant(node.value + 1)
        yield "constant - 1", ast.Constant(node.value - 1)
    elif isinstance(node, ast.Constant) and type(node.value) is float:
        if node.value != 0:
            yield "constant -> 0", ast.Constant(0.0)
        yield "constant + 1", ast.Constant(node.value + 1)
    elif isinstance(node, ast.Constant) and node.value in _LETTERS:
        for letter in _LETTERS:
            if letter != node.value:
                yield f"answer {node.value!r} -> {letter!r}", ast.Constant(letter)
    elif isinstance(node, ast.Attribute) and node.attr in _NAME_SWAPS:
        yield f"{node.attr} -> {_NAME_SWAPS[node.attr]}", ast.Attribute(node.value, _NAME_SWAPS[node.attr], node.ctx)
        if node.attr in _DROP_METHODS and isinstance(node.ctx, ast.Load) and node.attr in ("T", "mT"):
            yield f".{node.attr} dropped", node.value
    elif isinstance(node, ast.Attribute) and node.attr in ("T", "mT"):
        yield f".{node.attr} dropped", node.value
    if isinstance(node, ast.Call):
        func = node.func
        if isinstance(func, ast.Attribute) and func.attr in _DROP_METHODS and not _is_module(func.value):
            yield f".{func.attr}(...) dropped", func.value
        if isinstance(func, ast.Attribute) and func.attr in _DROP_FUNCS and _is_module(func.value) and node.args:
            yield f"{func.attr}(...) dropped", node.args[0]
        for k, keyword in enumerate(node.keywords):
            if keyword.arg is not None:
                yield (f"argument {keyword.arg}= dropped",
                       ast.Call(func, node.args, node.keywords[:k] + node.keywords[k + 1:]))
        if isinstance(func, ast.Name) and func.id == "range" and node.args:
            last = node.args[-1]
            for k in (1, -1):
                yield f"range bound {'+' if k > 0 else '-'} 1", ast.Call(func, node.args[:-1] + [_plus(last, k)], [])
    elif isinstance(node, ast.Slice):
        for name in ("lower", "upper"):
            bound_ = getattr(node, name)
            if bound_ is not None and not isinstance(bound_, ast.Constant):
                for k in (1, -1):
                    yield (f"slice {name} {'+' if k > 0 else '-'} 1",
                           ast.Slice(**{**{n: getattr(node, n) for n in ("lower", "upper", "step")},
                                        name: _plus(bound_, k)}))
    elif isinstance(node, ast.IfExp):
        yield "branches swapped", ast.IfExp(node.test, node.orelse, node.body)
    elif isinstance(node, ast.If):
        yield "condition negated", ast.If(ast.UnaryOp(ast.Not(), node.test), node.body, node.orelse)
    elif isinstance(node, ast.With):
        yield "context dropped", node.body
    elif isinstance(node, ast.Return) and node.value is not None:
        value = node.value
        if isinstance(value, ast.Tuple) and len(value.elts) >= 2:
            yield "returned items swapped", ast.Return(ast.Tuple([value.elts[1], value.elts[0], *value.elts[2:]],
                                                                 ast.Load()))
        elif not isinstance(value, ast.Dict):
            yield "result negated", ast.Return(ast.UnaryOp(ast.USub(), value))
            yield "result detached", ast.Return(ast.Call(ast.Attribute(value, "detach", ast.Load()), [], []))
    if isinstance(node, (ast.Expr, ast.AugAssign, ast.If)) or (
            isinstance(node, ast.Assign) and _targets(node) <= bound):
        yield "statement deleted", None


def _is_module(node: ast.expr) -> bool:
    """``torch``, ``F``, ``torch.nn.functional``, ``math``: a call on them is a function, not a method."""
    if isinstance(node, ast.Attribute):
        return _is_module(node.value)
    return isinstance(node, ast.Name) and node.id in ("torch", "F", "math", "np", "nn", "functional")


def _targets(node: ast.Assign) -> set[str]:
    return {n.id for t in node.targets for n in ast.walk(t) if isinstance(n, ast.Name)}


def _statement_of(tree: ast.AST, target: ast.AST) -> ast.stmt:
    best = None
    for node in ast.walk(tree):
        if isinstance(node, ast.stmt) and any(n is target for n in ast.walk(node)):
            if best is None or any(n is node for n in ast.walk(best)):
                best = node
    return best


def _one_line(node: ast.AST | None) -> str:
    if node is None:
        return "(deleted)"
    if isinstance(node, list):
        node = node[0] if node else ast.Pass()
    return ast.unparse(node).splitlines()[0]


def mutants(grade_id: str, section: str) -> list[Mutant]:
    """Every single-change mutant of the solution regions of ``section``, in source order."""
    tree = ast.parse(section)
    lines = solution_lines(section)
    out, seen = [], set()
    functions = [n for n in ast.walk(tree) if isinstance(n, ast.FunctionDef)]
    for node in ast.walk(tree):
        if getattr(node, "lineno", None) not in lines or isinstance(node, (ast.FunctionDef, ast.arguments)):
            continue
        owner = next((f for f in functions if any(n is node for n in ast.walk(f))), None)
        bound = _bound_before(owner, node) if owner else set()
        for kind, replacement in _changes(node, bound):
            path = _path_to(tree, node)
            statement = _statement_of(tree, node)
            mutated = copy.deepcopy(tree)
            _replace(mutated, path, copy.deepcopy(replacement))
            ast.fix_missing_locations(mutated)
            try:
                source = ast.unparse(mutated)
                compile(source, "<mutant>", "exec")
            except (SyntaxError, ValueError):
                continue
            if source in seen or source == ast.unparse(tree):
                continue
            seen.add(source)
            deleted = replacement is None and statement is node
            after = "(deleted)" if deleted else _one_line(_at(mutated, _path_to(tree, statement)))
            out.append(Mutant(grade_id, kind, _one_line(statement), after, source))
    for first, second, path in _swappable(tree, lines):
        mutated = copy.deepcopy(tree)
        parent, name, i = _follow(mutated, path)
        body = getattr(parent, name)
        body[i], body[i + 1] = body[i + 1], body[i]
        source = ast.unparse(mutated)
        if source not in seen:
            seen.add(source)
            out.append(Mutant(grade_id, "statements swapped", _one_line(first),
                              f"{_one_line(second)}  (moved before it)", source))
    return out


def _swappable(tree: ast.AST, lines: set[int]) -> Iterator[tuple[ast.stmt, ast.stmt, list]]:
    """Neighbouring statements, one of them a call for its effect (``loss.backward()``, ``opt.step()``), that
    share no variable: running them in the other order is a plausible slip that no name error catches."""
    for parent in ast.walk(tree):
        for name, value in ast.iter_fields(parent):
            if not (isinstance(value, list) and value and isinstance(value[0], ast.stmt)):
                continue
            for i in range(len(value) - 1):
                a, b = value[i], value[i + 1]
                if a.lineno not in lines or b.lineno not in lines or isinstance(b, ast.Return):
                    continue
                if not (isinstance(a, ast.Expr) or isinstance(b, ast.Expr)):
                    continue
                if _written(a) & _read(b) or _written(b) & _read(a):
                    continue
                yield a, b, _path_to(tree, a)


def _written(node: ast.stmt) -> set[str]:
    return {n.id for n in ast.walk(node) if isinstance(n, ast.Name) and isinstance(n.ctx, ast.Store)}


def _read(node: ast.stmt) -> set[str]:
    return {n.id for n in ast.walk(node) if isinstance(n, ast.Name) and isinstance(n.ctx, ast.Load)}


def _at(tree: ast.AST, path) -> ast.AST | None:
    """The node at ``path`` in a mutated tree (None when the mutation removed it)."""
    node = tree
    for name, i in path:
        value = getattr(node, name, None)
        if i is None:
            node = value
        elif isinstance(value, list) and i < len(value):
            node = value[i]
        else:
            return None
        if node is None:
            return None
    return node


def _bound_before(function: ast.FunctionDef, node: ast.AST) -> set[str]:
    """Names bound in ``function`` before ``node``'s line: its arguments and earlier assignments."""
    names = {a.arg for a in function.args.args + function.args.kwonlyargs}
    for n in ast.walk(function):
        if isinstance(n, ast.Name) and isinstance(n.ctx, ast.Store) and n.lineno < node.lineno:
            names.add(n.id)
    return names


# ------------------------------------------------------------------ the checker


@dataclass
class Exercise:
    grade_id: str
    section: str  # the reference answer: its section of the answer file
    visible: list[tuple[str, str]] = field(default_factory=list)  # (grade id, code) of its visible checks
    hidden: list[tuple[str, str]] = field(default_factory=list)  # (grade id, code) of its hidden tests


@dataclass
class Outcome:
    killed: bool
    by: str  # the check that failed it, or "" for a survivor
    seconds: float


class _Timeout(BaseException):
    """Not an ``Exception``: a check's own ``except Exception`` must not turn a timeout into a failed check."""


@contextlib.contextmanager
def _time_limit(seconds: float):
    def stop(signum, frame):
        raise _Timeout(f"ran over {seconds:g} s")
    previous = signal.signal(signal.SIGALRM, stop)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)


def _free_names(code: str) -> set[str]:
    tree = ast.parse(_python(code))
    stored, loaded = set(), set()
    for n in ast.walk(tree):
        if isinstance(n, ast.Name):
            (stored if isinstance(n.ctx, ast.Store) else loaded).add(n.id)
        elif isinstance(n, (ast.FunctionDef, ast.ClassDef)):
            stored.add(n.name)
        elif isinstance(n, ast.arg):
            stored.add(n.arg)
        elif isinstance(n, (ast.Import, ast.ImportFrom)):
            stored |= {(a.asname or a.name).split(".")[0] for a in n.names}
    return loaded - stored - set(dir(builtins))


def _top_level_names(code: str) -> set[str]:
    names = set()
    for node in ast.parse(_python(code)).body:
        if isinstance(node, (ast.FunctionDef, ast.ClassDef)):
            names.add(node.name)
        elif isinstance(node, (ast.Assign, ast.AnnAssign, ast.AugAssign)):
            targets = node.targets if isinstance(node, ast.Assign) else [node.target]
            names |= {n.id for t in targets for n in ast.walk(t) if isinstance(n, ast.Name)}
        elif isinstance(node, (ast.Import, ast.ImportFrom)):
            names |= {(a.asname or a.name).split(".")[0] for a in node.names}
    return names


def _python(code: str) -> str:
    """A cell's source without IPython's magics and shell lines."""
    return "\n".join("" if line.lstrip().startswith(("%", "!")) else line for line in code.splitlines())


def exercise_cells(source_nb) -> dict[str, list[str]]:
    """Each solution code cell's grade id -> the grade ids of the test cells after it (up to the next one)."""
    found: dict[str, list[str]] = {}
    current = None
    for cell in source_nb.cells:
        meta = cell.get("metadata", {}).get("nbgrader", {})
        if cell.cell_type != "code":
            continue
        if meta.get("solution"):
            current = meta["grade_id"]
            found[current] = []
        elif meta.get("grade"):
            if current is None:
                raise ValueError(f"the test cell {meta['grade_id']} comes before any exercise")
            found[current].append(meta["grade_id"])
    return found


def context_cells(source_nb) -> list[int]:
    """The indices of the cells a notebook's checks need besides the exercises: the setup cell, the imports
    cell after it, and each later cell that defines a name a test cell reads (and nothing before defined).
    A student may delete every other cell; what is left grades in seconds."""
    def graded_or_solution(cell):
        meta = cell.get("metadata", {}).get("nbgrader", {})
        return meta.get("grade") or meta.get("solution")

    code = [i for i, c in enumerate(source_nb.cells) if c.cell_type == "code" and not graded_or_solution(c)]
    wanted, given = set(), set()
    for cell in source_nb.cells:
        if cell.cell_type == "code" and graded_or_solution(cell):
            source = _HIDDEN_MARKERS.sub("", cell.source)
            (wanted.update if cell.metadata["nbgrader"].get("grade") else given.update)(
                _free_names(source) if cell.metadata["nbgrader"].get("grade") else _top_level_names(source))
    chosen, defined = code[:2], set()
    for index in chosen:
        defined |= _top_level_names(source_nb.cells[index].source)
    for index in code[2:]:
        names = _top_level_names(source_nb.cells[index].source)
        if names & (wanted - given - defined):
            chosen.append(index)
            defined |= names
    return chosen


_HIDDEN_MARKERS = re.compile(r"^[ \t]*### (BEGIN|END) HIDDEN TESTS[ \t]*$", re.M)


class Checker:
    """The checks of one assignment, run in this process on any version of its answers."""

    def __init__(self, assignment: str, root: Path = ROOT) -> None:
        self.assignment = assignment
        folder = root / SOURCE / assignment
        self.source_nb = nbformat.read(folder / f"{assignment}.ipynb", as_version=4)
        self.sections = answers.sections(answers.path(root, assignment).read_text(encoding="utf-8"))
        self.judge = judging.Judge(self.source_nb, folder, assignment)
        self.exercises = self._exercises()
        self.context = self._context()
        alternatives = folder / ALTERNATIVES
        self.alternatives = self._alternatives(alternatives) if alternatives.exists() else []

    def _exercises(self) -> dict[str, Exercise]:
        found = {g: Exercise(g, s) for g, s in self.sections.items()}
        cells = {c.metadata["nbgrader"]["grade_id"]: c for c in self.source_nb.cells
                 if c.get("metadata", {}).get("nbgrader", {}).get("grade_id")}
        for grade_id, tests in exercise_cells(self.source_nb).items():
            for test in tests:
                if test in self.judge.cells:
                    found[grade_id].hidden.append((test, self.judge.cells[test]))
                else:
                    found[grade_id].visible.append((test, _python(_HIDDEN_MARKERS.sub("", cells[test].source))))
        return found

    def _context(self) -> dict:
        """The notebook's namespace as its checks see it: the cells ``context_cells`` picks and the reference
        answers (a FAST run; its output is discarded)."""
        namespace: dict = {"__name__": "__main__"}
        with _quiet(), _fast():
            for index in context_cells(self.source_nb):
                code = _python(self.source_nb.cells[index].source)
                exec(compile(code, f"<{self.assignment} context>", "exec"), namespace)
        namespace.update(judging.reference_namespace(self.assignment))
        return namespace

    def _alternatives(self, path: Path) -> list[tuple[str, str, str]]:
        """(grade id, label, section) of each alternative in ``alternatives.py``: sections ``# %% GRADE_ID label``."""
        text = path.read_text(encoding="utf-8")
        out = []
        for grade_id, label, body in _labelled_sections(text):
            if grade_id not in self.exercises:
                raise ValueError(f"{path}: section {grade_id} is not an exercise of {self.assignment}")
            out.append((grade_id, label, body))
        return out

    def equivalent(self) -> dict[tuple[str, str], str]:
        """(grade id, mutated statement) -> why that mutant is equivalent: ``EQUIVALENT`` in ``alternatives.py``."""
        path = ROOT / SOURCE / self.assignment / ALTERNATIVES
        if not path.exists():
            return {}
        text = path.read_text(encoding="utf-8")
        first = re.search(r"^# %% ", text, re.M)
        header = {}
        exec(compile(text[:first.start()] if first else text, str(path), "exec"), header)
        return dict(header.get("EQUIVALENT", {}))

    def run(self, grade_id: str, section: str, timeout: float = SECONDS_PER_MUTANT) -> Outcome:
        """Run the checks of exercise ``grade_id`` with its answer replaced by ``section``."""
        exercise = self.exercises[grade_id]
        start = time.perf_counter()
        namespace = dict(self.context)
        try:
            with _quiet(), _fast(), _time_limit(timeout):
                exec(compile(section, f"<answer {grade_id}>", "exec"), namespace)
                for check_id, code in exercise.visible:
                    _seed()
                    try:
                        exec(compile(code, f"<{check_id}>", "exec"), namespace)  # one namespace, as in a notebook
                    except Exception as err:  # noqa: BLE001  any failure of a visible check loses its points
                        return Outcome(True, f"{check_id}: {_first_line(err)}", time.perf_counter() - start)
                for check_id, code in exercise.hidden:
                    verdict = self._hidden(check_id, code, namespace)
                    if not verdict.passed:
                        return Outcome(True, f"{check_id}: {verdict.detail or verdict.message}"[:300],
                                       time.perf_counter() - start)
        except _Timeout as err:
            return Outcome(True, f"timeout: {err}", time.perf_counter() - start)
        except Exception as err:  # noqa: BLE001  the answer itself does not run
            return Outcome(True, f"the answer does not run: {_first_line(err)}", time.perf_counter() - start)
        return Outcome(False, "", time.perf_counter() - start)

    def _hidden(self, check_id: str, code: str, namespace: dict) -> judging.Verdict:
        found = {}
        namespace["checks"] = judging.Collecting(found)  # in the answers' own namespace: a stand-in reaches them
        try:
            exec(compile(code, f"<{check_id}>", "exec"), namespace)
        finally:
            namespace["checks"] = checks
        try:
            mine = checks.observe_seeded(found[check_id])
        except _Timeout:
            raise
        except Exception:  # noqa: BLE001  a hidden cell that raises hands nothing over
            mine = None
        return judging.judge(self.judge.judges, check_id, mine, self.judge.references[check_id])

    def wrong_answers(self) -> list[tuple[str, int, str]]:
        """(grade id, line, section) for each ``# sample wrong answer:`` line applied on its own."""
        return [(grade_id, line, text) for grade_id, section in self.sections.items()
                for line, text in answers.wrong_variants(section)]


def _labelled_sections(text: str) -> list[tuple[str, str, str]]:
    marks = list(re.finditer(r"^# %% (\S+)(?:[ \t]+(.*))?$", text, re.M))
    return [(m.group(1), (m.group(2) or "").strip(),
             text[m.end():marks[i + 1].start() if i + 1 < len(marks) else len(text)].strip("\n"))
            for i, m in enumerate(marks)]


def _first_line(err: BaseException) -> str:
    text = str(err).strip().splitlines()
    return f"{type(err).__name__}: {text[0] if text else ''}"[:200]


def _seed() -> None:
    torch.manual_seed(0)
    random.seed(0)
    np.random.seed(0)


@contextlib.contextmanager
def _quiet():
    with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()):
        yield


@contextlib.contextmanager
def _fast():
    """FAST mode and a non-interactive matplotlib while the checks run."""
    import matplotlib

    matplotlib.use("Agg")
    before = os.environ.get("COURSE_FAST")
    os.environ["COURSE_FAST"] = "1"
    try:
        yield
    finally:
        if before is None:
            os.environ.pop("COURSE_FAST", None)
        else:
            os.environ["COURSE_FAST"] = before


def assignments(root: Path = ROOT) -> list[str]:
    return sorted(p.name for p in (root / SOURCE).iterdir() if (p / f"{p.name}.ipynb").exists())
