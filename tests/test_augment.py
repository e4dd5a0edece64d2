"""course_utils.augment and .colour: the contract (shape, dtype, range, per-image randomness, seeding), then each
operator against torchvision or a closed form, then policies."""
from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F
import torchvision.transforms.functional as TF

from course_utils.augment import (AUGMENTATIONS, blur, crop_flip, crop_resize, cutout, maybe, noise, policy, rotate,
                                  simclr_policy, sobel)
from course_utils.colour import adjust_colour, colour_drop, colour_jitter, grey

# The operators that draw random parameters, as (name, function of (x, generator)): colour drop at p = 1 is not random.
RANDOM = {name: op for name, op in AUGMENTATIONS.items() if name not in ("colour_drop", "sobel")}
RANDOM["colour_drop p=0.5"] = lambda x, generator=None: colour_drop(x, 0.5, generator)
RANDOM["simclr_policy"] = simclr_policy()


def seeded(seed: int = 0) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


def images(n: int = 4, size: tuple[int, int] = (32, 32), seed: int = 0, dtype=torch.float32) -> torch.Tensor:
    """(n, 3, H, W) random colour images in [0, 1] that touch both ends of the range."""
    x = torch.rand(n, 3, *size, generator=seeded(seed), dtype=dtype)
    x[:, :, 0, 0], x[:, :, -1, -1] = 0, 1
    return x


def copies(n: int = 16) -> torch.Tensor:
    """n copies of one image, (n, 3, 32, 32): any difference between the outputs comes from per-image parameters."""
    return images(1).expand(n, -1, -1, -1).contiguous()


# ---------------------------------------------------------------- every operator: the contract


def test_the_registry_holds_the_nine_operators_of_simclr_figure_4():
    assert set(AUGMENTATIONS) == {"crop", "crop_flip", "colour_drop", "colour_jitter", "rotate", "cutout", "noise",
                                  "blur", "sobel"}


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
@pytest.mark.parametrize("name", [*AUGMENTATIONS, "simclr_policy"])
def test_output_keeps_shape_dtype_device_and_range(name, dtype):
    op = simclr_policy() if name == "simclr_policy" else AUGMENTATIONS[name]
    x = images(6, (24, 32), dtype=dtype)
    y = op(x, generator=seeded())
    assert y.shape == x.shape and y.dtype == dtype and y.device == x.device
    assert torch.isfinite(y).all() and y.min() >= 0 and y.max() <= 1
    assert not torch.equal(y, x)  # it did something


@pytest.mark.parametrize("name", RANDOM)
def test_each_image_gets_its_own_parameters(name):
    y = RANDOM[name](copies(16), generator=seeded())
    distinct = torch.unique(y.flatten(1), dim=0).shape[0]
    expected = {"rotate": 3, "colour_drop p=0.5": 2}.get(name, 16)  # 90/180/270 degrees; grey or not
    assert distinct == expected


@pytest.mark.parametrize("name", RANDOM)
def test_a_seed_fixes_the_result_and_another_seed_changes_it(name):
    x = images(8)
    first, again = RANDOM[name](x, generator=seeded(1)), RANDOM[name](x, generator=seeded(1))
    other = RANDOM[name](x, generator=seeded(2))
    assert torch.equal(first, again)
    assert not torch.equal(first, other)


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")
@pytest.mark.parametrize("name", [*RANDOM, "sobel", "colour_drop"])
def test_the_same_seed_gives_the_same_result_on_cpu_and_cuda(name):
    op = {**AUGMENTATIONS, **RANDOM}[name]
    x = images(8)
    on_cpu = op(x, generator=seeded(3))
    on_gpu = op(x.cuda(), generator=seeded(3))  # a CPU generator: the same draws, moved to the GPU
    assert on_gpu.device.type == "cuda"
    torch.testing.assert_close(on_gpu.cpu(), on_cpu, atol=1e-4, rtol=0)
    cuda_generator = torch.Generator("cuda").manual_seed(3)  # drawn on the GPU, applied to CPU images
    assert op(x, generator=cuda_generator).device.type == "cpu"


# ---------------------------------------------------------------- geometry


def ramps(n: int, size: int = 32) -> torch.Tensor:
    """(n, 3, size, size): channel 0 = (column + 1/2) / size, channel 1 = (row + 1/2) / size, channel 2 = 1/2.

    A crop resamples a linear function, which bilinear interpolation reproduces exactly: the output's channel 0 along
    a row is linear with slope w / size per pixel, where w is the box's width as a fraction of the image's.
    """
    centres = (torch.arange(size) + 0.5) / size
    x = torch.stack([centres.expand(size, size), centres[:, None].expand(size, size), torch.full((size, size), 0.5)])
    return x.expand(n, -1, -1, -1).contiguous()


