"""The judges of notebook 05's hidden tests.

They run in the grader, outside the student's process: ``mine`` holds what the hidden cell's ``observe()``
computed with the student's functions, ``ref`` what it computes with the answers in
``course_utils/answers/a05_simclr.py``. A CheckFailed fails the test; the student is told only the name
of the check, so names say what is checked, never the values.
"""
import torch

from course_utils import checks
from course_utils.colour import LUMA


def _grey(x: torch.Tensor) -> torch.Tensor:
    """(B, 3, H, W) -> the grey level in all three channels, clamped to [0, 1] (the definition, in float64)."""
    luma = torch.tensor(LUMA, dtype=torch.float64).view(1, 3, 1, 1)
    return (luma * x.double()).sum(dim=1, keepdim=True).clamp(0, 1).expand_as(x)


def check_sobel_hidden(mine: dict, ref: dict) -> None:
    for trial in range(3):
        checks.check_close(mine[f"RGB {trial}"], ref[f"RGB {trial}"], atol=1e-5,
                           name=f"sobel on random RGB images, trial {trial + 1}")
    for trial in range(2):
        checks.check_close(mine[f"grey {trial}"], ref[f"grey {trial}"], atol=1e-5,
                           name=f"sobel on random one-channel images, trial {trial + 1}")
    edges = checks.check_tensor(mine["rectangles"], "sobel's output")
    checks.check_true(tuple(edges.shape) == (32, 3, 32, 32), "sobel keeps the shape (B, C, H, W) of its input")
    checks.check_close(edges.amax(dim=(1, 2, 3)), torch.ones(32), atol=1e-5, name="each image's strongest edge is 1")
    checks.check_true(bool((edges >= 0).all()), "sobel's output is never negative")
    checks.check_close(edges[:, 0], edges[:, 1], name="sobel's channels are equal (red and green)")
    checks.check_close(edges[:, 0], edges[:, 2], name="sobel's channels are equal (red and blue)")
    checks.check_close(edges, ref["rectangles"], atol=1e-5, name="sobel on images of rectangles")
    checks.check_close(mine["rectangles, input after the call"], ref["rectangles, input after the call"],
                       name="sobel leaves its input unchanged")
    checks.check_close(mine["rectangles, float64"], ref["rectangles, float64"], rtol=1e-10, atol=1e-12,
                       name="sobel on float64 images (keeps their dtype and precision)")
    checks.check_close(mine["rectangles at half brightness"], edges, atol=1e-5,
                       name="sobel does not depend on the images' brightness")
    mixed = mine["mixed batch"]
    checks.check_close(mixed, ref["mixed batch"], atol=1e-5, name="sobel on a batch of bright, dim and flat images")
    checks.check_close(mixed[4:8], mixed[:4], atol=1e-5, name="each image is divided by its own maximum")
    checks.check_close(mixed[8:], torch.zeros(2, 3, 32, 32), name="sobel of a flat image is 0")
    checks.check_probe(mine, ref, "RGB probe", "sobel on random RGB images", atol=1e-5)
    checks.check_probe(mine, ref, "grey probe", "sobel on random one-channel images", atol=1e-5)
    # float64 all the way: a LUMA or a filter made in float32 is off by about 1e-8
    checks.check_probe(mine, ref, "float64 probe", "sobel on random float64 images", rtol=1e-10, atol=1e-12)
    checks.check_probe(mine, ref, "one image", "sobel on a batch of one image", atol=1e-5)
    # maxima just above 1e-6 are divided, those at most 1e-6 give 0: the grey level is the weighted sum and the
    # magnitude the square root of the sum of squares, as written (a mean in either shrinks the maximum)
    checks.check_close(mine["faint steps"], ref["faint steps"], atol=1e-5,
                       name="sobel of RGB images with faint edges (maxima near the flat-image threshold)")
    checks.check_close(mine["faint grey steps"], ref["faint grey steps"], atol=1e-5,
                       name="sobel of one-channel images with faint edges (maxima near the flat-image threshold)")


def _grey_or_unchanged(out: torch.Tensor, x: torch.Tensor, what: str) -> torch.Tensor:
    """Checks that every image of ``out`` is x's image or its grey version; returns which turned grey (B,)."""
    out = checks.check_tensor(out, what)
    checks.check_true(out.shape == x.shape, f"{what} keeps the shape of the input")
    is_grey = (out.double() - _grey(x)).abs().amax(dim=(1, 2, 3)) < 1e-5
    unchanged = (out.double() - x.double()).abs().amax(dim=(1, 2, 3)) < 1e-6
    checks.check_true(bool((is_grey | unchanged).all()), f"{what}: every image is either grey or unchanged")
    return is_grey & ~unchanged


