"""course_utils.data: the 2-D toy sets (ring, grid, moons, swiss roll) and the MNIST IDX reader."""

from __future__ import annotations

import gzip
import math
import re
import struct

import numpy as np
import pytest
import scipy.stats as st
import sklearn.datasets
import torch

from course_utils.data import (
    DATA_DIR_ENV,
    MNIST_FILES,
    MOONS_MEAN,
    MOONS_SCALE,
    SWISS_ROLL_MEAN,
    SWISS_ROLL_SCALE,
    load_mnist,
    make_grid,
    make_moons_data,
    make_ring,
    make_swiss_roll_2d,
    read_idx,
    sample_modes,
)
from course_utils.distributions import grid_centers, ring_centers


def seeded(seed: int) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


def nearest_mode(points: torch.Tensor, centers: torch.Tensor) -> torch.Tensor:
    return torch.cdist(points.double(), centers.double()).argmin(dim=1)


# --------------------------------------------------------------------------- ring and grid
def test_ring_modes_sit_at_angles_2pi_k_over_8():
    """With a tiny σ, is every ring sample at angle exactly 2πk/8 for some k = 0..7, radius 1, all 8 used?"""
    points = make_ring(4000, std=1e-7, generator=seeded(0))
    angles = torch.atan2(points[:, 1].double(), points[:, 0].double()) % (2 * math.pi)  # (n,) in [0, 2π)
    k = torch.round(angles / (2 * math.pi / 8)) % 8
    expected = 2 * math.pi * k / 8
    wrapped = torch.remainder(angles - expected + math.pi, 2 * math.pi) - math.pi  # angle difference in (-π, π]
    assert wrapped.abs().max() < 1e-5
    assert set(k.long().tolist()) == set(range(8))  # linspace(0, 2π, 8) would give 7 distinct modes
    assert torch.allclose(points.double().norm(dim=1), torch.ones(len(points), dtype=torch.float64), atol=1e-5)


@pytest.mark.parametrize(
    "make, centers, std",
    [(make_ring, ring_centers(8, 1.0), 0.01), (make_grid, grid_centers(5, 2.0), 0.05)],
    ids=["ring", "grid"],
)
def test_samples_scatter_around_their_modes_with_the_protocol_std(make, centers, std):
    """Are the per-mode means the centres (within 5 standard errors) and the per-axis std the protocol's σ?"""
    n = 50_000
    points = make(n, generator=seeded(1)).double()
    mode = nearest_mode(points, centers)
    residual = points - centers.double()[mode]  # (n, 2)
    for k in range(len(centers)):
        r = residual[mode == k]
        assert r.mean(0).abs().max() < 5 * std / math.sqrt(len(r))
    # the sample variance of n normals has relative standard error sqrt(2 / n)
    per_axis_std = residual.std(dim=0)
    assert torch.allclose(per_axis_std, torch.full((2,), std, dtype=torch.float64), rtol=5 * math.sqrt(2 / n))


def test_grid_centres_are_minus4_to_4_in_steps_of_2():
    """Are the 25 grid modes exactly {-4, -2, 0, 2, 4}² (each hit by its own samples)?"""
    expected = {(x, y) for x in (-4, -2, 0, 2, 4) for y in (-4, -2, 0, 2, 4)}
    points = make_grid(5000, std=1e-6, generator=seeded(2))
    assert {(round(x), round(y)) for x, y in points.tolist()} == expected
    assert (points - points.round()).abs().max() < 1e-4


@pytest.mark.parametrize("make, n_modes", [(make_ring, 8), (make_grid, 25)], ids=["ring", "grid"])
def test_modes_have_equal_weight(make, n_modes):
    """Are the samples spread evenly over the modes (chi-square test of uniform counts, seeded)?"""
    centers = ring_centers() if n_modes == 8 else grid_centers()
    counts = torch.bincount(nearest_mode(make(20_000, generator=seeded(3)), centers), minlength=n_modes)
    assert st.chisquare(counts.numpy()).pvalue > 1e-3
    assert counts.min() > 0


