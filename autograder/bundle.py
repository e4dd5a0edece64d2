"""``course bundle``: the students' repository for a point in the term.

``bundle(root, "03", out)`` writes to ``out`` what students get once assignment
03 is out: the released notebooks 00..03 (from ``notebooks/``, never from
``solutions/``), the ``course_utils`` package with its shipped weights, a
``pyproject.toml`` that installs only ``course_utils``, ``environment.yml`` and a
short student README.

Reference implementations in ``course_utils`` that answer a graded exercise
carry the mark ``@answers("NN_name", "exercise")`` (``course_utils.reference``).
Every marked function of an assignment whose solutions are not yet released
keeps its decorators, signature and docstring, but its body becomes one
``raise ReferenceNotReleased(...)`` that says when it will be released. Solutions
are released up to ``solutions_through``: by default the assignment before
``through`` (none when bundling the first one). The functions are found with
``ast`` and only their body lines are rewritten, so the rest of every file keeps
its formatting and comments.

Before anything is written to ``out`` the bundle is verified: every stub is in
place, no non-trivial line of a replaced body is anywhere in the bundle, and no
solution or hidden-test marker is. ``out`` must be new, empty, or an earlier
bundle (it has a ``.course-bundle`` file listing what it wrote); replacing an
earlier bundle removes only the files that bundle wrote, so a ``.git`` folder or
other files added beside them are kept.
"""
from __future__ import annotations

import ast
import io
import json
import re
import shutil
import sys
import tempfile
import tokenize
from dataclasses import dataclass, field
from pathlib import Path

import nbformat

from .config import RELEASE, SOURCE
from .release import MARKERS, ReleaseError, assignments
from .release import resolve as resolve_assignment

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

PACKAGE = "course_utils"
MARKER_FILE = ".course-bundle"
REFERENCE_MODULE = f"{PACKAGE}.reference"
ERROR_NAME = "ReferenceNotReleased"
MIN_LINE = 16  # shorter lines ("return x") may rightly appear elsewhere, as in release.leaks
_IGNORE = shutil.ignore_patterns("__pycache__", "*.pyc", "*.pyo", ".ipynb_checkpoints", ".DS_Store", "*.egg-info")
_ASSIGNMENT = re.compile(r"^\d\d_\w+$")
# pyproject.toml tables the students' project keeps; everything else (the `course` script, [tool.course],
# pytest's settings, which name folders the bundle does not have) is left out.
_KEEP_TABLES = re.compile(r"^(build-system|project|project\.optional-dependencies|project\.urls|tool\.setuptools(\..+)?)$")
_DROP_PROJECT_KEYS = ("scripts", "gui-scripts", "entry-points")


class BundleError(RuntimeError):
    """The bundle could not be made, or is not what it must be."""


# ---------------------------------------------------------------------------------------------------
# Which assignments


def resolve(root: Path, name: str) -> str:
    """The one assignment of ``solutions/`` named ``name`` ("03" or "03_diffusion")."""
    try:
        return resolve_assignment(root, name)
    except ReleaseError as err:
        raise BundleError(str(err)) from None


def assignments_through(root: Path, through: str) -> list[str]:
    """The assignments up to and including ``through``, in order."""
    last = resolve(root, through)
    return [a for a in assignments(root) if a[:2] <= last[:2]]


def _solutions_cutoff(root: Path, names: list[str], solutions_through: str | None) -> str | None:
    """The last assignment whose solutions are released, or None for none.

    Default: the assignment before the last bundled one. "none" (or "") releases none.
    """
    if solutions_through is None:
        return names[-2] if len(names) > 1 else None
    if solutions_through.strip().lower() in ("", "none"):
        return None
    cutoff = resolve(root, solutions_through)
    if cutoff[:2] > names[-1][:2]:
        raise BundleError(f"solutions_through={solutions_through!r} ({cutoff}) is later than the last bundled "
                          f"assignment ({names[-1]}).")
    return cutoff


def is_released(assignment: str, cutoff: str | None) -> bool:
    """Whether the solutions of ``assignment`` are released when they are up to ``cutoff``."""
    return cutoff is not None and assignment[:2] <= cutoff[:2]


