"""weight_sharing: a convolution as a shared-weight matrix, parameter counts, equivariance, the summed gradient."""

from __future__ import annotations

import pytest
import torch

from course_utils.data import load_digits
from course_utils.weight_sharing import (
    DigitCNN,
    DigitFlatCNN,
    DigitMLP,
    autoencoder_study,
    conv1d_matrix,
    count_parameters,
    equivariance_error,
    parameter_counts,
    shared_kernel_gradient,
    shift,
    shift_images,
    shift_study,
)


@pytest.mark.parametrize(("k", "length"), [(1, 5), (3, 10), (5, 5), (4, 17)])
def test_the_matrix_is_torchs_conv1d_with_one_kernel_in_every_row(k: int, length: int) -> None:
    g = torch.Generator().manual_seed(k * 100 + length)
    kernel, x = torch.randn(k, generator=g, dtype=torch.float64), torch.randn(length, generator=g, dtype=torch.float64)
    matrix = conv1d_matrix(kernel, length)
    assert matrix.shape == (length - k + 1, length)
    torch.testing.assert_close(matrix @ x, torch.nn.functional.conv1d(x[None, None], kernel[None, None])[0, 0])
    for i, row in enumerate(matrix):  # the same k numbers, shifted by one per row
        torch.testing.assert_close(row[i:i + k], kernel)
        assert torch.count_nonzero(row) <= k
    with pytest.raises(ValueError, match="length must be an int >= the kernel's size 3"):
        conv1d_matrix(torch.ones(3), 2)


def test_a_dense_layer_grows_with_the_input_a_convolution_does_not() -> None:
    assert parameter_counts(8) == {"dense": 72, "convolution": 4}
    assert parameter_counts(784, 5) == {"dense": 615_440, "convolution": 6}  # a 1-D kernel of 5
    assert parameter_counts(28 * 28, 5 * 5)["convolution"] == 26 == count_parameters(torch.nn.Conv2d(1, 1, 5))
    layer = torch.nn.Linear(8, 8)
    assert parameter_counts(8)["dense"] == sum(p.numel() for p in layer.parameters())
    conv = torch.nn.Conv1d(1, 1, 3, padding=1)
    assert parameter_counts(100)["convolution"] == sum(p.numel() for p in conv.parameters())


def test_shifting_the_input_shifts_a_convolutions_output_not_a_dense_layers() -> None:
    torch.manual_seed(0)
    x = torch.randn(4, 1, 32)
    conv = torch.nn.Conv1d(1, 1, 5, padding=2, bias=False)
    dense = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(32, 32), torch.nn.Unflatten(1, (1, 32)))
    assert equivariance_error(conv, x, 2, margin=4) < 1e-6
    assert equivariance_error(dense, x, 2, margin=4) > 0.1
    torch.testing.assert_close(shift(torch.arange(1.0, 6.0), 2), torch.tensor([0.0, 0.0, 1.0, 2.0, 3.0]))
    torch.testing.assert_close(shift(torch.arange(1.0, 6.0), -1), torch.tensor([2.0, 3.0, 4.0, 5.0, 0.0]))
    with pytest.raises(ValueError, match="margin must be at least"):
        equivariance_error(conv, x, 3, margin=1)


def test_a_shared_kernels_gradient_is_the_sum_over_positions() -> None:
    g = torch.Generator().manual_seed(1)
    kernel, x = torch.randn(3, generator=g, dtype=torch.float64), torch.randn(9, generator=g, dtype=torch.float64)
    upstream = torch.randn(7, generator=g, dtype=torch.float64)
    per_position, gradient = shared_kernel_gradient(kernel, x, upstream)
    assert per_position.shape == (7, 3)
    torch.testing.assert_close(per_position.sum(0), gradient)
    torch.testing.assert_close(per_position[2], x[2:5] * upstream[2])
    with pytest.raises(ValueError, match=r"upstream must have one value per output position, shape \(7,\)"):
        shared_kernel_gradient(kernel, x, upstream[:3])


def test_the_three_digit_networks_differ_only_where_the_chapter_says() -> None:
    """Are the budgets close (4,810 / 5,050 / 5,130), and is the global max head invariant to a circular shift
    of its feature maps while the flatten head is not?"""
    assert (count_parameters(DigitMLP()), count_parameters(DigitFlatCNN()), count_parameters(DigitCNN())) == (
        4_810, 5_050, 5_130)
    torch.manual_seed(0)
    pooled, flat = DigitCNN(), DigitFlatCNN()
    maps = torch.rand(2, 32, 4, 4)
    moved = torch.roll(maps, 1, dims=-1)
    torch.testing.assert_close(pooled.head(moved.amax(dim=(2, 3))), pooled.head(maps.amax(dim=(2, 3))))
    assert (flat.head(moved[:, :16].flatten(1)) - flat.head(maps[:, :16].flatten(1))).abs().max() > 1e-3
    assert flat(torch.rand(3, 64)).shape == (3, 10)


def test_shift_study_scores_each_network_per_seed_and_shift() -> None:
    """Does the table hold one row per seed and a column per shift, and is shift 0 the plain test accuracy?"""
    digits = load_digits()
    study = shift_study(digits, seeds=(0, 1), steps=3, shifts=(0, 2))
    assert set(study.accuracy) == {"MLP", "CNN, flatten head", "CNN, global max"}
    assert all(table.shape == (2, 2) for table in study.accuracy.values())
    model = study.models[1].flat_cnn
    with torch.no_grad():
        plain = float((model(digits.x_test).argmax(1) == digits.y_test).double().mean())
        moved = float((model(shift_images(digits.x_test, 2, 0)).argmax(1) == digits.y_test).double().mean())
    assert study.at("CNN, flatten head", 0)[1] == pytest.approx(plain)
    assert study.at("CNN, flatten head", 2)[1] == pytest.approx(moved)
    with pytest.raises(ValueError, match="seeds must be distinct"):
        shift_study(digits, seeds=(0, 0), steps=1)


def test_autoencoder_study_pairs_tied_and_untied_at_the_same_budget() -> None:
    study = autoencoder_study(load_digits(), seeds=(0, 1), steps=2)
    assert study.parameters == {"tied": 1_104, "untied": 1_096}
    assert all(len(v) == 2 for v in (*study.train_error.values(), *study.test_error.values()))
    with pytest.raises(ValueError, match="even int"):
        autoencoder_study(load_digits(), hidden=7)