@pytest.mark.parametrize("make", [make_ring, make_grid, make_moons_data, make_swiss_roll_2d])
def test_seeded_generator_reproduces_and_different_seeds_differ(make):
    """Does the same seed give identical float32 (n, 2) samples, and another seed different ones?"""
    a, b, c = make(300, generator=seeded(7)), make(300, generator=seeded(7)), make(300, generator=seeded(8))
    assert a.shape == (300, 2) and a.dtype == torch.float32
    assert torch.equal(a, b)
    assert not torch.equal(a, c)


@pytest.mark.parametrize("make", [make_ring, make_moons_data])
def test_without_generator_the_global_seed_decides(make):
    """With generator=None, does torch.manual_seed (what seed_everything calls) make the draw reproducible?"""
    torch.manual_seed(11)
    a = make(100)
    torch.manual_seed(11)
    assert torch.equal(a, make(100))


def test_float32_even_when_the_default_dtype_is_float64():
    """Are ring samples float32 whatever torch's default dtype is?"""
    previous = torch.get_default_dtype()
    torch.set_default_dtype(torch.float64)
    try:
        assert make_ring(10, generator=seeded(0)).dtype == torch.float32
        assert make_grid(10, generator=seeded(0)).dtype == torch.float32
    finally:
        torch.set_default_dtype(previous)


@pytest.mark.parametrize(
    "call, message",
    [
        (lambda: make_ring(0), "n must be at least 1"),
        (lambda: make_ring(10, std=-0.1), "std must be > 0"),
        (lambda: make_grid(10, std=0.0), "std must be > 0"),
        (lambda: make_moons_data(10, noise=-1.0), "noise must be >= 0"),
        (lambda: sample_modes(5, torch.zeros(0, 2), 0.1), r"centers must have shape \(K, D\)"),
    ],
)
def test_bad_arguments_are_refused(call, message):
    """Are a non-positive n, a negative std or noise and empty centres refused with ValueError?"""
    with pytest.raises(ValueError, match=message):
        call()


# --------------------------------------------------------------------------- moons and swiss roll
def test_moons_are_sklearns_moons_shifted_and_scaled():
    """Are the moons exactly scikit-learn's make_moons (seeded from the generator), standardised?"""
    seed = int(torch.randint(2**31 - 1, (), generator=seeded(5)))  # the draw make_moons_data makes
    reference, _ = sklearn.datasets.make_moons(500, noise=0.1, random_state=seed)
    expected = (reference - np.array(MOONS_MEAN)) / MOONS_SCALE
    np.testing.assert_allclose(make_moons_data(500, noise=0.1, generator=seeded(5)).numpy(), expected, rtol=1e-6,
                               atol=1e-6)


def test_swiss_roll_is_sklearns_x_and_z_columns_shifted_and_scaled():
    """Is the 2-D swiss roll scikit-learn's make_swiss_roll columns (x, z), standardised?"""
    seed = int(torch.randint(2**31 - 1, (), generator=seeded(6)))
    reference, _ = sklearn.datasets.make_swiss_roll(400, noise=0.3, random_state=seed)
    expected = (reference[:, [0, 2]] - np.array(SWISS_ROLL_MEAN)) / SWISS_ROLL_SCALE
    np.testing.assert_allclose(make_swiss_roll_2d(400, noise=0.3, generator=seeded(6)).numpy(), expected,
                               rtol=1e-6, atol=1e-6)


@pytest.mark.parametrize("make", [make_moons_data, make_swiss_roll_2d])
def test_noiseless_curves_have_mean_0_and_average_variance_1(make):
    """Does the documented standardisation hold: mean ≈ 0, mean of the two coordinate variances ≈ 1?"""
    points = make(200_000, noise=0.0, generator=seeded(9)).double()
    assert points.mean(0).abs().max() < 0.02
    assert abs(float(points.var(0).mean()) - 1.0) < 0.02