# ---------------------------------------------------------------------------------------------------
# Marked functions and their stubs


@dataclass
class Marked:
    """A function of course_utils marked ``@answers(assignment, exercise)``."""

    path: Path  # the module's file, relative to the package's parent folder
    qualname: str  # course_utils.similarity.cosine_similarity_matrix
    assignment: str
    exercise: str
    first: int  # first line (1-based) of the body lines a stub replaces: after the docstring, comments included
    last: int  # last line (1-based, inclusive) of the body
    indent: str  # the body's indentation
    body_lines: list[str] = field(default_factory=list)  # the original lines first..last


def _module_name(rel: Path) -> list[str]:
    parts = list(rel.with_suffix("").parts)
    return parts[:-1] if parts[-1] == "__init__" else parts


def _absolute(rel: Path, node: ast.ImportFrom) -> list[str]:
    """The absolute module an ImportFrom imports from, as parts."""
    if not node.level:
        return (node.module or "").split(".")
    package = list(rel.parent.parts)  # a module's package; __init__'s package is its own folder
    base = package[: len(package) - (node.level - 1)] if node.level > 1 else package
    return base + (node.module.split(".") if node.module else [])


def _marker_names(tree: ast.Module, rel: Path) -> set[str]:
    """The names ``answers`` goes by in a module (``from .reference import answers as mark``)."""
    names = {"answers"}
    for node in tree.body:
        if isinstance(node, ast.ImportFrom) and _absolute(rel, node) == REFERENCE_MODULE.split("."):
            names |= {a.asname or a.name for a in node.names if a.name == "answers"}
    return names


def _marker(decorator: ast.expr, names: set[str]) -> ast.Call | None:
    if not isinstance(decorator, ast.Call):
        return None
    func = decorator.func
    if (isinstance(func, ast.Name) and func.id in names) or (isinstance(func, ast.Attribute) and func.attr == "answers"):
        return decorator
    return None


def _argument(call: ast.Call, index: int, keyword: str) -> ast.expr | None:
    if len(call.args) > index:
        return call.args[index]
    return next((k.value for k in call.keywords if k.arg == keyword), None)


def _header_end(tokens: list[tokenize.TokenInfo], node: ast.AST) -> int:
    """The line of the ``:`` that ends a def's header (its signature may span lines)."""
    depth, seen_def = 0, False
    for tok in tokens:
        if not seen_def:
            seen_def = tok.start >= (node.lineno, node.col_offset) and tok.string == "def"
            continue
        if tok.type == tokenize.OP:
            if tok.string in "([{":
                depth += 1
            elif tok.string in ")]}":
                depth -= 1
            elif tok.string == ":" and depth == 0:
                return tok.start[0]
    raise BundleError(f"could not find the end of the header of the function at line {node.lineno}")


def _is_docstring(stmt: ast.stmt) -> bool:
    return isinstance(stmt, ast.Expr) and isinstance(stmt.value, ast.Constant) and isinstance(stmt.value.value, str)


def _span(node: ast.FunctionDef | ast.AsyncFunctionDef, lines: list[str], tokens, where: str) -> tuple[int, int, str]:
    """(first, last, indent) of the lines to replace: everything of the body after its docstring."""
    body = node.body
    keep = body[0].end_lineno if _is_docstring(body[0]) else _header_end(tokens, node)
    rest = body[1:] if _is_docstring(body[0]) else body
    if rest and rest[0].lineno <= keep:
        raise BundleError(f"{where}: put the body of a function marked @answers on its own lines "
                          "(not on the line of its header or docstring), so it can be replaced")
    if rest:
        indent = lines[rest[0].lineno - 1][: rest[0].col_offset]
    elif body[0].lineno > node.lineno and lines[body[0].lineno - 1][: body[0].col_offset].strip() == "":
        indent = lines[body[0].lineno - 1][: body[0].col_offset]
    else:
        indent = lines[node.lineno - 1][: node.col_offset] + "    "
    last = node.end_lineno
    def_indent = len(lines[node.lineno - 1]) - len(lines[node.lineno - 1].lstrip())
    # Comments after the last statement, indented as the body, belong to it too.
    i = last
    while i < len(lines):
        text = lines[i]
        if text.strip() == "":
            i += 1
            continue
        if text.lstrip().startswith("#") and len(text) - len(text.lstrip()) > def_indent:
            i += 1
            last = i
            continue
        break
    return keep + 1, last, indent


