"""What a reference answer raises in the students' copy of the kit until it is released.

The answers to the graded exercises live in ``course_utils/answers/`` (one file per
assignment). In the copy students get (``course bundle``), and in the kernel that
grades an assignment, the answers of that assignment and of every later one keep
their signatures and docstrings, but their code is replaced by
``raise ReferenceNotReleased(...)``.
"""
from __future__ import annotations


class ReferenceNotReleased(RuntimeError):
    """Raised by a reference answer whose assignment is not due yet.

    In the students' copy of the kit, an answer keeps its signature and docstring
    until its assignment is due, but it only raises this error, which names the
    assignment. Use your own solution from the notebook until then.
    """
