"""``record(name, value)``: the key results a notebook reports.

In a notebook it prints ``Result: name = value``. It also attaches the value to
the cell's output under a course-specific MIME type, so ``course run`` can read
the results back out of an executed notebook and put them in its summary.
"""
from __future__ import annotations

import json
from typing import Any

MIME = "application/vnd.course.result+json"


def record(name: str, value: Any, unit: str = "") -> None:
    """Report a key result (a number or a short string) of this notebook."""
    if hasattr(value, "item"):
        value = value.item()
    json.dumps(value)  # refuse values the summary could not store
    text = f"{value:.4g}" if isinstance(value, float) else str(value)
    text = f"{text} {unit}".strip()
    try:
        from IPython import get_ipython
        from IPython.display import display
    except ImportError:  # pragma: no cover
        get_ipython = lambda: None  # noqa: E731
    if get_ipython() is None:  # plain Python (a script, pytest): just print it
        print(f"Result: {name} = {text}")
        return
    display({MIME: {"name": name, "value": value, "unit": unit}, "text/plain": f"Result: {name} = {text}"},
            raw=True)


def read(notebook) -> dict[str, str]:
    """The results recorded in an executed notebook (an nbformat node), as name -> text."""
    found = {}
    for cell in notebook.cells:
        for output in cell.get("outputs", []):
            data = output.get("data", {})
            if MIME in data:
                item = data[MIME]
                value = item["value"]
                text = f"{value:.4g}" if isinstance(value, float) else str(value)
                found[item["name"]] = f"{text} {item.get('unit', '')}".strip()
    return found
