"""Run notebooks headless with nbclient, as ``course run``, the tests and the grader do.

The kernel gets ``COURSE_HEADLESS=1`` (widgets draw static figures) and, in FAST
mode, ``COURSE_FAST=1``; it starts in the notebook's own folder.
"""
from __future__ import annotations

import os
import time
from dataclasses import dataclass, field
from pathlib import Path

import nbformat
from nbclient import NotebookClient
from nbclient.exceptions import CellExecutionError, CellTimeoutError, DeadKernelError


@dataclass
class Execution:
    """One headless run of a notebook."""

    path: Path
    mode: str  # "FAST" or "FULL"
    seconds: float
    notebook: nbformat.NotebookNode
    error: str | None = None  # None when every cell ran
    results: dict[str, str] = field(default_factory=dict)

    @property
    def status(self) -> str:
        return "ok" if self.error is None else "FAILED"


def kernel_env(fast: bool) -> dict[str, str]:
    """The environment a headless kernel runs with."""
    env = dict(os.environ, COURSE_HEADLESS="1", PYTHONWARNINGS="ignore::DeprecationWarning")
    env["COURSE_FAST"] = "1" if fast else "0"
    return env


def execute(path: Path, fast: bool, timeout: int = 900, allow_errors: bool = False) -> Execution:
    """Execute the notebook at ``path``; with ``allow_errors`` every cell runs even after an error."""
    from course_utils.results import read

    nb = nbformat.read(path, as_version=4)
    client = NotebookClient(nb, timeout=timeout, kernel_name="python3", allow_errors=allow_errors,
                            resources={"metadata": {"path": str(path.parent)}},
                            extra_arguments=["--IPKernelApp.log_level=ERROR"])  # no start-up chatter
    start = time.perf_counter()
    error = None
    try:
        client.execute(env=kernel_env(fast))
    except CellExecutionError as err:
        error = _first_line_of_error(nb) or str(err).strip().splitlines()[-1]
    except (CellTimeoutError, DeadKernelError, TimeoutError) as err:
        error = f"{type(err).__name__}: {str(err).strip().splitlines()[0] if str(err).strip() else ''}"
    seconds = time.perf_counter() - start
    return Execution(path, "FAST" if fast else "FULL", seconds, nb, error, read(nb))


def errors(nb: nbformat.NotebookNode) -> list[tuple[int, nbformat.NotebookNode, dict]]:
    """(index, cell, error output) for every cell of an executed notebook that raised."""
    return [(i, cell, out) for i, cell in enumerate(nb.cells) if cell.cell_type == "code"
            for out in cell.get("outputs", []) if out.get("output_type") == "error"]


def _first_line_of_error(nb: nbformat.NotebookNode) -> str | None:
    for i, cell, out in errors(nb):
        return f"cell {i}: {out['ename']}: {out['evalue']}"[:300]
    return None


def write_outputs(execution: Execution, out_dir: Path) -> tuple[Path, Path]:
    """Write the executed notebook and its HTML rendering (images embedded) to ``out_dir``."""
    from nbconvert import HTMLExporter

    out_dir.mkdir(parents=True, exist_ok=True)
    stem = execution.path.stem
    ipynb, html = out_dir / f"{stem}.ipynb", out_dir / f"{stem}.html"
    nbformat.write(execution.notebook, ipynb)
    body, _ = HTMLExporter(template_name="lab").from_notebook_node(execution.notebook)
    html.write_text(body, encoding="utf-8")
    return ipynb, html