# --------------------------------------------------------------------------- IDX reader
def idx_bytes(array: np.ndarray, type_code: int) -> bytes:
    """An IDX file written by hand: magic 00 00 <type> <ndim>, big-endian uint32 dims, big-endian data."""
    header = bytes([0, 0, type_code, array.ndim]) + struct.pack(f">{array.ndim}I", *array.shape)
    return header + array.astype(array.dtype.newbyteorder(">")).tobytes()


def write_idx(path, array: np.ndarray, type_code: int = 0x08, compress: bool = False):
    data = idx_bytes(array, type_code)
    path.write_bytes(gzip.compress(data) if compress else data)
    return path


@pytest.mark.parametrize("compress", [False, True], ids=["plain", "gzip"])
def test_read_idx_uint8_images_and_labels(tmp_path, compress):
    """Are uint8 images (N, 28, 28) and labels (N,) read back exactly, plain or gzip-compressed?"""
    rng = np.random.default_rng(0)
    images = rng.integers(0, 256, size=(5, 28, 28), dtype=np.uint8)
    labels = rng.integers(0, 10, size=5, dtype=np.uint8)
    suffix = ".gz" if compress else ""
    got_images = read_idx(write_idx(tmp_path / f"img{suffix}", images, compress=compress))
    got_labels = read_idx(write_idx(tmp_path / f"lab{suffix}", labels, compress=compress))
    assert got_images.dtype == torch.uint8 and got_images.shape == (5, 28, 28)
    np.testing.assert_array_equal(got_images.numpy(), images)
    np.testing.assert_array_equal(got_labels.numpy(), labels)


@pytest.mark.parametrize(
    "type_code, values, torch_dtype",
    [
        (0x09, np.array([[-3, 100], [7, -128]], dtype=np.int8), torch.int8),
        (0x0B, np.array([[-3, 1000], [12345, -32768]], dtype=np.int16), torch.int16),
        (0x0C, np.array([[-3, 1000], [123456, -(2**31)]], dtype=np.int32), torch.int32),
        (0x0D, np.array([[-3.5, 1000.25], [1e-20, 6e5]], dtype=np.float32), torch.float32),
        (0x0E, np.array([[-3.5, 1000.25], [1e-200, math.pi]], dtype=np.float64), torch.float64),
    ],
    ids=["int8", "int16", "int32", "float32", "float64"],
)
def test_read_idx_other_types_are_big_endian(tmp_path, type_code, values, torch_dtype):
    """Does each IDX type code give its dtype, with values decoded big-endian (-3, 1000, ... survive)?"""
    got = read_idx(write_idx(tmp_path / "x.idx", values, type_code))
    assert got.dtype == torch_dtype
    np.testing.assert_array_equal(got.numpy(), values)


def test_read_idx_corrupt_magic_names_the_file(tmp_path):
    """Is a file whose magic number is wrong refused with ValueError naming the file?"""
    path = tmp_path / "train-images-idx3-ubyte"
    path.write_bytes(b"\x08\x03\x00\x00" + bytes(20))
    with pytest.raises(ValueError, match=re.escape(str(path)) + ".*not an IDX file"):
        read_idx(path)
    path.write_bytes(b"\x00\x00\x07\x01" + struct.pack(">I", 2) + bytes(2))  # unknown type code 0x07
    with pytest.raises(ValueError, match="not an IDX file"):
        read_idx(path)


def test_read_idx_wrong_length_is_refused(tmp_path):
    """Is a truncated file (fewer bytes than its dimensions say) refused, naming the file?"""
    data = idx_bytes(np.zeros((3, 4), dtype=np.uint8), 0x08)
    path = tmp_path / "short"
    path.write_bytes(data[:-1])
    with pytest.raises(ValueError, match=re.escape(str(path)) + r".*needs 12 bytes.*has 11"):
        read_idx(path)