def find_marked(package_dir: Path) -> list[Marked]:
    """Every function of the package (methods and nested functions too) marked ``@answers(...)``."""
    found: list[Marked] = []
    for path in sorted(package_dir.rglob("*.py")):
        if "__pycache__" in path.parts:
            continue
        rel = path.relative_to(package_dir.parent)
        text = path.read_text(encoding="utf-8")
        if "answers" not in text:
            continue
        tree = ast.parse(text, filename=str(path))
        lines = text.splitlines()
        tokens = list(tokenize.generate_tokens(io.StringIO(text).readline))
        names = _marker_names(tree, rel)

        def visit(node: ast.AST, prefix: list[str]) -> None:
            for child in ast.iter_child_nodes(node):
                if isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
                    where = f"{rel}:{child.lineno} ({child.name})"
                    calls = [c for c in map(lambda d: _marker(d, names), child.decorator_list) if c]
                    if calls and isinstance(child, ast.ClassDef):
                        raise BundleError(f"{where}: @answers marks functions, not classes; mark the methods")
                    if len(calls) > 1:
                        raise BundleError(f"{where}: a function carries one @answers mark at most")
                    if calls:
                        found.append(_marked(child, calls[0], rel, prefix, lines, tokens, where))
                    visit(child, prefix + [child.name])
                else:
                    visit(child, prefix)

        visit(tree, _module_name(rel))
    return found


def _marked(node, call: ast.Call, rel: Path, prefix: list[str], lines, tokens, where: str) -> Marked:
    assignment = _argument(call, 0, "assignment")
    if not (isinstance(assignment, ast.Constant) and isinstance(assignment.value, str)):
        raise BundleError(f"{where}: the assignment of @answers(...) must be a string literal such as "
                          f"\"03_diffusion\", not {ast.unparse(assignment) if assignment else 'missing'}")
    if not _ASSIGNMENT.match(assignment.value):
        raise BundleError(f"{where}: @answers({assignment.value!r}, ...) must name an assignment as NN_name")
    exercise = _argument(call, 1, "exercise")
    exercise = exercise.value if isinstance(exercise, ast.Constant) and isinstance(exercise.value, str) else node.name
    first, last, indent = _span(node, lines, tokens, where)
    return Marked(rel, ".".join(prefix + [node.name]), assignment.value, exercise, first, last, indent,
                  lines[first - 1:last])


def _stub(m: Marked, error: str) -> list[str]:
    chunks = [f"{m.qualname} is the reference answer to ",
              f"exercise '{m.exercise}' of assignment {m.assignment}; it is released after {m.assignment} ",
              "is due. Until then, use your own solution from the notebook."]
    literals = [json.dumps(c, ensure_ascii=False) for c in chunks]  # a JSON string is a valid Python literal
    return [f"{m.indent}raise {error}("] + [f"{m.indent}    {s}" for s in literals[:-1]] + [f"{m.indent}    {literals[-1]})"]


