"""autograder.mutation: the mutants it makes, and the checks of every assignment run in this process on the
reference answers (they pass), the alternatives in solutions/NN_name/alternatives.py (differently written
correct solutions: they pass) and the sample wrong answers (each is caught). The mutation score itself is a
benchmark: benchmarks/hidden_test_mutation.py."""
from __future__ import annotations

import pytest

from autograder import mutation
from conftest import ROOT

SECTION = '''\
def loss(x, y, model, optimizer):
    """Not mutated: outside the solution region."""
    scale = 2.0 * x.sum()
    ### BEGIN SOLUTION
    out = model(x)
    error = (1 - (out - y).pow(2).sum(dim=1)).mean()
    optimizer.zero_grad()
    error.backward()
    optimizer.step()
    return error
    ### END SOLUTION'''


@pytest.fixture(scope="module")
def made():
    return mutation.mutants("loss", SECTION)


def test_mutants_are_single_changes_inside_the_solution_region_only(made):
    assert made and all(m.grade_id == "loss" for m in made)
    assert all("scale = 2.0 * x.sum()" in m.source for m in made)  # the line outside the region never changes
    assert len({m.source for m in made}) == len(made)  # no mutant twice


@pytest.mark.parametrize("kind, after", [
    ("operator - -> +", "error = (1 + (out - y).pow(2).sum(dim=1)).mean()"),
    ("term dropped (left)", "error = (out - y).pow(2).sum(dim=1).mean()"),  # the missing `1 -`
    ("sum -> mean", "error = (1 - (out - y).pow(2).mean(dim=1)).mean()"),
    ("constant + 1", "error = (1 - (out - y).pow(2).sum(dim=2)).mean()"),
    ("argument dim= dropped", "error = (1 - (out - y).pow(2).sum()).mean()"),
    ("result detached", "return error.detach()"),
    ("result negated", "return -error"),
    ("statement deleted", "(deleted)"),
    ("statements swapped", "error.backward()  (moved before it)"),
])
def test_the_plausible_slips_are_among_the_mutants(made, kind, after):
    assert any(m.kind == kind and m.after == after for m in made), \
        f"no {kind} mutant giving {after}; made: {sorted({(m.kind, m.after) for m in made})}"


def test_no_mutant_deletes_the_only_assignment_of_a_name(made):
    # deleting `out = model(x)` would only raise a NameError: a trivially killed mutant that inflates the score
    assert not any(m.kind == "statement deleted" and m.before.startswith(("out =", "error =")) for m in made)


@pytest.fixture(scope="module", params=mutation.assignments(ROOT))
def checker(request) -> mutation.Checker:
    return mutation.Checker(request.param)


def test_the_reference_answers_pass_their_checks_in_process(checker):
    for grade_id, exercise in checker.exercises.items():
        assert exercise.visible and exercise.hidden, f"{grade_id} has no visible check or no hidden test"
        outcome = checker.run(grade_id, exercise.section)
        assert not outcome.killed, f"{checker.assignment} {grade_id}: the reference fails: {outcome.by}"


def test_every_exercise_has_a_differently_written_correct_solution_and_each_passes(checker):
    covered = {grade_id for grade_id, _, _ in checker.alternatives}
    assert covered == set(checker.exercises), f"no alternative for {sorted(set(checker.exercises) - covered)}"
    for grade_id, label, section in checker.alternatives:
        assert section.strip() != checker.exercises[grade_id].section.strip()
        outcome = checker.run(grade_id, section)
        assert not outcome.killed, f"{checker.assignment} {grade_id}: the alternative '{label}' fails: {outcome.by}"


def test_every_sample_wrong_answer_fails_the_checks_of_its_exercise(checker):
    wrong = checker.wrong_answers()
    for grade_id, line, section in wrong:
        assert checker.run(grade_id, section).killed, f"{checker.assignment} {grade_id}: line {line} is not caught"


def test_a_mutant_that_runs_too_long_is_killed():
    checker = mutation.Checker("00_welcome")
    slow = checker.exercises["cosine_similarity_matrix"].section.replace(
        "### BEGIN SOLUTION", "### BEGIN SOLUTION\n    import time; time.sleep(5)")
    outcome = checker.run("cosine_similarity_matrix", slow, timeout=0.5)
    assert outcome.killed and outcome.by.startswith("timeout")


def test_listed_equivalents_name_exercises_that_exist(checker):
    for grade_id, after in checker.equivalent():
        assert grade_id in checker.exercises, f"EQUIVALENT names {grade_id}, not an exercise"
        assert after.strip(), "an equivalent mutant is named by its mutated statement"