# --------------------------------------------------------------------------- load_mnist
def write_fake_mnist(folder, n_train=6, n_test=4, compress_train=True):
    """A miniature MNIST in LeCun's file names: train set gzipped, test set plain (both forms read)."""
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(1)
    sets = {}
    for split, n, compress in (("train", n_train, compress_train), ("test", n_test, False)):
        images = rng.integers(0, 256, size=(n, 28, 28), dtype=np.uint8)
        images[0, 0, 0], images[0, 0, 1] = 0, 255
        labels = rng.integers(0, 10, size=n, dtype=np.uint8)
        suffix = ".gz" if compress else ""
        write_idx(folder / (MNIST_FILES[f"{split}_images"] + suffix), images, compress=compress)
        write_idx(folder / (MNIST_FILES[f"{split}_labels"] + suffix), labels, compress=compress)
        sets[split] = (images, labels)
    return sets


def check_mnist(mnist, sets):
    for split, (images, labels) in sets.items():
        x, y = getattr(mnist, f"x_{split}"), getattr(mnist, f"y_{split}")
        assert x.dtype == torch.float32 and x.shape == (len(images), 784)
        assert y.dtype == torch.int64
        np.testing.assert_allclose(x.numpy(), images.reshape(len(images), -1) / 255.0, rtol=1e-6)
        np.testing.assert_array_equal(y.numpy(), labels)
        assert float(x.min()) == 0.0 and float(x.max()) == 1.0
    assert mnist.image_shape == (28, 28)


def test_load_mnist_from_root(tmp_path):
    """Does load_mnist(root) read the four files into float32 pixels in [0, 1] (bytes / 255) and int64 labels?"""
    sets = write_fake_mnist(tmp_path / "mnist")
    check_mnist(load_mnist(tmp_path / "mnist"), sets)


def test_load_mnist_from_env_var_and_torchvision_layout(tmp_path, monkeypatch):
    """Does load_mnist() find $COURSE_DATA_DIR/MNIST/raw (torchvision's layout) when no root is given?"""
    sets = write_fake_mnist(tmp_path / "data" / "MNIST" / "raw", compress_train=False)
    monkeypatch.setenv(DATA_DIR_ENV, str(tmp_path / "data"))
    check_mnist(load_mnist(), sets)


def test_load_mnist_absent_names_the_files_and_the_env_var(tmp_path, monkeypatch):
    """Without the files, is the FileNotFoundError one a user can act on (file names, COURSE_DATA_DIR)?"""
    monkeypatch.delenv(DATA_DIR_ENV, raising=False)
    with pytest.raises(FileNotFoundError) as no_root:
        load_mnist()
    with pytest.raises(FileNotFoundError) as empty_folder:
        load_mnist(tmp_path)
    for message in (str(no_root.value), str(empty_folder.value)):
        assert DATA_DIR_ENV in message
        for name in MNIST_FILES.values():
            assert name in message
    assert str(tmp_path) in str(empty_folder.value)


def test_load_mnist_label_count_mismatch_is_refused(tmp_path):
    """Are labels that do not match the images in number refused with ValueError naming the labels file?"""
    write_fake_mnist(tmp_path)
    write_idx(tmp_path / (MNIST_FILES["test_labels"]), np.zeros(3, dtype=np.uint8))
    with pytest.raises(ValueError, match="expected 4 labels"):
        load_mnist(tmp_path)


def test_pasted_points_are_read_in_either_format_and_round_trip():
    from course_utils.data import example_points, format_points, parse_points

    points = parse_points("# my points\n1, 2\n\n3.5 -4\n5;6  # the last\n")
    assert points.dtype == torch.float32 and points.tolist() == [[1.0, 2.0], [3.5, -4.0], [5.0, 6.0]]
    face = example_points()
    assert face.shape == (46, 2) and torch.equal(parse_points(format_points(face)), face)


@pytest.mark.parametrize(("text", "message"), [
    ("1, 2\n3, 4, 5", "line 2: '3, 4, 5' is not two numbers"),
    ("1, 2\nx, 4", "line 2: 'x, 4' is not two numbers"),
    ("1, 2\n3, inf", "line 2: '3, inf' is not finite"),
    ("1, 2", "give at least 2 points, one 'x, y' per line; got 1"),
])
def test_bad_points_are_refused_naming_the_line(text, message):
    from course_utils.data import parse_points

    with pytest.raises(ValueError, match=re.escape(message)):
        parse_points(text)
