"""The mark on reference implementations that answer a graded exercise.

Some functions in course_utils are the instructor's answer to an exercise (the
notebooks' hidden tests compare the student's code with them, and later
notebooks build on them). Each one carries the decorator ``@answers(...)``,
naming the assignment and the exercise, so that the one mark is easy to see in
the source and easy to find by tools: ``course bundle`` replaces the body of
every marked function whose assignment's solutions are not yet released with a
stub that raises an error saying when it will be.
"""
from __future__ import annotations

from typing import Callable, TypeVar

F = TypeVar("F", bound=Callable)


class ReferenceNotReleased(RuntimeError):
    """Raised by a reference implementation whose exercise is not due yet.

    In the students' copy of the kit (``course bundle``), a function marked with
    ``@answers(...)`` keeps its signature and docstring until its assignment is
    due, but its body only raises this error, which names the assignment. Use
    your own solution from the notebook until then.
    """


#: (assignment, exercise) -> the reference function, filled in as modules are imported.
REGISTRY: dict[tuple[str, str], Callable] = {}


def answers(assignment: str, exercise: str) -> Callable[[F], F]:
    """Mark a function as the reference answer to ``exercise`` of ``assignment``."""

    def mark(fn: F) -> F:
        fn.__course_answers__ = (assignment, exercise)
        REGISTRY[(assignment, exercise)] = fn
        return fn

    return mark