def _error_name(tree: ast.Module, rel: Path, lines: list[str], before: int) -> tuple[str, tuple[int, int, list[str]] | None]:
    """How the module can name ReferenceNotReleased, and the edit (start, end, lines) that imports it, if any."""
    if _module_name(rel) == REFERENCE_MODULE.split("."):
        return ERROR_NAME, None
    reference, package = REFERENCE_MODULE.split("."), REFERENCE_MODULE.split(".")[:-1]
    for node in tree.body:
        if isinstance(node, ast.ImportFrom) and _absolute(rel, node) == reference:
            alias = next((a.asname or a.name for a in node.names if a.name == ERROR_NAME), None)
            if alias:
                return alias, None
    for node in tree.body:  # `from . import reference`, `import course_utils.reference as reference`
        if isinstance(node, ast.ImportFrom) and _absolute(rel, node) == package:
            alias = next((a.asname or a.name for a in node.names if a.name == reference[-1]), None)
            if alias:
                return f"{alias}.{ERROR_NAME}", None
        if isinstance(node, ast.Import):
            for a in node.names:
                if a.name == REFERENCE_MODULE:
                    return f"{a.asname or a.name}.{ERROR_NAME}", None
    for node in tree.body:
        if isinstance(node, ast.ImportFrom) and _absolute(rel, node) == reference:
            if node.lineno == node.end_lineno:  # add the name to the one-line import
                line = lines[node.lineno - 1]
                new = ast.ImportFrom(node.module, [ast.alias(ERROR_NAME)] + node.names, node.level)
                text = line[: node.col_offset] + ast.unparse(new) + line[node.end_col_offset:]
                return ERROR_NAME, (node.lineno - 1, node.lineno, [text])
            indent = lines[node.lineno - 1][: node.col_offset]
            extra = ast.unparse(ast.ImportFrom(node.module, [ast.alias(ERROR_NAME)], node.level))
            return ERROR_NAME, (node.end_lineno, node.end_lineno, [indent + extra])
    imports = [n for n in tree.body if isinstance(n, (ast.Import, ast.ImportFrom)) and n.end_lineno < before]
    after = imports[-1].end_lineno if imports else (tree.body[0].end_lineno if tree.body and _is_docstring(tree.body[0]) else 0)
    return ERROR_NAME, (after, after, [f"from {REFERENCE_MODULE} import {ERROR_NAME}"])


def stub_module(text: str, rel: Path, marked: list[Marked]) -> str:
    """The module's text with the bodies of ``marked`` (all in this module) replaced by stubs."""
    if not marked:
        return text
    tree = ast.parse(text)
    lines = text.splitlines()
    first_line = min(m.first for m in marked)
    error, import_edit = _error_name(tree, rel, lines, first_line)
    edits = [(m.first - 1, m.last, _stub(m, error)) for m in marked]
    if import_edit:
        edits.append(import_edit)
    for start, end, new in sorted(edits, key=lambda e: e[0], reverse=True):
        lines[start:end] = new
    result = "\n".join(lines) + ("\n" if text.endswith("\n") else "")
    try:
        ast.parse(result)
    except SyntaxError as err:  # pragma: no cover - a bug here must not ship
        raise BundleError(f"stubbing {rel} produced invalid Python: {err}") from err
    return result


def to_stub(package_dir: Path, cutoff: str | None) -> list[Marked]:
    """The marked functions of unreleased assignments, outermost only (a stub replaces what it contains)."""
    pending = [m for m in find_marked(package_dir) if not is_released(m.assignment, cutoff)]
    return [m for m in pending if not any(o is not m and o.path == m.path and o.first <= m.first and m.last <= o.last
                                          for o in pending)]


# ---------------------------------------------------------------------------------------------------
# The students' project files


def _tables(text: str) -> list[tuple[str | None, str]]:
    """pyproject.toml split into (table name, text) chunks; the first chunk's name is None."""
    chunks: list[tuple[str | None, list[str]]] = [(None, [])]
    for line in text.splitlines():
        header = re.match(r"^\s*\[\[?\s*([^\]\s]+)\s*\]\]?\s*(#.*)?$", line)
        if header:
            chunks.append((header.group(1).replace('"', ""), []))
        chunks[-1][1].append(line)
    return [(name, "\n".join(body).strip("\n")) for name, body in chunks]


def student_pyproject(text: str) -> str:
    """The students' pyproject.toml: same name, version and dependencies, packaging only course_utils."""
    kept = []
    for name, chunk in _tables(text):
        if name is None or _KEEP_TABLES.match(name):
            if name == "tool.setuptools.packages.find":
                chunk = f'[{name}]\ninclude = ["{PACKAGE}*"]'
            if chunk.strip():
                kept.append(chunk)
    result = "\n\n".join(kept) + "\n"
    original, new = tomllib.loads(text), tomllib.loads(result)
    expected_project = {k: v for k, v in original["project"].items() if k not in _DROP_PROJECT_KEYS}
    find = new.get("tool", {}).get("setuptools", {}).get("packages", {})
    if (new["project"] != expected_project or new.get("build-system") != original.get("build-system")
            or set(new.get("tool", {})) != {"setuptools"} or find != {"find": {"include": [f"{PACKAGE}*"]}}):
        raise BundleError("could not rewrite pyproject.toml for students (its layout changed?): update "
                          "autograder/bundle.py:student_pyproject so the bundle packages only course_utils")
    return result


