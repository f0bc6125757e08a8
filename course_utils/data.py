"""Data sets the course can use offline.

Image data is scikit-learn's bundled 8x8 digits (1,797 images, no download) and, when a user has
the files, MNIST read from local IDX files. Beside them, the 2-D toy sets of the GAN chapters:
the ring and grid of Gaussians (the mode-coverage benchmarks), two moons and a swiss roll.
Every sampler takes an explicit ``torch.Generator`` and returns float32 tensors.
"""

from __future__ import annotations

import gzip
import math
import os
import struct
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from .distributions import grid_centers, ring_centers

DIGITS_TEST_SIZE = 297  # held-out images; the remaining 1,500 train (a round number, fixed forever)
DIGITS_SPLIT_SEED = 0  # the permutation that defines the split; changing it changes every figure


@dataclass(frozen=True)
class ImageSplit:
    """Labelled images with a fixed train/test split, pixels flattened to float32 in [0, 1]."""

    x_train: torch.Tensor  # (N, H·W) float32 in [0, 1]
    y_train: torch.Tensor  # (N,) int64 class labels
    x_test: torch.Tensor  # (M, H·W)
    y_test: torch.Tensor  # (M,)
    image_shape: tuple[int, int]  # (H, W), to unflatten a row for display or a conv net


Digits = ImageSplit  # scikit-learn's 8x8 digits: 1,500 train and 297 test images, image_shape (8, 8)
MNIST = ImageSplit  # MNIST from local IDX files: 60,000 train and 10,000 test images, image_shape (28, 28)


def load_digits() -> Digits:
    """Load the digits bundled with scikit-learn (pixel values 0..16, scaled to [0, 1]).

    The split is the same on every machine: a permutation from a fixed torch seed.
    """
    from sklearn.datasets import load_digits as sklearn_digits  # import here: sklearn is slow to import

    bunch = sklearn_digits()
    x = torch.as_tensor(bunch.data, dtype=torch.float32) / 16.0  # (1797, 64)
    y = torch.as_tensor(bunch.target, dtype=torch.int64)  # (1797,)
    order = torch.randperm(len(x), generator=torch.Generator().manual_seed(DIGITS_SPLIT_SEED))
    test, train = order[:DIGITS_TEST_SIZE], order[DIGITS_TEST_SIZE:]
    return ImageSplit(x_train=x[train], y_train=y[train], x_test=x[test], y_test=y[test], image_shape=(8, 8))


# ============================================================================ 2-D toy sets
# The ring and the grid are the PacGAN / VEEGAN mode-coverage benchmarks (DESIGN.md, "Mode-coverage
# protocol"); their centres come from course_utils.distributions, so the data, the densities the
# chapters plot and the metric all use one definition of where the modes are.


def _sample_count(n: int) -> int:
    if type(n) is not int:
        raise TypeError(f"n must be an int; got {type(n).__name__}")
    if n < 1:
        raise ValueError(f"n must be at least 1; got {n}")
    return n


def _std(name: str, value: float, *, allow_zero: bool = False) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        raise ValueError(f"{name} must be a finite number; got {value!r}")
    if value < 0 or (value == 0 and not allow_zero):
        raise ValueError(f"{name} must be {'>= 0' if allow_zero else '> 0'}; got {value}")
    return float(value)


def sample_modes(n: int, centers: torch.Tensor, std: float, generator: torch.Generator | None = None) -> torch.Tensor:
    """n draws from the equal-weight mixture of isotropic Gaussians N(c_k, std² I) at ``centers``.

    A mode index k ~ Uniform{0..K-1}, then ``c_k + std · ε`` with ε ~ N(0, I): the same law as
    :func:`course_utils.distributions.gaussian_mixture_2d`, but seeded through ``generator``
    (torch's ``Distribution.sample`` takes none). ``centers``: (K, D) → float32 (n, D).
    """
    _sample_count(n)
    centers = torch.as_tensor(centers, dtype=torch.float32)
    if centers.ndim != 2 or len(centers) == 0:
        raise ValueError(f"centers must have shape (K, D) with K >= 1; got {tuple(centers.shape)}")
    mode = torch.randint(len(centers), (n,), generator=generator)  # (n,) equal weights
    noise = torch.randn(n, centers.shape[1], generator=generator, dtype=torch.float32)  # (n, D)
    return centers[mode] + _std("std", std) * noise  # (n, D)


