"""Tests for course_utils.checks: the helpers behind every visible and hidden test."""
import math
import re

import numpy as np
import pytest
import torch

from course_utils import checks
from course_utils.checks import CheckFailed, check_close, check_function, check_true, needs_exercises, rel_error


def test_check_failed_is_an_assertion_error():
    assert issubclass(CheckFailed, AssertionError)


# ---------------------------------------------------------------- check_close: passes

@pytest.mark.parametrize("actual, expected", [
    (torch.tensor([1.0, 2.0, 3.0]), torch.tensor([1.0, 2.0, 3.0])),
    (torch.arange(6, dtype=torch.float64).reshape(2, 3), torch.arange(6, dtype=torch.float64).reshape(2, 3)),
    (torch.tensor([True, False]), torch.tensor([True, False])),
    (torch.tensor(3), torch.tensor(3)),
    (3, 3),
    (2.5, 2.5),
    (np.float64(1.5), 1.5),
    (np.array([1.0, 2.0]), np.array([1.0, 2.0])),
    ((torch.ones(2), 3.0), (torch.ones(2), 3.0)),
    ([torch.zeros(1), torch.ones(1)], [torch.zeros(1), torch.ones(1)]),
    (torch.nn.Parameter(torch.ones(3)), torch.ones(3)),
])
def test_check_close_passes_on_equal(actual, expected):
    check_close(actual, expected)


def test_check_close_within_tolerance():
    e = torch.tensor([1.0, 100.0])
    check_close(e + torch.tensor([5e-7, 5e-4]), e, rtol=1e-5, atol=1e-6)  # 5e-4 <= 1e-6 + 1e-3
    with pytest.raises(CheckFailed):
        check_close(e + torch.tensor([0.0, 2e-3]), e, rtol=1e-5, atol=1e-6)


def test_check_close_accepts_tuple_for_list():
    check_close((torch.ones(1), torch.zeros(1)), [torch.ones(1), torch.zeros(1)])


# ---------------------------------------------------------------- check_close: failures and messages

def test_wrong_values_message_names_count_expected_and_actual():
    expected = torch.tensor([1.0, 2.0, 3.0, 4.0])
    actual = torch.tensor([1.0, 2.0, 7.5, 9.0])
    with pytest.raises(CheckFailed) as info:
        check_close(actual, expected, name="x")
    message = str(info.value)
    assert "2 of 4" in message
    assert "index (2,)" in message
    assert "expected 3" in message and "got 7.5" in message


def test_wrong_scalar_value():
    with pytest.raises(CheckFailed, match=r"1 of 1 .*expected 2.*got 3"):
        check_close(3.0, 2.0)


def test_wrong_shape_names_both_shapes():
    with pytest.raises(CheckFailed) as info:
        check_close(torch.zeros(2, 5), torch.zeros(3, 4))
    message = str(info.value)
    assert "(2, 5)" in message and "(3, 4)" in message
    assert "transposed" not in message


def test_transposed_shape_is_mentioned():
    with pytest.raises(CheckFailed, match="transposed"):
        check_close(torch.zeros(4, 3), torch.zeros(3, 4))


def test_same_size_other_shape_hint():
    with pytest.raises(CheckFailed, match="reshape"):
        check_close(torch.zeros(12), torch.zeros(3, 4))


def test_wrong_dtype():
    with pytest.raises(CheckFailed) as info:
        check_close(torch.ones(3, dtype=torch.float64), torch.ones(3, dtype=torch.float32))
    assert "float64" in str(info.value) and "float32" in str(info.value)
    check_close(torch.ones(3, dtype=torch.float64), torch.ones(3), check_dtype=False)


def test_list_of_wrong_length():
    with pytest.raises(CheckFailed, match="2 items"):
        check_close([torch.ones(1)], [torch.ones(1), torch.ones(1)])
    with pytest.raises(CheckFailed, match="2 items"):
        check_close((torch.ones(1), torch.ones(1), torch.ones(1)), (torch.ones(1), torch.ones(1)))


def test_tuple_element_wrong_names_position():
    with pytest.raises(CheckFailed, match=r"result\[1\]"):
        check_close((torch.ones(2), torch.ones(2)), (torch.ones(2), torch.zeros(2)))


def test_tensor_instead_of_tuple():
    with pytest.raises(CheckFailed, match="tuple"):
        check_close(torch.ones(2), (torch.ones(1), torch.ones(1)))