def _title(notebook: Path) -> str:
    nb = nbformat.read(notebook, as_version=4)
    for cell in nb.cells:
        if cell.cell_type == "markdown" and cell.source.strip():
            first = cell.source.strip().splitlines()[0]
            return first.lstrip("#").strip()
    return notebook.stem


STUDENT_README = """\
# {title}

The student materials of the course as of assignment {last}: the notebooks below and `course_utils`, the small
package they share. Every model trains on data that ships with the course, so everything works offline on a
laptop CPU; the same code runs on a GPU.

## Install and start

You need Python 3.10 or newer. The first install downloads PyTorch (a few GB, a few minutes).

```bash
python -m venv .venv && .venv/bin/pip install -e .     # on Windows: .venv\\Scripts\\pip install -e .
.venv/bin/jupyter lab notebooks/
```

Or with conda:

```bash
conda env create -f environment.yml
conda activate {env_name}
jupyter lab notebooks/
```

Open `notebooks/{first}/{first}.ipynb` first: it checks your environment, tours the datasets and explains how
exercises work.

**Google Colab.** Upload a notebook from `notebooks/`. Its first cell installs the course kit when it runs on
Colab and does nothing elsewhere. For a GPU: *Runtime → Change runtime type*.

**FAST mode.** `COURSE_FAST=1 jupyter lab notebooks/` (on Colab: `%env COURSE_FAST=1`, then run the setup cell
again) runs every notebook with tiny settings in seconds, for debugging. The default, FULL, gives real results.

## How exercises work

An exercise is a function whose body says `raise NotImplementedError("Not solved yet: ...")`: replace it with
your code. The read-only cell after it runs the visible checks and prints a line starting with ✔ when they pass,
or says what was expected and what came back. When your notebook is graded, hidden tests run in the same cells.
Later cells use your functions, so you see your own code train the models. Before you submit, run
*Kernel → Restart Kernel and Run All Cells*.

Some functions in `course_utils` are the course's own answers to exercises. Until an assignment is due, they
keep their signature and docstring but raise `ReferenceNotReleased`; they come with a later update of this
repository. Use your own solutions until then.

## Notebooks

| notebook | |
|---|---|
{rows}
"""

GITIGNORE = ".venv/\n__pycache__/\n*.egg-info/\n.ipynb_checkpoints/\nbuild/\n"


def student_readme(root: Path, names: list[str]) -> str:
    """The bundle's README.md."""
    readme = root / "README.md"
    lines = readme.read_text(encoding="utf-8").splitlines() if readme.exists() else []
    title = next((line[2:].strip() for line in lines if line.startswith("# ")), "Course notebooks")
    env_name = "course-kit"
    env = root / "environment.yml"
    if env.exists():
        match = re.search(r"^name:\s*(\S+)", env.read_text(encoding="utf-8"), re.M)
        env_name = match.group(1) if match else env_name
    rows = "\n".join(f"| [`{n}`](notebooks/{n}/{n}.ipynb) | {_title(root / RELEASE / n / f'{n}.ipynb')} |"
                     for n in names)
    return STUDENT_README.format(title=title, last=names[-1], first=names[0], env_name=env_name,
                                 rows=rows)


# ---------------------------------------------------------------------------------------------------
# Building, verifying and writing the bundle


def _files(folder: Path) -> list[str]:
    return sorted(p.relative_to(folder).as_posix() for p in folder.rglob("*") if p.is_file())


def _text(path: Path) -> str | None:
    """A file's text for the leak checks (a notebook's cell sources), None for binary files."""
    try:
        raw = path.read_text(encoding="utf-8")
    except (UnicodeDecodeError, ValueError):
        return None
    if path.suffix == ".ipynb":
        cells = nbformat.reads(raw, as_version=4).cells
        return raw + "\n" + "\n".join(c.source for c in cells)
    return raw


