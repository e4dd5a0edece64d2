"""The answers to the graded exercises: one module per assignment, each answer written once.

``aNN_name.py`` holds the answers to assignment ``NN_name``: one section per solution cell, opened by a
line ``# %% GRADE_ID``, with the answer inside nbgrader's solution markers exactly as the solution
notebook shows it (with the wrong answers the partly wrong sample uses). ``course release`` stamps each
section into its solution cell, so the notebook and this package cannot disagree; the concept modules
(``similarity``, ``vae``, ``simclr``, ...) import their reference code from here.

In the students' copy of the package, and in the kernel that grades an assignment, the answers of that
assignment and of every later one keep their signatures and docstrings, but each solution region is
replaced by ``raise ReferenceNotReleased(...)``.
"""