def make_ring(n: int, *, n_modes: int = 8, radius: float = 1.0, std: float = 0.01,
              generator: torch.Generator | None = None) -> torch.Tensor:
    """The ring benchmark: n points from ``n_modes`` equal-weight Gaussians on a circle.

    Centres at angles 2πk/n_modes, k = 0..n_modes-1 (:func:`~course_utils.distributions.ring_centers`),
    isotropic standard deviation ``std``. The defaults are the protocol's: 8 modes, radius 1, σ = 0.01
    (Srivastava et al. 2017, VEEGAN; Lin et al. 2018, PacGAN). Returns float32, shape (n, 2).
    """
    return sample_modes(n, ring_centers(n_modes, radius), std, generator)


def make_grid(n: int, *, n_per_side: int = 5, spacing: float = 2.0, std: float = 0.05,
              generator: torch.Generator | None = None) -> torch.Tensor:
    """The grid benchmark: n points from ``n_per_side²`` equal-weight Gaussians on a square grid.

    Centres at {-4, -2, 0, 2, 4}² with the defaults (:func:`~course_utils.distributions.grid_centers`),
    isotropic standard deviation σ = 0.05 (the protocol's). Returns float32, shape (n, 2).
    """
    return sample_modes(n, grid_centers(n_per_side, spacing), std, generator)


def _sklearn_seed(generator: torch.Generator | None) -> int:
    """An int seed for scikit-learn drawn from ``generator`` (or torch's global RNG, which
    ``seed_everything`` seeds), so one torch generator makes every data set reproducible."""
    return int(torch.randint(2**31 - 1, (), generator=generator))


# Two moons before scaling: the outer arc (cos t, sin t) and the inner arc (1 - cos t, 1/2 - sin t),
# t ∈ [0, π]. Over both arcs the mean is (1/2, 1/4) and the coordinate variances are 3/4 and
# 9/16 - 1/π, so one isotropic factor gives the noiseless curves an average coordinate variance of 1.
MOONS_MEAN = (0.5, 0.25)
MOONS_SCALE = math.sqrt((0.75 + 0.5625 - 1 / math.pi) / 2)  # ≈ 0.705

# The 2-D swiss roll before scaling: (t cos t, t sin t), t ~ Uniform[3π/2, 9π/2] (scikit-learn's
# make_swiss_roll, columns x and z). Closed forms: E[t cos t] = 2, E[t sin t] = 2/(3π),
# E[t²] = 39π²/4, so the total variance is 39π²/4 - 4 - 4/(9π²); the same isotropic scaling as the moons.
SWISS_ROLL_MEAN = (2.0, 2 / (3 * math.pi))
SWISS_ROLL_SCALE = math.sqrt((39 * math.pi**2 / 4 - 4 - 4 / (9 * math.pi**2)) / 2)  # ≈ 6.79


def make_moons_data(n: int, *, noise: float = 0.05, generator: torch.Generator | None = None) -> torch.Tensor:
    """scikit-learn's two interleaving half-circles, standardised, as float32 (n, 2).

    Points come from ``sklearn.datasets.make_moons(n, noise=noise)`` (Gaussian noise of standard
    deviation ``noise`` in scikit-learn's units), seeded from ``generator``; labels are dropped.
    Then ``(x - MOONS_MEAN) / MOONS_SCALE``: one shift and one isotropic factor (the shape is kept),
    chosen so the noiseless curves have mean 0 and average coordinate variance 1. With noise the
    variance is ≈ 1 + (noise / MOONS_SCALE)².
    """
    from sklearn.datasets import make_moons  # import here: sklearn is slow to import

    points, _ = make_moons(_sample_count(n), noise=_std("noise", noise, allow_zero=True),
                           random_state=_sklearn_seed(generator))  # (n, 2) float64
    points = (points - MOONS_MEAN) / MOONS_SCALE
    return torch.as_tensor(points, dtype=torch.float32)