def _significant(lines: list[str]) -> list[str]:
    return [s for s in (line.strip() for line in lines) if len(s) >= MIN_LINE and not s.startswith("#")]


def verify(stage: Path, stubbed: list[Marked], cutoff: str | None, allowed_text: str) -> None:
    """Raise BundleError unless the bundle in ``stage`` has every stub and leaks nothing.

    Every marked function of an unreleased assignment must have a body of one ``raise ReferenceNotReleased``.
    A line of a replaced body counts as leaked when it is anywhere in the bundle's text (notebooks included),
    unless the package itself has the same line outside the replaced bodies (``allowed_text``): students get that
    line anyway, as code that is not an answer.
    """
    problems = []
    texts = {rel: t for rel in _files(stage) if (t := _text(stage / rel)) is not None}
    for rel, text in texts.items():
        problems += [f"{rel} contains the marker {m!r}" for m in MARKERS if m in text]
    present = {f.qualname: f for f in find_marked(stage / PACKAGE)}
    problems += [f"{m.qualname} ({m.path}) is missing from the bundle" for m in stubbed if m.qualname not in present]
    for f in present.values():
        if is_released(f.assignment, cutoff):
            continue
        node = _find(ast.parse((stage / f.path).read_text(encoding="utf-8")),
                     f.qualname.split(".")[len(_module_name(f.path)):])
        body = node.body[1:] if node.body and _is_docstring(node.body[0]) else node.body
        if len(body) != 1 or not isinstance(body[0], ast.Raise) or ERROR_NAME not in ast.unparse(body[0]):
            problems.append(f"{f.qualname} ({f.path}) answers {f.assignment}, which is not released, "
                            "but it is not stubbed")
    for m in stubbed:
        for line in _significant(m.body_lines):
            if line not in allowed_text:
                problems += [f"{rel} contains {line!r} from the body of {m.qualname}"
                             for rel, t in texts.items() if line in t]
    if problems:
        raise BundleError("The bundle is not safe to hand out:\n  " + "\n  ".join(problems[:20]))


def _find(tree: ast.AST, names: list[str]) -> ast.FunctionDef | ast.AsyncFunctionDef | None:
    node = tree
    for name in names:
        node = next((c for c in ast.iter_child_nodes(node)
                     if isinstance(c, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)) and c.name == name), None)
        if node is None:
            return None
    return node


def _previous_bundle(out: Path, root: Path) -> list[str] | None:
    """The files an earlier bundle in ``out`` wrote; None when ``out`` is new or empty. Refuses anything else."""
    resolved = out.resolve()
    for forbidden in (root / PACKAGE, root / RELEASE, root / SOURCE):
        if resolved == forbidden.resolve() or forbidden.resolve() in resolved.parents:
            raise BundleError(f"{out} is inside {forbidden}: write the bundle somewhere else")
    if resolved == root.resolve() or resolved in root.resolve().parents:
        raise BundleError(f"{out} holds the course repository itself: write the bundle somewhere else")
    if not out.exists():
        return None
    if not out.is_dir():
        raise BundleError(f"{out} exists and is not a folder")
    if not any(out.iterdir()):
        return None
    marker = out / MARKER_FILE
    if not marker.is_file():
        raise BundleError(f"{out} is not empty and is not an earlier bundle (it has no {MARKER_FILE} file): "
                          "choose a new or empty folder")
    try:
        files = json.loads(marker.read_text(encoding="utf-8"))["files"]
    except (ValueError, KeyError, TypeError) as err:
        raise BundleError(f"{marker} cannot be read ({err}); remove {out} by hand if it is an old bundle") from err
    for f in files:
        if not isinstance(f, str) or Path(f).is_absolute() or ".." in Path(f).parts:
            raise BundleError(f"{marker} lists {f!r}, which is not a file inside the bundle; remove {out} by hand")
    return files