def test_none_mentions_return():
    with pytest.raises(CheckFailed, match="`return`"):
        check_close(None, torch.ones(2))


def test_number_instead_of_tensor():
    with pytest.raises(CheckFailed, match="torch.Tensor"):
        check_close(1.0, torch.tensor(1.0))


def test_numpy_array_instead_of_tensor():
    with pytest.raises(CheckFailed, match="torch.Tensor"):
        check_close(np.ones(3, dtype=np.float32), torch.ones(3))


# ---------------------------------------------------------------- fakes are refused

class AlwaysEqual:
    def __eq__(self, other):
        return True

    def __ne__(self, other):
        return False

    __hash__ = object.__hash__


class FakeFloat(float):
    def __eq__(self, other):
        return True

    def __ne__(self, other):
        return False

    def __sub__(self, other):
        return 0.0

    def __rsub__(self, other):
        return 0.0

    def __abs__(self):
        return 0.0

    __hash__ = float.__hash__


class SubTensor(torch.Tensor):
    pass


class TruthyObject:
    def __bool__(self):
        return True


FAKES = {
    "always-equal object": lambda: AlwaysEqual(),
    "float subclass": lambda: FakeFloat(1.0),
    "tensor subclass": lambda: torch.tensor([1.0, 2.0, 3.0]).as_subclass(SubTensor),
    "numpy object array": lambda: np.array([1.0, 2.0, 3.0], dtype=object),
    "string": lambda: "tensor([1., 2., 3.])",
    "list of floats": lambda: [1.0, 2.0, 3.0],
}


def test_fakes_would_fool_a_naive_check():
    # the fakes really are fakes: == says True for things that are not equal
    assert AlwaysEqual() == torch.tensor([9.0])
    assert FakeFloat(1.0) == 5.0


@pytest.mark.parametrize("fake", list(FAKES), ids=list(FAKES))
def test_fake_results_are_refused(fake):
    with pytest.raises(CheckFailed):
        check_close(FAKES[fake](), torch.tensor([1.0, 2.0, 3.0]))


@pytest.mark.parametrize("fake", ["always-equal object", "float subclass", "string"])
def test_fakes_refused_against_number(fake):
    with pytest.raises(CheckFailed):
        check_close(FAKES[fake](), 1.0)


def test_fake_message_names_its_type():
    with pytest.raises(CheckFailed, match="AlwaysEqual"):
        check_close(AlwaysEqual(), torch.ones(1))


def test_fake_inside_tuple_refused():
    with pytest.raises(CheckFailed):
        check_close((torch.ones(1), AlwaysEqual()), (torch.ones(1), torch.ones(1)))


# ---------------------------------------------------------------- NaN and infinities

def test_nan_never_matches():
    with pytest.raises(CheckFailed):
        check_close(torch.tensor([math.nan]), torch.tensor([math.nan]))
    with pytest.raises(CheckFailed):
        check_close(torch.tensor([1.0, math.nan]), torch.tensor([1.0, 2.0]))
    with pytest.raises(CheckFailed):
        check_close(torch.tensor([1.0, 2.0]), torch.tensor([1.0, math.nan]))
    with pytest.raises(CheckFailed):
        check_close(math.nan, math.nan)


def test_matching_infinities_match():
    check_close(torch.tensor([math.inf, -math.inf, 1.0]), torch.tensor([math.inf, -math.inf, 1.0]))
    check_close(math.inf, math.inf)


def test_infinity_against_finite_actual_fails():
    with pytest.raises(CheckFailed):
        check_close(torch.tensor([math.inf]), torch.tensor([1.0]))


@pytest.mark.parametrize("actual", [1.0, 1e30, -math.inf, math.nan], ids=["one", "big", "minus-inf", "nan"])
def test_expected_infinity_needs_the_same_infinity(actual):
    # regression: |a - e| <= atol + rtol * |e| is inf <= inf when e is infinite, which once accepted anything
    with pytest.raises(CheckFailed):
        check_close(torch.tensor([actual]), torch.tensor([math.inf]))


# ---------------------------------------------------------------- rel_error

def test_rel_error_hand_worked():
    # |1.1 - 1| / (1.1 + 1) = 0.1 / 2.1 ; |0 - 0| / 1e-8 = 0 ; |-2 - 2| / 4 = 1
    got = rel_error(torch.tensor([1.1, 0.0, -2.0]), torch.tensor([1.0, 0.0, 2.0]))
    assert got == pytest.approx(1.0)
    got = rel_error(torch.tensor([1.1, 3.0]), torch.tensor([1.0, 3.0]))
    assert got == pytest.approx(0.1 / 2.1, rel=1e-6)


