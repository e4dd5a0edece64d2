"""The goal table the quality benchmarks end with: its exit status says whether every goal passed."""
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))
from goals import report  # noqa: E402


def test_all_goals_met_exits_0(capsys):
    assert report([("modes", "8/8", ">= 8/8", True), ("quality", "0.94", ">= 0.90", True)]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].split() == ["measure", "measured", "goal", "pass"]
    assert [line.split()[-1] for line in lines[1:]] == ["yes", "yes"]


def test_one_missed_goal_exits_1_and_says_no(capsys):
    assert report([("modes", "8/8", ">= 8/8", True), ("quality", "0.87", ">= 0.90", False)]) == 1
    assert capsys.readouterr().out.splitlines()[-1].split() == ["quality", "0.87", ">=", "0.90", "NO"]
