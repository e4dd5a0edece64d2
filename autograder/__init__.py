"""The instructor's side of the course: nbgrader configuration and the ``course`` command.

- ``config``: the nbgrader configuration (repository = course root, ``solutions/``
  is the source, ``notebooks/`` the release) and the setup-cell template.
- ``answers``: the answer files of ``course_utils/answers``: stamped into solution cells, stubbed for students.
- ``release``: ``course release``: generate ``notebooks/`` from ``solutions/`` with nbgrader.
- ``execute``: run notebooks headless with nbclient (used by ``course run`` and the tests).
- ``samples``: solved, unsolved and partly wrong sample submissions made from an assignment.
- ``grade``: ``course grade``: intake, workers, the gradebook and the history (``submissions``: LMS downloads).
- ``worker``, ``kernel``, ``guard``: grading one submission in a scratch folder, in the confined kernel.
- ``judging``: hidden tests judged in the worker, outside the student's process.
- ``hidden_check``: an assignment's hidden tests run as the grader runs them, sample wrong answers included.
- ``export``: ``course export``: grades.csv and feedback without hidden tests.
- ``bundle``, ``solutions_export``: ``course bundle`` (the students' repository), ``course solutions``.
- ``cli``: the ``course`` command line.
"""