def test_rel_error_of_equal_and_empty():
    assert rel_error(torch.ones(3), torch.ones(3)) == 0.0
    assert rel_error(torch.zeros(0), torch.zeros(0)) == 0.0
    assert rel_error(0.0, 0.0) == 0.0


def test_rel_error_refuses_fakes():
    with pytest.raises(CheckFailed):
        rel_error(AlwaysEqual(), torch.ones(1))


# ---------------------------------------------------------------- check_function

def reference_fn(x, w):
    return x @ w + 1


def make_inputs(g):
    return torch.randn(4, 3, generator=g), torch.randn(3, 2, generator=g)


def test_check_function_passes_for_reference():
    check_function(reference_fn, reference_fn, make_inputs)


def test_check_function_passes_for_equivalent_function():
    check_function(lambda x, w: (w.T @ x.T).T + 1, reference_fn, make_inputs, atol=1e-5)


def test_check_function_fails_for_wrong_function_naming_input():
    def wrong(x, w):
        return x @ w

    with pytest.raises(CheckFailed) as info:
        check_function(wrong, reference_fn, make_inputs, trials=3)
    message = str(info.value)
    assert "wrong" in message
    assert "random input 1 of 3" in message
    assert "(4, 3)" in message and "(3, 2)" in message


def test_check_function_reports_later_trial():
    calls = []

    def wrong_on_second(x, w):
        calls.append(1)
        out = reference_fn(x, w)
        return out + 1 if len(calls) == 2 else out

    with pytest.raises(CheckFailed, match="random input 2 of 3"):
        check_function(wrong_on_second, reference_fn, make_inputs, trials=3)


def test_check_function_custom_name():
    with pytest.raises(CheckFailed, match="my_exercise"):
        check_function(lambda x, w: x @ w, reference_fn, make_inputs, name="my_exercise")


def test_in_place_modification_fails_even_when_result_is_right():
    def sneaky(x, w):
        result = reference_fn(x, w)
        x.zero_()
        return result

    with pytest.raises(CheckFailed, match="in place") as info:
        check_function(sneaky, reference_fn, make_inputs)
    assert "argument 1" in str(info.value)


def test_in_place_result_returning_its_input_fails():
    def relu_(x):
        return x.clamp_(min=0)

    with pytest.raises(CheckFailed, match="in place"):
        check_function(relu_, lambda x: x.clamp(min=0), lambda g: (torch.randn(5, generator=g),))


def test_reference_sees_unmodified_inputs():
    """A function that changes its inputs cannot change what the reference computes."""
    seen = []

    def reference(x):
        seen.append(x.clone())
        return x * 2

    def mutating(x):
        x.mul_(2)
        return x

    with pytest.raises(CheckFailed):
        check_function(mutating, reference, lambda g: (torch.randn(3, generator=g),), trials=1)
    g = torch.Generator().manual_seed(0)
    assert torch.equal(seen[0], torch.randn(3, generator=g))


def test_not_implemented_error_is_reraised_unchanged():
    def stub(x, w):
        raise NotImplementedError("Exercise 2: write cosine_similarity_matrix")

    with pytest.raises(NotImplementedError) as info:
        check_function(stub, reference_fn, make_inputs)
    assert type(info.value) is NotImplementedError
    assert str(info.value) == "Exercise 2: write cosine_similarity_matrix"


def test_other_exceptions_are_wrapped_naming_shapes():
    def broken(x, w):
        return w @ x  # (3, 2) @ (4, 3): shapes do not fit

    with pytest.raises(CheckFailed) as info:
        check_function(broken, reference_fn, make_inputs)
    message = str(info.value)
    assert "RuntimeError" in message
    assert "random input 1 of 3" in message
    assert "(4, 3)" in message and "(3, 2)" in message
    assert isinstance(info.value.__cause__, RuntimeError)


def test_check_function_uses_seeded_inputs():
    shapes_seen = []

    def make(g):
        x = torch.randn(2, generator=g)
        shapes_seen.append(x)
        return (x,)

    check_function(torch.sin, torch.sin, make, trials=2, seed=5)
    assert torch.equal(shapes_seen[0], torch.randn(2, generator=torch.Generator().manual_seed(5)))
    assert torch.equal(shapes_seen[1], torch.randn(2, generator=torch.Generator().manual_seed(6)))