def make_swiss_roll_2d(n: int, *, noise: float = 0.25, generator: torch.Generator | None = None) -> torch.Tensor:
    """scikit-learn's swiss roll seen from its axis (a 2-D spiral), standardised, as float32 (n, 2).

    Columns x and z of ``sklearn.datasets.make_swiss_roll(n, noise=noise)`` (``noise`` in
    scikit-learn's units, where the spiral spans about ±14), seeded from ``generator``. Then
    ``(x - SWISS_ROLL_MEAN) / SWISS_ROLL_SCALE``, so the noiseless spiral has mean 0 and average
    coordinate variance 1.
    """
    from sklearn.datasets import make_swiss_roll

    points, _ = make_swiss_roll(_sample_count(n), noise=_std("noise", noise, allow_zero=True),
                                random_state=_sklearn_seed(generator))  # (n, 3) float64
    points = (points[:, [0, 2]] - SWISS_ROLL_MEAN) / SWISS_ROLL_SCALE  # (n, 2)
    return torch.as_tensor(points, dtype=torch.float32)


# ============================================================================ MNIST from IDX files
# IDX (LeCun et al., http://yann.lecun.com/exdb/mnist/): a 4-byte magic number — two zero bytes, a
# type code, the number of dimensions — then one big-endian uint32 per dimension, then the values,
# big-endian, in C order.
IDX_DTYPES = {
    0x08: np.dtype(">u1"),  # unsigned byte (MNIST images and labels)
    0x09: np.dtype(">i1"),  # signed byte
    0x0B: np.dtype(">i2"),  # short
    0x0C: np.dtype(">i4"),  # int
    0x0D: np.dtype(">f4"),  # float
    0x0E: np.dtype(">f8"),  # double
}
GZIP_MAGIC = b"\x1f\x8b"
MNIST_FILES = {  # the names LeCun's site and torchvision use; each may also end in .gz
    "train_images": "train-images-idx3-ubyte",
    "train_labels": "train-labels-idx1-ubyte",
    "test_images": "t10k-images-idx3-ubyte",
    "test_labels": "t10k-labels-idx1-ubyte",
}
DATA_DIR_ENV = "COURSE_DATA_DIR"


# ============================================================================ points you give
def parse_points(text: str) -> torch.Tensor:
    """2-D points written one per line, ``x, y`` or ``x y`` (blank lines and ``#`` comments skipped), as (N, 2).

    The GAN lab trains on points pasted this way (a spreadsheet's two columns, or :func:`format_points`'s text).

    Raises
    ------
    ValueError
        Naming the first line that is not two numbers, or when there are fewer than 2 points.
    """
    rows = []
    for number, line in enumerate(text.splitlines(), start=1):
        line = line.split("#", 1)[0].strip()
        if not line:
            continue
        fields = line.replace(",", " ").replace(";", " ").split()
        try:
            if len(fields) != 2:
                raise ValueError
            x, y = (float(field) for field in fields)
        except ValueError:
            raise ValueError(f"line {number}: {line!r} is not two numbers (write x, y)") from None
        if not (math.isfinite(x) and math.isfinite(y)):
            raise ValueError(f"line {number}: {line!r} is not finite")
        rows.append((x, y))
    if len(rows) < 2:
        raise ValueError(f"give at least 2 points, one 'x, y' per line; got {len(rows)}")
    return torch.tensor(rows, dtype=torch.float32)


def format_points(points: torch.Tensor, decimals: int = 2) -> str:
    """``points`` (N, 2) as :func:`parse_points` reads them: ``x, y`` per line."""
    return "\n".join(f"{x:.{decimals}f}, {y:.{decimals}f}" for x, y in points.tolist())


def example_points() -> torch.Tensor:
    """A smiling face of 46 points: a circle of 30, two eyes of 3, a mouth of 10 (the lab's starting points)."""
    angles = torch.arange(30) * (2 * math.pi / 30)
    face = torch.stack([torch.cos(angles), torch.sin(angles)], dim=1)  # (30, 2)
    eyes = torch.tensor([[-0.35, 0.35], [-0.3, 0.4], [-0.4, 0.4], [0.35, 0.35], [0.3, 0.4], [0.4, 0.4]])
    smile = torch.linspace(math.pi * 1.2, math.pi * 1.8, 10)
    mouth = 0.55 * torch.stack([torch.cos(smile), torch.sin(smile)], dim=1)  # (10, 2)
    return torch.cat([face, eyes, mouth]).round(decimals=2)