def box_sizes(y: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """The (signed) box width and height fractions of crops of ``ramps``, (n,) each, from interior slopes."""
    size = y.shape[-1]
    inner = y[:, :, 2:-2, 2:-2]  # away from the image's outer half-pixel, where the border is clamped
    dx = inner[:, 0, :, 1:] - inner[:, 0, :, :-1]  # (n, h, w - 1): constant along a row for a linear ramp
    dy = inner[:, 1, 1:, :] - inner[:, 1, :-1, :]
    assert torch.allclose(dx, dx[:, :1, :1], atol=1e-5) and torch.allclose(dy, dy[:, :1, :1], atol=1e-5)
    return dx[:, 0, 0] * size, dy[:, 0, 0] * size


def test_crop_boxes_follow_random_resized_crop_area_and_aspect_ratio():
    w, h = box_sizes(crop_resize(ramps(256), seeded(), scale=(0.08, 1.0), ratio=(3 / 4, 4 / 3)))
    area, aspect = w * h, w / h
    assert (w > 0).all() and (h > 0).all() and (w <= 1 + 1e-5).all() and (h <= 1 + 1e-5).all()
    assert area.min() >= 0.08 - 1e-4 and area.max() <= 1 + 1e-4
    assert aspect.min() >= 3 / 4 - 1e-4 and aspect.max() <= 4 / 3 + 1e-4
    assert area.min() < 0.15 and area.max() > 0.9  # the whole range is used
    assert (aspect < 0.8).any() and (aspect > 1.25).any()


def test_crop_with_the_whole_image_is_the_identity_and_size_sets_the_output():
    x = images(4)
    assert torch.allclose(crop_resize(x, seeded(), scale=(1, 1), ratio=(1, 1)), x, atol=1e-5)
    assert crop_resize(x, seeded(), size=16).shape == (4, 3, 16, 16)
    assert crop_flip(x, seeded(), size=(8, 12)).shape == (4, 3, 8, 12)


def test_crop_flip_mirrors_about_half_the_images():
    x = images(64)
    y = crop_flip(x, seeded(), scale=(1, 1), ratio=(1, 1))
    same = (y - x).abs().flatten(1).amax(1) < 1e-5
    mirrored = (y - x.flip(-1)).abs().flatten(1).amax(1) < 1e-5
    assert (same ^ mirrored).all()  # each image is one or the other
    assert 16 < int(mirrored.sum()) < 48
    w, _ = box_sizes(crop_flip(ramps(64), seeded()))
    assert (w < 0).any() and (w > 0).any()  # a negative slope: the crop read right to left


@pytest.mark.parametrize("k", [1, 2, 3])
def test_rotate_by_k_quarter_turns_equals_torch_rot90(k):
    x = images(3)
    assert torch.equal(rotate(x, k=k), torch.rot90(x, k, dims=(2, 3)))


def test_random_rotations_are_90_180_or_270_degrees_exactly():
    x = images(32)
    y = rotate(x, seeded())
    turns = [[k for k in range(4) if torch.equal(y[b], torch.rot90(x[b], k, dims=(1, 2)))] for b in range(32)]
    assert all(len(t) == 1 and t[0] in (1, 2, 3) for t in turns)
    assert {t[0] for t in turns} == {1, 2, 3}


def test_rotating_a_non_square_image_keeps_its_size_and_centre():
    x = images(2, (6, 10))
    assert torch.equal(rotate(x, k=2), torch.rot90(x, 2, dims=(2, 3)))  # a half turn fits exactly
    quarter = rotate(x, k=1)
    assert torch.equal(quarter[:, :, :, 2:8], torch.rot90(x[:, :, :, 2:8], 1, dims=(2, 3)))  # the central square
    assert (quarter[:, :, :, :2] == 0).all() and (quarter[:, :, :, 8:] == 0).all()  # uncovered: 0


def test_cutout_sets_one_square_per_image_and_nothing_else():
    x = images(32) * 0.5 + 0.25  # no pixel is 0 before the cut
    y = cutout(x, seeded(), size=(0.25, 0.5), fill=0.0)
    cut = (y != x).all(dim=1)  # (B, H, W)
    for mask in cut:
        rows, cols = mask.any(1).nonzero().flatten(), mask.any(0).nonzero().flatten()
        side = len(rows)
        assert side == len(cols) and 8 <= side <= 16 and int(mask.sum()) == side * side  # a full square
        assert rows[-1] - rows[0] == side - 1 and cols[-1] - cols[0] == side - 1
    assert (y.permute(1, 0, 2, 3)[:, cut] == 0).all()
    assert torch.equal(y.permute(1, 0, 2, 3)[:, ~cut], x.permute(1, 0, 2, 3)[:, ~cut])
    means = cutout(x, seeded(), fill="mean")
    inside = (means != x).all(dim=1, keepdim=True)
    assert torch.allclose(torch.where(inside, means, 0).sum((2, 3)) / inside.sum((2, 3)), x.mean((2, 3)))


# ---------------------------------------------------------------- appearance


def test_noise_of_std_zero_is_the_identity_and_the_std_is_per_image():
    x = images(4)
    assert torch.equal(noise(x, seeded(), std=0.0), x)
    grey_images = torch.full((8, 3, 64, 64), 0.5)
    stds = (noise(grey_images, seeded(), std=0.1) - 0.5).flatten(1).std(1)
    assert torch.allclose(stds, torch.full((8,), 0.1), rtol=0.1)
    stds = (noise(grey_images, seeded(), std=(0.01, 0.1)) - 0.5).flatten(1).std(1)
    assert stds.min() > 0.008 and stds.max() < 0.11 and stds.max() > 2 * stds.min()


@pytest.mark.parametrize("kernel_size, sigma", [(3, 0.7), (7, 1.3), (9, 2.0)])
def test_blur_with_a_fixed_sigma_matches_torchvision_gaussian_blur(kernel_size, sigma):
    x = images(4)
    ours = blur(x, seeded(), sigma=sigma, kernel_size=kernel_size)
    theirs = torch.stack([TF.gaussian_blur(image, [kernel_size, kernel_size], [sigma, sigma]) for image in x])
    torch.testing.assert_close(ours, theirs, atol=1e-5, rtol=0)  # both reflect at the borders


def test_blur_keeps_a_flat_image_and_uses_a_kernel_of_a_tenth_of_the_side():
    flat = torch.full((2, 3, 40, 40), 0.3)
    torch.testing.assert_close(blur(flat, seeded()), flat)
    spike = torch.zeros(1, 1, 80, 80)
    spike[..., 40, 40] = 1
    spread = (blur(spike, seeded(), sigma=5.0) > 0)[0, 0, 40].nonzero().flatten()
    assert len(spread) == 9  # 80 pixels: kernel 2 * (80 // 20) + 1 = 9


def test_colour_drop_equals_torchvision_rgb_to_grayscale_in_three_channels():
    x = images(4)
    theirs = TF.rgb_to_grayscale(x, num_output_channels=3)
    torch.testing.assert_close(colour_drop(x), theirs, atol=2e-4, rtol=0)  # they weigh red 0.2989, we 0.299
    torch.testing.assert_close(colour_drop(x)[:, :1], grey(x))
    assert torch.equal(colour_drop(x, p=0.0), x)
    some = colour_drop(images(32), 0.5, seeded())
    is_grey = (some == some[:, :1]).flatten(1).all(1)
    assert torch.equal(some[~is_grey], images(32)[~is_grey]) and 8 < int(is_grey.sum()) < 24


def test_adjust_colour_without_hue_matches_torchvision_brightness_contrast_saturation():
    x = images(6)
    b, c, s = torch.tensor([0.2, 0.7, 1.0, 1.3, 1.8, 1.0]), torch.tensor([1.5, 0.4, 1.0, 1.8, 0.9, 0.0]), \
        torch.tensor([0.3, 1.7, 1.0, 0.0, 1.2, 1.5])
    ours = adjust_colour(x, b, c, s, torch.zeros(6))
    theirs = torch.stack([TF.adjust_saturation(TF.adjust_contrast(TF.adjust_brightness(image, float(bi)), float(ci)),
                                               float(si)) for image, bi, ci, si in zip(x, b, c, s)])
    torch.testing.assert_close(ours, theirs, atol=5e-4, rtol=0)  # their grey weighs red 0.2989, ours 0.299


def test_hue_shift_keeps_the_grey_level_and_a_full_turn_is_the_identity():
    x = 0.4 + 0.2 * images(4)  # saturated enough to rotate, far enough from 0 and 1 to stay in range
    one = torch.ones(4)
    shifted = adjust_colour(x, one, one, one, torch.tensor([0.05, -0.05, 0.1, 0.0]))
    torch.testing.assert_close(grey(shifted), grey(x), atol=1e-5, rtol=0)
    assert (shifted[:3] - x[:3]).abs().amax() > 0.01
    torch.testing.assert_close(adjust_colour(x, one, one, one, one), x, atol=1e-5, rtol=0)
    grey_images = grey(x).expand(-1, 3, -1, -1)
    torch.testing.assert_close(adjust_colour(grey_images, one, one, one, 0.3 * one), grey_images, atol=1e-5, rtol=0)
    red = torch.tensor([0.8, 0.3, 0.3]).view(1, 3, 1, 1)
    to_green = adjust_colour(red, torch.ones(1), torch.ones(1), torch.ones(1), torch.tensor([1 / 3]))
    assert to_green.flatten().argmax() == 1  # a third of a turn: red becomes green, as in HSV


def test_colour_jitter_of_strength_zero_is_the_identity_and_its_factors_stay_in_range():
    x = images(4)
    torch.testing.assert_close(colour_jitter(x, seeded(), strength=0.0), x, atol=1e-5, rtol=0)
    flat = torch.full((256, 3, 4, 4), 0.5)
    brightness = colour_jitter(flat, seeded(), strength=0.5)[:, 0, 0, 0]  # grey: only brightness changes it
    assert brightness.min() >= 0.5 * 0.6 - 1e-5 and brightness.max() <= 0.5 * 1.4 + 1e-5
    assert brightness.min() < 0.5 * 0.65 and brightness.max() > 0.5 * 1.35


def sobel_by_loop(x: torch.Tensor) -> torch.Tensor:
    """Sobel magnitudes one image at a time, the kernels written out, edges replicated; (B, 3, H, W)."""
    gx = torch.tensor([[-1.0, 0, 1], [-2, 0, 2], [-1, 0, 1]]).view(1, 1, 3, 3)
    out = []
    for image in x:
        g = (0.299 * image[0] + 0.587 * image[1] + 0.114 * image[2])[None, None]
        g = F.pad(g, [1, 1, 1, 1], mode="replicate")
        magnitude = torch.sqrt(F.conv2d(g, gx) ** 2 + F.conv2d(g, gx.transpose(2, 3)) ** 2)[0]
        out.append((magnitude / magnitude.max()).expand(3, -1, -1))
    return torch.stack(out)


def test_sobel_on_a_step_edge_is_one_beside_the_edge_and_zero_elsewhere():
    step = torch.zeros(2, 3, 8, 8)
    step[0, :, :, 4:] = 0.6  # a vertical edge between columns 3 and 4
    step[1, :, 5:, :] = 0.9  # a horizontal edge between rows 4 and 5
    expected = torch.zeros(2, 3, 8, 8)
    expected[0, :, :, 3:5] = 1  # |gx| = (1 + 2 + 1) 0.6 on both sides, the maximum
    expected[1, :, 4:6, :] = 1
    torch.testing.assert_close(sobel(step), expected)
    assert torch.equal(sobel(torch.full((1, 3, 5, 5), 0.4)), torch.zeros(1, 3, 5, 5))  # flat: 0, not NaN


def test_sobel_matches_a_loop_over_images():
    x = images(5)
    torch.testing.assert_close(sobel(x), sobel_by_loop(x), atol=1e-6, rtol=0)
    assert torch.equal(AUGMENTATIONS["sobel"](x, generator=seeded()), sobel(x))


# ---------------------------------------------------------------- policies


def test_policy_with_p_zero_is_the_identity_and_with_p_one_is_the_operators_in_turn():
    x = images(8)
    assert torch.equal(policy("crop", "colour_jitter", "sobel", p=0.0)(x, seeded()), x)
    both = policy("rotate", sobel, p=1.0)(x, seeded())
    assert torch.equal(both, sobel(rotate(x, seeded())))


def test_policy_applies_an_operator_to_about_p_of_the_images():
    x = images(64)
    y = policy(sobel, p=0.25)(x, seeded())
    changed = (y != x).flatten(1).any(1)
    assert torch.equal(y[changed], sobel(x)[changed]) and torch.equal(y[~changed], x[~changed])
    assert 6 < int(changed.sum()) < 26
    assert torch.equal(maybe(AUGMENTATIONS["noise"], x, 0.0), x)
    with pytest.raises(ValueError, match="2 operations but 3"):
        policy("crop", "blur", p=(1, 0.5, 0.5))
    with pytest.raises(ValueError, match="unknown augmentation 'flip'"):
        policy("crop", "flip")


def test_simclr_policy_gives_varied_views_in_range():
    views = simclr_policy()(copies(32), seeded())
    assert views.shape == (32, 3, 32, 32) and views.min() >= 0 and views.max() <= 1
    assert torch.unique(views.flatten(1), dim=0).shape[0] == 32
    is_grey = (views == views[:, :1]).flatten(1).all(1)
    assert 0 < int(is_grey.sum()) < 16  # colour drop, p = 0.2
    assert simclr_policy(size=24)(copies(4), seeded()).shape == (4, 3, 24, 24)
    assert "crop_flip p=1" in repr(simclr_policy()) and "colour_drop p=0.2" in repr(simclr_policy())
    assert math.isclose(simclr_policy(strength=0.5).p[1], 0.8)