def test_check_function_refuses_fake_result():
    with pytest.raises(CheckFailed):
        check_function(lambda x, w: AlwaysEqual(), reference_fn, make_inputs)


# ---------------------------------------------------------------- check_true

def test_check_true_passes():
    check_true(True, "never shown")
    check_true(torch.tensor(True), "never shown")
    check_true(torch.tensor([True]), "never shown")
    check_true(np.bool_(True), "never shown")
    check_true(bool(torch.all(torch.ones(3) > 0)), "never shown")


def test_check_true_raises_with_message():
    with pytest.raises(CheckFailed, match="^the matrix should be symmetric$"):
        check_true(False, "the matrix should be symmetric")
    with pytest.raises(CheckFailed, match="bound"):
        check_true(torch.tensor([False]), "bound")
    with pytest.raises(CheckFailed, match="bound"):
        check_true(np.bool_(False), "bound")


@pytest.mark.parametrize("truthy", [[1, 2], "yes", 1, TruthyObject(), torch.tensor([True, True]),
                                    np.array([True])],
                         ids=["list", "string", "int", "bool-object", "two-element-tensor", "numpy-array"])
def test_check_true_refuses_truthy_non_bools(truthy):
    with pytest.raises(CheckFailed, match="message here"):
        check_true(truthy, "message here")


@pytest.mark.parametrize("value", [torch.tensor(2.0), torch.tensor([3]), torch.tensor(0.5, dtype=torch.float64)],
                         ids=["float", "int", "double"])
def test_check_true_refuses_one_element_non_bool_tensor(value):
    # regression: a one-element tensor of any dtype was once turned into bool(item) and passed as True
    with pytest.raises(CheckFailed, match="should be a bool"):
        check_true(value, "should be a bool")


# ---------------------------------------------------------------- needs_exercises

def test_needs_exercises_suppresses_not_implemented(capsys):
    ran_after = []
    with needs_exercises():
        raise NotImplementedError("stub")
    ran_after.append(True)
    out = capsys.readouterr().out
    assert ran_after == [True]
    assert "not solved" in out


def test_needs_exercises_silent_when_solved(capsys):
    with needs_exercises():
        value = 1 + 1
    assert value == 2
    assert capsys.readouterr().out == ""


def test_needs_exercises_names_what_an_unfinished_earlier_cell_did_not_define(capsys):
    with needs_exercises():
        trained_model_of_an_earlier_cell  # noqa: B018, F821
    out = capsys.readouterr().out
    assert "trained_model_of_an_earlier_cell" in out and "earlier cell" in out


def test_needs_exercises_lets_other_errors_through(capsys):
    with pytest.raises(ValueError, match="real problem"):
        with needs_exercises():
            raise ValueError("real problem")
    assert capsys.readouterr().out == ""


def test_needs_exercises_does_not_swallow_check_failures():
    with pytest.raises(CheckFailed):
        with needs_exercises():
            check_true(False, "no")


def test_ok_prints_a_tick(capsys):
    checks.ok("shapes match")
    out = capsys.readouterr().out
    assert re.fullmatch(r"\S shapes match\n", out)


# ---------------------------------------------------------------- the device contract (meta on this machine)

def _nt_xent_with_a_cpu_mask(z1, z2, temperature):
    n = z1.shape[0]
    z = torch.nn.functional.normalize(torch.cat([z1, z2]), dim=1)
    logits = (z @ z.T / temperature).masked_fill(torch.eye(2 * n, dtype=torch.bool), float("-inf"))
    return torch.nn.functional.cross_entropy(logits, (torch.arange(2 * n, device=z.device) + n) % (2 * n))


def _nt_xent_on_the_inputs_device(z1, z2, temperature):
    n = z1.shape[0]
    z = torch.nn.functional.normalize(torch.cat([z1, z2]), dim=1)
    mask = torch.eye(2 * n, dtype=torch.bool, device=z.device)
    logits = (z @ z.T / temperature).masked_fill(mask, float("-inf"))
    return torch.nn.functional.cross_entropy(logits, (torch.arange(2 * n, device=z.device) + n) % (2 * n))


