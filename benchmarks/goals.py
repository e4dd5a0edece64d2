"""The goal table every quality benchmark ends with: measure, measured value, goal, pass."""
from __future__ import annotations

Row = tuple[str, str, str, bool]  # (measure, measured value, goal, passed)


def report(rows: list[Row]) -> int:
    """Print the rows as a table; return the exit status: 0 when every goal passed, else 1."""
    width = max(len(r[0]) for r in rows)
    value_width = max(10, *(len(r[1]) for r in rows))
    goal_width = max(10, *(len(r[2]) for r in rows))
    print(f"{'measure':<{width}}  {'measured':<{value_width}}  {'goal':<{goal_width}}  pass")
    for name, value, goal, passed in rows:
        print(f"{name:<{width}}  {value:<{value_width}}  {goal:<{goal_width}}  {'yes' if passed else 'NO'}")
    return 0 if all(r[3] for r in rows) else 1
