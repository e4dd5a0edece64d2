# nbgrader reads this file when run from the repository root: the settings live in autograder/config.py.
from autograder.config import configure

configure(get_config())  # noqa: F821 (get_config is provided by nbgrader)
