"""Tests for course_utils.similarity, whose answer to notebook 00 lives in course_utils/answers."""
import pytest
import torch
import torch.nn.functional as F

from course_utils import reference, similarity
from course_utils.similarity import cosine_similarity_matrix


def loop_reference(a, b):
    """S[i, j] = F.cosine_similarity(a[i], b[j]), one pair at a time."""
    out = torch.empty(len(a), len(b), dtype=a.dtype)
    for i in range(len(a)):
        for j in range(len(b)):
            out[i, j] = F.cosine_similarity(a[i:i + 1], b[j:j + 1], dim=1)[0]
    return out


@pytest.mark.parametrize("dtype, tol", [(torch.float32, 1e-5), (torch.float64, 1e-12)])
@pytest.mark.parametrize("n, m, d", [(5, 7, 3), (1, 4, 16), (6, 1, 2)])
def test_parity_with_loop_over_torch_cosine_similarity(dtype, tol, n, m, d):
    g = torch.Generator().manual_seed(n * 100 + m * 10 + d)
    a = torch.randn(n, d, generator=g, dtype=dtype) * 3
    b = torch.randn(m, d, generator=g, dtype=dtype) + 0.5
    got = cosine_similarity_matrix(a, b)
    assert got.shape == (n, m)
    assert got.dtype == dtype
    torch.testing.assert_close(got, loop_reference(a, b), rtol=tol, atol=tol)


def test_scale_invariance_and_known_values():
    a = torch.tensor([[1.0, 0.0], [1.0, 1.0]])
    b = torch.tensor([[5.0, 0.0], [0.0, -2.0], [-3.0, -3.0]])
    expected = torch.tensor([[1.0, 0.0, -2 ** -0.5],
                             [2 ** -0.5, -2 ** -0.5, -1.0]])
    torch.testing.assert_close(cosine_similarity_matrix(a, b), expected)
    torch.testing.assert_close(cosine_similarity_matrix(10 * a, 0.1 * b), expected)


def test_self_similarity_has_unit_diagonal_and_is_symmetric():
    x = torch.randn(9, 5, generator=torch.Generator().manual_seed(1), dtype=torch.float64)
    s = cosine_similarity_matrix(x, x)
    torch.testing.assert_close(torch.diagonal(s), torch.ones(9, dtype=torch.float64))
    torch.testing.assert_close(s, s.T)


def test_zero_vector_rows_give_zero_not_nan():
    a = torch.tensor([[0.0, 0.0, 0.0], [1.0, 2.0, 3.0]])
    b = torch.tensor([[1.0, -1.0, 0.5], [0.0, 0.0, 0.0]])
    s = cosine_similarity_matrix(a, b)
    assert not torch.isnan(s).any()
    assert torch.equal(s[0], torch.zeros(2))
    assert s[1, 1] == 0
    assert s[1, 0] == pytest.approx(float(F.cosine_similarity(a[1:], b[:1])[0]), abs=1e-6)


def test_values_are_within_minus_one_and_one():
    g = torch.Generator().manual_seed(3)
    a = torch.randn(50, 8, generator=g)
    s = cosine_similarity_matrix(torch.cat([a, -a, 1e6 * a]), torch.cat([a, 1e-6 * a]))
    assert s.min() >= -1 - 1e-6 and s.max() <= 1 + 1e-6
    # parallel and antiparallel pairs reach the bounds
    assert torch.isclose(s.max(), torch.tensor(1.0), atol=1e-5)
    assert torch.isclose(s.min(), torch.tensor(-1.0), atol=1e-5)


def test_gradients_flow_and_match_gradcheck():
    g = torch.Generator().manual_seed(4)
    a = torch.randn(4, 3, generator=g, dtype=torch.float64, requires_grad=True)
    b = torch.randn(5, 3, generator=g, dtype=torch.float64, requires_grad=True)
    s = cosine_similarity_matrix(a, b)
    assert s.requires_grad
    s.sum().backward()
    assert a.grad is not None and b.grad is not None
    assert a.grad.abs().sum() > 0 and b.grad.abs().sum() > 0
    assert torch.autograd.gradcheck(cosine_similarity_matrix, (a.detach().requires_grad_(), b.detach().requires_grad_()))


def test_gradient_matches_torch_cosine_similarity():
    g = torch.Generator().manual_seed(5)
    a1 = torch.randn(3, 4, generator=g, requires_grad=True)
    b1 = torch.randn(2, 4, generator=g, requires_grad=True)
    a2, b2 = a1.detach().clone().requires_grad_(), b1.detach().clone().requires_grad_()
    weights = torch.randn(3, 2, generator=g)
    (cosine_similarity_matrix(a1, b1) * weights).sum().backward()
    (F.cosine_similarity(a2[:, None, :], b2[None, :, :], dim=2) * weights).sum().backward()
    torch.testing.assert_close(a1.grad, a2.grad, rtol=1e-4, atol=1e-5)
    torch.testing.assert_close(b1.grad, b2.grad, rtol=1e-4, atol=1e-5)


def test_does_not_modify_inputs():
    a, b = torch.randn(3, 2), torch.randn(4, 2)
    a0, b0 = a.clone(), b.clone()
    cosine_similarity_matrix(a, b)
    assert torch.equal(a, a0) and torch.equal(b, b0)


# ---------------------------------------------------------------- written once

def test_the_concept_module_holds_the_answer_file_s_function():
    from course_utils.answers import a00_welcome

    assert similarity.cosine_similarity_matrix is a00_welcome.cosine_similarity_matrix
    assert issubclass(reference.ReferenceNotReleased, RuntimeError)
