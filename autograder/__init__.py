"""The instructor's side of the course: nbgrader configuration and the ``course`` command.

- ``config``: the nbgrader configuration (repository = course root, ``solutions/``
  is the source, ``notebooks/`` the release) and the setup-cell template.
- ``release``: ``course release``: generate ``notebooks/`` from ``solutions/`` with nbgrader.
- ``execute``: run notebooks headless with nbclient (used by ``course run`` and the tests).
- ``cli``: the ``course`` command line.
"""