def _install(stage: Path, out: Path, previous: list[str] | None) -> None:
    """Put the staged bundle in ``out``, removing only the files of the bundle it replaces."""
    previous = set(previous or [])
    new = _files(stage)
    clashes = [f for f in new if f not in previous and f != MARKER_FILE and (out / f).exists()]
    if clashes:
        raise BundleError(f"{out} has files the earlier bundle did not write, where the new one writes: "
                          + ", ".join(clashes[:10]))
    for f in sorted(previous | {MARKER_FILE}):
        path = out / f
        if path.is_file() or path.is_symlink():
            path.unlink()
    for folder in sorted({p for f in previous for p in (out / f).parents if out in p.parents},
                         key=lambda p: len(p.parts), reverse=True):
        if folder.is_dir() and not any(folder.iterdir()):
            folder.rmdir()
    out.mkdir(parents=True, exist_ok=True)
    for f in new:  # the marker first: if this is interrupted, the next bundle still knows what to replace
        (out / f).parent.mkdir(parents=True, exist_ok=True)
    shutil.copy2(stage / MARKER_FILE, out / MARKER_FILE)
    for f in new:
        if f != MARKER_FILE:
            shutil.copy2(stage / f, out / f)


def bundle(root: Path, through: str, out: Path, solutions_through: str | None = None) -> Path:
    """Write the students' repository with assignments up to ``through`` to ``out``; returns ``out``.

    ``solutions_through`` is the last assignment whose reference answers are released (by default the one
    before ``through``; "none" for none). Raises BundleError, writing nothing, when the bundle cannot be made,
    would leak an answer, or ``out`` is neither new, empty, nor an earlier bundle.
    """
    root, out = Path(root).resolve(), Path(out).absolute()
    names = assignments_through(root, through)
    cutoff = _solutions_cutoff(root, names, solutions_through)
    previous = _previous_bundle(out, root)
    for name in names:
        if not (root / RELEASE / name / f"{name}.ipynb").exists():
            raise BundleError(f"{RELEASE}/{name}/{name}.ipynb is missing: run `course release {name[:2]}` first")
    package = root / PACKAGE
    stubbed = to_stub(package, cutoff)

    with tempfile.TemporaryDirectory(prefix="course-bundle-") as tmp:
        stage = Path(tmp) / "bundle"
        for name in names:
            shutil.copytree(root / RELEASE / name, stage / RELEASE / name, ignore=_IGNORE)
        shutil.copytree(package, stage / PACKAGE, ignore=_IGNORE)
        allowed = []
        for path in sorted(package.rglob("*.py")):
            if "__pycache__" in path.parts:
                continue
            rel = path.relative_to(root)
            text = path.read_text(encoding="utf-8")
            mine = [m for m in stubbed if m.path == rel]
            new = stub_module(text, rel, mine)
            if mine:
                (stage / rel).write_text(new, encoding="utf-8")
            lines = text.splitlines()
            for m in sorted(mine, key=lambda m: m.first, reverse=True):
                del lines[m.first - 1:m.last]
            allowed.append("\n".join(lines))
        (stage / "pyproject.toml").write_text(student_pyproject((root / "pyproject.toml").read_text(encoding="utf-8")),
                                              encoding="utf-8")
        if (root / "environment.yml").exists():
            shutil.copy2(root / "environment.yml", stage / "environment.yml")
        for license_file in root.glob("LICENSE*"):
            shutil.copy2(license_file, stage / license_file.name)
        (stage / "README.md").write_text(student_readme(root, names), encoding="utf-8")
        (stage / ".gitignore").write_text(GITIGNORE, encoding="utf-8")
        verify(stage, stubbed, cutoff, "\n".join(allowed))
        manifest = {
            "what": "a student bundle written by `course bundle`; the next bundle written here replaces these files",
            "through": names[-1],
            "solutions_through": cutoff,
            "notebooks": names,
            "stubbed": [f"{m.qualname} ({m.assignment})" for m in stubbed],
            "files": [f for f in _files(stage) if f != MARKER_FILE] + [MARKER_FILE],
        }
        (stage / MARKER_FILE).write_text(json.dumps(manifest, indent=2) + "\n", encoding="utf-8")
        _install(stage, out, previous)
    return out