def check_colour_drop_hidden(mine: dict, ref: dict) -> None:
    for p in (0.0, 0.3, 1.0):
        for trial in range(2):
            checks.check_close(mine[f"p={p} {trial}"], ref[f"p={p} {trial}"], atol=1e-6,
                               name=f"colour_drop with p = {p} and a seeded generator, trial {trial + 1}")
            checks.check_close(mine[f"p={p} {trial}, input after the call"], ref[f"p={p} {trial}, input after the call"],
                               name="colour_drop leaves its input unchanged")
    x = ref["4000 images, input"]
    checks.check_close(mine["4000 images, input"], x, name="colour_drop leaves its input unchanged (4,000 images)")
    turned = _grey_or_unchanged(mine["4000 images, p=0.3"], x, "colour_drop with p = 0.3 on 4,000 images")
    share = float(turned.double().mean())
    checks.check_true(abs(share - 0.3) < 0.04, "with p = 0.3, about 30% of 4,000 images turn grey")
    same = ref["one image 64 times, input"]
    checks.check_close(mine["one image 64 times, input"], same, name="colour_drop leaves its input unchanged (64 images)")
    turned = _grey_or_unchanged(mine["one image 64 times, p=0.5"], same, "colour_drop of one image 64 times")
    checks.check_true(0 < int(turned.sum()) < 64, "each image tosses its own coin")
    checks.check_close(mine["float64, p=1"], ref["float64, p=1"], rtol=1e-10, atol=1e-12,
                       name="colour_drop on float64 images (keeps their dtype and precision)")
    checks.check_close(mine["default p"], ref["default p"], atol=1e-6, name="colour_drop with the default p = 1")
    checks.check_probe(mine, ref, "seeded probe", "colour_drop with p = 0.5 and a seeded CPU generator", atol=1e-6)
    checks.check_probe(mine, ref, "no generator", "colour_drop without a generator", atol=1e-6)
    checks.check_probe(mine, ref, "one image", "colour_drop on a batch of one image", atol=1e-6)
    checks.check_close(mine["float64 probe"], ref["float64 probe"], rtol=1e-10, atol=1e-12,
                       name="colour_drop on float64 images with a seeded generator (keeps their dtype and precision)")
    # None: the student's function read a value back on PyTorch's meta device, where this cannot be checked
    checks.check_true(ref["CPU generator untouched"] is True and mine["CPU generator untouched"] is not False,
                      "colour_drop without a generator draws on its input's device, not on the CPU")


def _algorithm_1(z1: torch.Tensor, z2: torch.Tensor, tau: float) -> torch.Tensor:
    """The paper's loops, in float64, with 0-based pairs (2k, 2k + 1)."""
    z = torch.stack([v for pair in zip(z1, z2) for v in pair]).double()

    def s(i, j):
        return torch.dot(z[i], z[j]) / (z[i].norm() * z[j].norm())

    def ell(i, j):
        return -torch.log(torch.exp(s(i, j) / tau) / sum(torch.exp(s(i, k) / tau) for k in range(len(z)) if k != i))

    return sum(ell(2 * k, 2 * k + 1) + ell(2 * k + 1, 2 * k) for k in range(len(z1))) / len(z)


def check_nt_xent_hidden(mine: dict, ref: dict) -> None:
    for case, tau in enumerate((0.5, 0.1, 1.0)):
        for trial in range(2):
            key, label = f"case {case} trial {trial}", f"random input {2 * case + trial + 1}"
            loss = mine[f"{key}: loss"]
            checks.check_close(loss, ref[f"{key}: loss"], atol=1e-5, name=f"nt_xent on {label}")
            z1, z2 = ref[f"{key}: inputs after the call"]
            checks.check_close(loss, _algorithm_1(z1, z2, tau).float(), atol=1e-5,
                               name=f"nt_xent against Algorithm 1 written with loops, on {label}")
            checks.check_close(mine[f"{key}: inputs after the call"], [z1, z2], name="nt_xent leaves its inputs unchanged")
            checks.check_close(mine[f"{key}: pairs reordered"], loss, atol=1e-5,
                               name=f"nt_xent with the pairs in another order, on {label}")
            checks.check_close(mine[f"{key}: views swapped"], loss, atol=1e-5,
                               name=f"nt_xent with z1 and z2 swapped, on {label}")
            checks.check_close(mine[f"{key}: rescaled"], loss, atol=1e-5,
                               name=f"nt_xent does not depend on the norms of the projections, on {label}")
    aligned = checks.check_tensor(mine["aligned"], "nt_xent's loss")
    shuffled = checks.check_tensor(mine["shuffled"], "nt_xent's loss")
    checks.check_true(aligned.numel() == 1 and shuffled.numel() == 1, "nt_xent returns a scalar")
    checks.check_true(float(aligned) < float(shuffled), "aligned pairs must cost less than shuffled ones")
    checks.check_close(aligned, ref["aligned"], atol=1e-5, name="nt_xent of aligned pairs")
    checks.check_close(shuffled, ref["shuffled"], atol=1e-5, name="nt_xent of shuffled pairs")
    checks.check_close(mine["one pair"], torch.tensor(0.0), atol=1e-6, name="nt_xent of a single pair")
    checks.check_close(mine["float64"], ref["float64"], atol=1e-10, name="nt_xent on float64 inputs (keeps their dtype)")
    for view in ("z1", "z2"):
        grad = mine[f"gradient {view}"]
        checks.check_true(grad is not None, "gradients must reach both views: no .detach(), no NumPy")
        checks.check_close(grad, ref[f"gradient {view}"], atol=1e-6, name=f"the gradient of nt_xent for {view}")
    checks.check_probe(mine, ref, "probe", "nt_xent on random projections", atol=1e-5)
    checks.check_probe(mine, ref, "float64 probe", "nt_xent on float64 projections", rtol=1e-10, atol=1e-12)