def test_the_device_report_names_the_line_that_made_a_tensor_on_the_cpu():
    z = torch.randn(4, 3), torch.randn(4, 3)
    assert checks.device_report(_nt_xent_on_the_inputs_device, *z, 0.5) == ""
    report = checks.device_report(_nt_xent_with_a_cpu_mask, *z, 0.5)
    assert "torch.eye(2 * n, dtype=torch.bool)" in report and "line 4 of _nt_xent_with_a_cpu_mask" in report
    with pytest.raises(CheckFailed, match="torch.eye"):
        checks.check_device(_nt_xent_with_a_cpu_mask, *z, 0.5)
    checks.check_device(_nt_xent_on_the_inputs_device, *z, 0.5)


def test_check_function_runs_a_second_time_on_another_device():
    make = lambda g: (torch.randn(4, 3, generator=g), torch.randn(4, 3, generator=g), 0.5)  # noqa: E731
    check_function(_nt_xent_on_the_inputs_device, _nt_xent_on_the_inputs_device, make)
    with pytest.raises(CheckFailed, match="made a tensor on the CPU"):  # right values on the CPU, wrong device
        check_function(_nt_xent_with_a_cpu_mask, _nt_xent_on_the_inputs_device, make)


def _filled_row_by_row(x):
    rows = torch.zeros(2, 3)
    for i in range(2):
        rows[i] = x * i
    return rows


@pytest.mark.parametrize("fn, says", [
    (lambda x: x.cpu() * 2, "to the CPU"),
    (lambda x: x.to("cpu"), "to the CPU"),
    (lambda x: x + torch.ones(3), "made a tensor on the CPU"),
    (lambda x: _filled_row_by_row(x), "then filled with values from"),
    (lambda x: x * torch.rand(3, generator=torch.Generator().manual_seed(0), device=x.device),
     "asks a generator on cpu to draw on"),
])
def test_the_device_report_catches_each_way_of_leaving_the_inputs_device(fn, says):
    assert says in checks.device_report(fn, torch.randn(3))


@pytest.mark.parametrize("fn", [
    lambda x: x * torch.tensor(2.0),  # a CPU scalar may meet any device, as on CUDA
    lambda x: x * torch.rand(3, generator=torch.Generator().manual_seed(0)).to(x.device),  # drawn, then moved
    lambda x: x.new_tensor(1.0) + x,
    lambda x: float(x.sum()),  # reads a value back: on meta it cannot go on, and that is not its fault
    lambda x: x[torch.tensor([0, 2])],  # indexing with CPU indices is allowed on CUDA too
])
def test_the_device_report_accepts_what_runs_on_cuda(fn):
    assert checks.device_report(fn, torch.randn(3)) == ""


def test_the_device_report_moves_modules_and_leaves_the_caller_s_alone():
    model = torch.nn.Linear(3, 2)
    assert checks.device_report(lambda m, x: m(x), model, torch.randn(4, 3)) == ""
    assert model.weight.device.type == "cpu"


def test_probe_and_check_probe_see_results_inputs_gradients_and_devices():
    def right(x, w):
        return (x * w).sum(dim=1)

    def detached(x, w):
        return (x * w).sum(dim=1).detach()

    def in_place(x, w):
        return x.mul_(w).sum(dim=1)

    def cpu_weights(x, w):
        return (x * w * torch.ones(3)).sum(dim=1)

    x, w = torch.randn(2, 3), torch.randn(3)
    ref = checks.plain_observations(checks.probe("y", right, x, w))
    checks.check_probe(ref, ref, "y", "right")
    for wrong, says in [(detached, "gradients should flow"), (in_place, "the inputs must not change"),
                        (cpu_weights, "keep to its inputs' device")]:
        mine = checks.plain_observations(checks.probe("y", wrong, x, w))
        with pytest.raises(CheckFailed) as failed:
            checks.check_probe(mine, ref, "y", wrong.__name__)
        assert says in str(failed.value.check)
    assert torch.equal(x, x.clone())  # probe called each on its own copy


def test_replaced_binds_names_for_a_block_and_restores_them():
    namespace = {"kl": "the student's", "other": 1}
    with checks.replaced(namespace, kl="a correct stand-in", new="added"):
        assert namespace["kl"] == "a correct stand-in" and namespace["new"] == "added"
    assert namespace == {"kl": "the student's", "other": 1}


@pytest.mark.parametrize("value, number", [(1, True), (2.5, True), (np.float64(0.5), True), (np.int64(3), True),
                                           (np.float32(1.25), True), ("1.2", False), (None, False),
                                           (torch.tensor(1.0), False)])
def test_is_number_counts_python_and_numpy_numbers(value, number):
    assert checks.is_number(value) is number
