"""How many plausible wrong answers do the checks catch? A mutation score per graded exercise.

    .venv/bin/python benchmarks/hidden_test_mutation.py [NN ...]

For every graded exercise of the named assignments (all by default), ``autograder.mutation`` makes every
single-change mutant of its reference answer (swapped operators, off-by-one constants and bounds, dropped
terms and calls, sum for mean, a missing transpose or ``1 -``, flipped signs and comparisons, a detached
result, dropped ``device=`` and ``dtype=`` arguments, deleted or reordered statements, other letters for the
review answers) and runs the exercise's visible checks and hidden test on it in this process, judged as the
grader judges. First the controls: the reference answer, every alternative in
``solutions/NN_name/alternatives.py`` (differently written correct solutions) must pass, and every sample
wrong answer must be caught.

It prints, per exercise, the mutants, how many were killed, the survivors listed as equivalent (with the
one-line reason from ``EQUIVALENT`` in ``alternatives.py``) and those not explained; then every survivor.
The score is the usual mutation score: killed / (mutants - equivalent), an equivalent mutant being the same
function as the reference, which no test can tell apart. Goal: a score of at least 90% in every exercise,
no unexplained survivor, every control as it should be, in at most 10 minutes on 2 cores.
"""
from __future__ import annotations

import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))

from goals import report  # noqa: E402

from autograder import mutation  # noqa: E402
from autograder.release import resolve  # noqa: E402

GOAL_KILLED = 0.90
GOAL_SECONDS = 600


def main(names: list[str]) -> int:
    start = time.perf_counter()
    assignments = [resolve(ROOT, n) for n in names] if names else mutation.assignments()
    rows, survivors, controls, stale = [], [], [], []
    print(f"{'exercise':<40} {'mutants':>7} {'killed':>6} {'equiv.':>6} {'unexpl.':>7} {'score':>8} {'s':>5}")
    for assignment in assignments:
        checker = mutation.Checker(assignment)
        equivalent = checker.equivalent()
        for grade_id, exercise in checker.exercises.items():
            outcome = checker.run(grade_id, exercise.section)
            controls.append((f"{assignment} {grade_id}: the reference answer passes", not outcome.killed, outcome.by))
        for grade_id, label, section in checker.alternatives:
            outcome = checker.run(grade_id, section)
            controls.append((f"{assignment} {grade_id}: alternative '{label}' passes", not outcome.killed, outcome.by))
        for grade_id, line, section in checker.wrong_answers():
            outcome = checker.run(grade_id, section)
            controls.append((f"{assignment} {grade_id}: the sample wrong answer of line {line} is caught",
                             outcome.killed, outcome.by))
        for grade_id, exercise in checker.exercises.items():
            began = time.perf_counter()
            results = [(m, checker.run(grade_id, m.source)) for m in mutation.mutants(grade_id, exercise.section)]
            alive = [m for m, o in results if not o.killed]
            explained = [m for m in alive if (grade_id, m.after) in equivalent]
            unexplained = [m for m in alive if (grade_id, m.after) not in equivalent]
            listed_but_killed = [after for (g, after) in equivalent if g == grade_id
                                 and any(m.after == after and o.killed for m, o in results)]
            stale += [f"{assignment} {grade_id}: listed as equivalent but killed: {a}" for a in listed_but_killed]
            killed = len(results) - len(alive)
            share = killed / (len(results) - len(explained)) if len(results) > len(explained) else 1.0
            print(f"{assignment[:2]} {grade_id:<37} {len(results):>7} {killed:>6} {len(explained):>6} "
                  f"{len(unexplained):>7} {100 * share:>7.1f}% {time.perf_counter() - began:>5.1f}")
            rows.append((f"{assignment[:2]} {grade_id}: mutation score", f"{100 * share:.1f}%", f">= {100 * GOAL_KILLED:.0f}%",
                         share >= GOAL_KILLED and not unexplained))
            survivors += [(assignment, grade_id, m, equivalent.get((grade_id, m.after))) for m in alive]
    seconds = time.perf_counter() - start
    print("\nSurvivors (equivalent, with the reason; or UNEXPLAINED):")
    for assignment, grade_id, m, reason in survivors:
        print(f"  {assignment[:2]} {grade_id}: [{m.kind}] {m.after}\n      {reason or 'UNEXPLAINED'}")
    bad_controls = [(label, by) for label, ok, by in controls if not ok]
    print(f"\nControls: {len(controls) - len(bad_controls)} of {len(controls)} as they should be")
    for label, by in bad_controls:
        print(f"  NOT AS IT SHOULD BE: {label} {by}")
    for line in stale:
        print(f"  STALE: {line}")
    print()
    rows.append(("controls (references, alternatives pass; wrong answers caught)",
                 f"{len(controls) - len(bad_controls)}/{len(controls)}", f"{len(controls)}/{len(controls)}",
                 not bad_controls and not stale))
    rows.append(("wall time (s)", f"{seconds:.0f}", f"<= {GOAL_SECONDS}", seconds <= GOAL_SECONDS))
    return report(rows)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