def read_idx(path: str | os.PathLike) -> torch.Tensor:
    """Read one IDX file (plain or gzip-compressed, detected by content) into a tensor.

    Returns a tensor of the file's shape and type (uint8 for MNIST). Raises ``ValueError`` naming
    the file when the magic number, type code or length is wrong.
    """
    path = Path(path)
    raw = path.read_bytes()
    if raw[:2] == GZIP_MAGIC:
        try:
            raw = gzip.decompress(raw)
        except (OSError, EOFError) as err:
            raise ValueError(f"{path}: not a readable gzip file ({err})") from None
    if len(raw) < 4 or raw[0] != 0 or raw[1] != 0 or raw[2] not in IDX_DTYPES:
        raise ValueError(f"{path}: not an IDX file (magic number {raw[:4].hex() or 'missing'}; expected "
                         f"00 00, a type code in {sorted(hex(c) for c in IDX_DTYPES)}, a dimension count)")
    dtype, ndim = IDX_DTYPES[raw[2]], raw[3]
    header = 4 + 4 * ndim
    if len(raw) < header:
        raise ValueError(f"{path}: IDX header cut short ({len(raw)} bytes for {ndim} dimensions)")
    shape = struct.unpack(f">{ndim}I", raw[4:header])
    expected = math.prod(shape) * dtype.itemsize
    if len(raw) - header != expected:
        raise ValueError(f"{path}: IDX shape {shape} needs {expected} bytes of data; the file has {len(raw) - header}")
    values = np.frombuffer(raw, dtype=dtype, offset=header).reshape(shape)
    return torch.from_numpy(values.astype(dtype.newbyteorder("="), copy=True))  # native byte order for torch


def _find_mnist_file(folders: list[Path], stem: str) -> Path | None:
    for folder in folders:
        for name in (stem, stem + ".gz", stem.replace("-idx", ".idx"), stem.replace("-idx", ".idx") + ".gz"):
            if (folder / name).is_file():
                return folder / name
    return None


def _mnist_split(images_path: Path, labels_path: Path) -> tuple[torch.Tensor, torch.Tensor]:
    images, labels = read_idx(images_path), read_idx(labels_path)
    if images.dtype != torch.uint8 or images.ndim != 3:
        raise ValueError(f"{images_path}: expected uint8 images of shape (N, H, W); got {images.dtype} "
                         f"{tuple(images.shape)}")
    if labels.ndim != 1 or len(labels) != len(images):
        raise ValueError(f"{labels_path}: expected {len(images)} labels to match {images_path.name}; "
                         f"got shape {tuple(labels.shape)}")
    x = images.reshape(len(images), -1).to(torch.float32) / 255.0  # (N, H*W) in [0, 1]
    return x, labels.to(torch.int64)


def load_mnist(root: str | os.PathLike | None = None) -> MNIST:
    """Load MNIST from local IDX files (no download: the course runs offline).

    Looks in ``root``, else in ``$COURSE_DATA_DIR``, and in its ``MNIST/raw`` subfolder
    (torchvision's layout), for the four files of LeCun's site, plain or ``.gz``. Raises
    ``FileNotFoundError`` listing the files it wanted and where it looked.
    """
    if root is None:
        root = os.environ.get(DATA_DIR_ENV)
        if not root:
            raise FileNotFoundError(
                f"MNIST needs local IDX files and no folder was given: pass load_mnist(root=...) or set "
                f"{DATA_DIR_ENV} to a folder holding {', '.join(MNIST_FILES.values())} (each may end in .gz)")
    folder = Path(root).expanduser()
    folders = [folder, folder / "MNIST" / "raw"]
    found = {key: _find_mnist_file(folders, stem) for key, stem in MNIST_FILES.items()}
    missing = [MNIST_FILES[key] for key, path in found.items() if path is None]
    if missing:
        raise FileNotFoundError(
            f"MNIST IDX files missing from {folder} (and {folders[1]}): {', '.join(missing)} "
            f"(plain or .gz). Put them there, or point load_mnist(root=...) or {DATA_DIR_ENV} at the folder "
            "that holds them; the course cannot download them.")
    x_train, y_train = _mnist_split(found["train_images"], found["train_labels"])
    x_test, y_test = _mnist_split(found["test_images"], found["test_labels"])
    return ImageSplit(x_train=x_train, y_train=y_train, x_test=x_test, y_test=y_test, image_shape=(28, 28))
