"""Interactive figures that still make sense when a notebook runs headless.

``explore(draw, name=values, ...)`` shows sliders (or drop-downs) bound to a
drawing function in a live notebook. Executed headless (by ``course run``, the
tests or the autograder, which set ``COURSE_HEADLESS=1``) there is no one to move
a slider, so it draws a static row of panels at a few values instead.
"""
from __future__ import annotations

import os
from typing import Any, Callable, Sequence

import matplotlib.pyplot as plt


def headless() -> bool:
    """True when the notebook is executed without a person (``COURSE_HEADLESS=1``)."""
    return os.environ.get("COURSE_HEADLESS", "").strip().lower() in {"1", "true", "yes"}


def explore(draw: Callable[..., Any], static_panels: int = 4, free_text: Sequence[str] = (),
            **choices: Sequence[Any]):
    """Bind ``draw(**values)`` to one slider or menu per keyword; each keyword lists its choices.

    ``draw`` must draw on the current matplotlib axes (``plt.gca()``). Each control
    starts at the middle of its choices. The keywords named in ``free_text`` get a text box
    that suggests their choices but takes anything typed (a prompt, say). Headless, the first
    keyword's choices are spread over ``static_panels`` panels and the others keep their middle value.
    """
    if not choices:
        raise ValueError("explore() needs at least one keyword with a list of choices, e.g. sigma=[0.1, 0.5, 1.0]")
    unknown = [name for name in free_text if name not in choices]
    if unknown:
        raise ValueError(f"free_text names {unknown}, which are not keywords of this figure: {list(choices)}")
    choices = {name: list(values) for name, values in choices.items()}
    if headless():
        return _static(draw, static_panels, choices)
    import ipywidgets as w

    controls = {}
    for name, values in choices.items():
        common = dict(options=values, value=values[len(values) // 2], description=name,
                      style={"description_width": "initial"})
        if name in free_text:
            controls[name] = w.Combobox(placeholder="type here", ensure_option=False, continuous_update=False,
                                        **{**common, "value": str(common["value"])})
        elif all(isinstance(v, (int, float)) for v in values):
            controls[name] = w.SelectionSlider(continuous_update=False, **common)
        else:
            controls[name] = w.Dropdown(**common)

    def update(**values):
        plt.figure()
        draw(**values)
        plt.show()

    return w.interact(update, **controls)


def _static(draw: Callable[..., Any], panels: int, choices: dict[str, list]):
    first, values = next(iter(choices.items()))
    step = max(1, (len(values) - 1) // max(1, panels - 1))
    shown = values[::step][:panels] if len(values) > 1 else values
    if len(values) > 1 and shown[-1] != values[-1]:
        shown[-1] = values[-1]
    fixed = {name: vals[len(vals) // 2] for name, vals in choices.items() if name != first}
    fig, axes = plt.subplots(1, len(shown), figsize=(3.2 * len(shown), 3.2), squeeze=False)
    for ax, value in zip(axes[0], shown):
        plt.sca(ax)
        draw(**{first: value}, **fixed)
    fig.suptitle(f"Static view of the interactive figure ({first} = {', '.join(map(str, shown))})",
                 fontsize=9, fontweight="normal")
    fig.tight_layout()
    plt.show()
    return fig
