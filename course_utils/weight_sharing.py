"""Chapter 06's facts about weight sharing, each small enough to check exactly.

Sharing means one weight is *reused*: the same kernel at every position of a convolution, the same matrices at
every time step of a recurrent net, the same encoder in both branches of a siamese net, the encoder's matrix
transposed as the decoder of a tied autoencoder (``models.TiedAutoencoder``). It does not mean "every layer has
the same weights, trained once" (the document's 概念3): a shared weight is trained like any other, by gradient
descent, and its gradient is the **sum** of the gradients of all the places it is used.

- :func:`conv1d_matrix`: a 1-D convolution as a matrix, whose rows are shifted copies of one kernel (Toeplitz);
- :func:`parameter_counts`: a dense layer's weights grow with the input, a convolution's do not;
- :func:`shift`, :func:`equivariance_error`: shifting the input shifts a convolution's output (away from borders);
- :func:`shared_kernel_gradient`: the gradient of a shared kernel, position by position, and its sum;
- on the 8×8 digits, three networks of about the same parameter count, one change at a time: :class:`DigitMLP`
  (no sharing), :class:`DigitFlatCNN` (shared kernels, a flatten head: sharing without pooling) and
  :class:`DigitCNN` (shared kernels, a global max over positions: sharing and pooling); :func:`shift_images` to
  test them on shifted digits and :func:`shift_study` to do it over seeds. Sharing makes the feature maps
  *equivariant* (they move with the digit); only the pooling head makes the prediction *invariant*;
- :func:`untied_autoencoder` to set beside ``models.TiedAutoencoder``, compared over seeds by
  :func:`autoencoder_study`.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from course_utils.data import Digits
from course_utils.models import TiedAutoencoder

Tensor = torch.Tensor


def _check_kernel(kernel: Tensor) -> Tensor:
    if not isinstance(kernel, Tensor) or kernel.ndim != 1 or len(kernel) == 0:
        raise ValueError(f"kernel must be a non-empty 1-D tensor; got {type(kernel).__name__} "
                         f"{tuple(getattr(kernel, 'shape', ()))}")
    return kernel


def conv1d_matrix(kernel: Tensor, length: int) -> Tensor:
    """The (length − k + 1, length) matrix W with W[i, i + j] = kernel[j], zero elsewhere, so that ``W @ x`` is
    ``torch.nn.functional.conv1d`` of a length-``length`` signal with ``kernel`` (no padding, stride 1; like
    PyTorch, a cross-correlation). Every row holds the same k numbers: the weights are shared."""
    kernel = _check_kernel(kernel)
    if not (isinstance(length, int) and length >= len(kernel)):
        raise ValueError(f"length must be an int >= the kernel's size {len(kernel)}; got {length!r}")
    rows = length - len(kernel) + 1
    matrix = torch.zeros(rows, length, dtype=kernel.dtype)
    for i in range(rows):  # row i sees the input x[i : i + k]
        matrix[i, i:i + len(kernel)] = kernel
    return matrix


def parameter_counts(input_size: int, kernel_size: int = 3) -> dict[str, int]:
    """Weights (and biases) of one layer mapping a length-``input_size`` signal to a signal of the same length:
    a dense layer (n² + n), a convolution with one kernel, padded to keep the length (k + 1)."""
    if not (isinstance(input_size, int) and input_size >= 1 and isinstance(kernel_size, int) and kernel_size >= 1):
        raise ValueError(f"input_size and kernel_size must be ints >= 1; got {input_size!r}, {kernel_size!r}")
    return {"dense": input_size * input_size + input_size, "convolution": kernel_size + 1}


def shift(x: Tensor, steps: int, dim: int = -1) -> Tensor:
    """``x`` moved ``steps`` places along ``dim`` (positive: towards higher indices), zeros shifted in."""
    out = torch.roll(x, steps, dims=dim)
    index = torch.arange(x.shape[dim], device=x.device)
    cut = index < steps if steps >= 0 else index >= x.shape[dim] + steps
    shape = [1] * x.ndim
    shape[dim] = -1
    return torch.where(cut.reshape(shape), torch.zeros((), dtype=x.dtype), out)


def equivariance_error(layer, x: Tensor, steps: int, margin: int) -> float:
    """max |layer(shift(x)) − shift(layer(x))| over the last axis, ``margin`` entries from each border ignored
    (where zeros enter): 0 for a convolution, large for a dense layer."""
    if margin < abs(steps):
        raise ValueError(f"margin must be at least |steps| = {abs(steps)} (the border the shift changes); got {margin}")
    with torch.no_grad():
        difference = layer(shift(x, steps)) - shift(layer(x), steps)
    return float(difference[..., margin:difference.shape[-1] - margin].abs().max())


def shared_kernel_gradient(kernel: Tensor, x: Tensor, upstream: Tensor) -> tuple[Tensor, Tensor]:
    """The gradient of Σ_i upstream[i] · (x ⋆ kernel)[i] with respect to the shared ``kernel``: per output
    position i it is x[i : i + k] · upstream[i] (rows of a (P, k) tensor), and autograd's gradient is their sum.
    Returns ``(per_position, autograd_gradient)``."""
    kernel = _check_kernel(kernel).detach().clone().requires_grad_(True)
    windows = x.unfold(0, len(kernel), 1)  # (P, k): the input each position sees
    if upstream.shape != (len(windows),):
        raise ValueError(f"upstream must have one value per output position, shape ({len(windows)},); got "
                         f"{tuple(upstream.shape)}")
    output = torch.nn.functional.conv1d(x[None, None], kernel[None, None])[0, 0]  # (P,)
    (gradient,) = torch.autograd.grad((upstream * output).sum(), kernel)
    return windows * upstream[:, None], gradient


# ============================================================================ on the digits
def shift_images(images: Tensor, dx: int, dy: int, image_shape: tuple[int, int] = (8, 8)) -> Tensor:
    """Flattened images (N, H·W) moved ``dx`` pixels right and ``dy`` down, zeros shifted in: (N, H·W)."""
    grid = images.reshape(-1, *image_shape)
    return shift(shift(grid, dx, dim=-1), dy, dim=-2).reshape(len(images), -1)


class DigitMLP(nn.Module):
    """An MLP on the 64 pixels: 64 → ``hidden`` (ReLU) → 10. Every weight belongs to one pixel and one unit."""

    def __init__(self, hidden: int = 64):
        super().__init__()
        self.hidden = nn.Sequential(nn.Linear(64, hidden), nn.ReLU())
        self.head = nn.Linear(hidden, 10)

    def forward(self, x: Tensor) -> Tensor:
        return self.head(self.hidden(x))


def _digit_features(channels: int) -> nn.Sequential:
    """Two 3×3 convolutions (16 and ``channels`` channels, a 2×2 max pool between): (B, 1, 8, 8) → (B, C, 4, 4)."""
    return nn.Sequential(nn.Conv2d(1, 16, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
                         nn.Conv2d(16, channels, 3, padding=1), nn.ReLU())


class DigitCNN(nn.Module):
    """A small CNN on the 8×8 image: two 3×3 convolutions (16 and 32 channels; a 2×2 max pool between), a
    global max over positions, then 10 logits. Each kernel is shared by every position of its input."""

    def __init__(self):
        super().__init__()
        self.features = _digit_features(32)
        self.head = nn.Linear(32, 10)

    def forward(self, x: Tensor) -> Tensor:
        maps = self.features(x.reshape(-1, 1, 8, 8))  # (B, 32, 4, 4)
        return self.head(maps.amax(dim=(2, 3)))  # where a feature occurs does not matter, only how strongly


class DigitFlatCNN(nn.Module):
    """:class:`DigitCNN`'s shared kernels without its global max: the (16, 4, 4) feature maps are flattened into one
    dense layer to 10 logits, so every logit has a weight per position. 16 channels in the second convolution
    (not 32) keep the parameter count at about :class:`DigitCNN`'s (5,050 against 5,130; the MLP has 4,810).
    Sharing without pooling: its maps move with the digit, its head sees them at new positions."""

    def __init__(self, channels: int = 16):
        super().__init__()
        self.features = _digit_features(channels)
        self.head = nn.Linear(channels * 16, 10)

    def forward(self, x: Tensor) -> Tensor:
        maps = self.features(x.reshape(-1, 1, 8, 8))  # (B, C, 4, 4)
        return self.head(maps.flatten(1))  # one weight per (channel, position): where a feature occurs matters


def count_parameters(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())


def train_model(model: nn.Module, x: Tensor, target: Tensor, loss: str, *, steps: int = 400, batch_size: int = 128,
                lr: float = 3e-3, seed: int = 0) -> nn.Module:
    """Adam on minibatches of (x, target): ``loss`` "cross_entropy" (target: labels) or "mse" (target: x's
    reconstruction). Returns the model in eval mode."""
    if loss not in ("cross_entropy", "mse"):
        raise ValueError(f"loss must be 'cross_entropy' or 'mse'; got {loss!r}")
    generator = torch.Generator().manual_seed(seed)
    optimizer = torch.optim.Adam(model.parameters(), lr=lr)
    objective = nn.functional.cross_entropy if loss == "cross_entropy" else nn.functional.mse_loss
    model.train()
    for _ in range(steps):
        batch = torch.randint(len(x), (batch_size,), generator=generator)
        value = objective(model(x[batch]), target[batch])
        optimizer.zero_grad(set_to_none=True)
        value.backward()
        optimizer.step()
    return model.eval()


@dataclass(frozen=True)
class DigitModels:
    """An MLP, a flatten-head CNN and a pooled CNN trained on the same digits (:func:`train_digit_models`)."""

    digits: Digits
    mlp: DigitMLP
    cnn: DigitCNN
    flat_cnn: DigitFlatCNN


DIGIT_MODELS = {"MLP": "mlp", "CNN, flatten head": "flat_cnn", "CNN, global max": "cnn"}  # row name → field


def train_digit_models(digits: Digits, *, steps: int = 400, seed: int = 0) -> DigitModels:
    """:class:`DigitMLP`, :class:`DigitCNN` and :class:`DigitFlatCNN` trained alike (Adam 3e-3, batch 128,
    ``steps`` steps, initial weights and batches from ``seed``) on the digits' training images."""
    models = {}
    for field, model_class in (("mlp", DigitMLP), ("cnn", DigitCNN), ("flat_cnn", DigitFlatCNN)):
        torch.manual_seed(seed)  # the initial weights
        models[field] = train_model(model_class(), digits.x_train, digits.y_train, "cross_entropy", steps=steps,
                                    seed=seed)
    return DigitModels(digits, **models)


@torch.no_grad()
def accuracy(model: nn.Module, x: Tensor, labels: Tensor) -> float:
    return float((model(x).argmax(dim=1) == labels).double().mean())


@dataclass(frozen=True)
class ShiftStudy:
    """:func:`shift_study`'s result: test accuracy of each network on digits moved right, one row per seed."""

    seeds: tuple[int, ...]
    shifts: tuple[int, ...]  # pixels to the right
    accuracy: dict[str, Tensor]  # row name (:data:`DIGIT_MODELS`) → (len(seeds), len(shifts)) float64
    parameters: dict[str, int]  # row name → parameter count
    models: tuple[DigitModels, ...]  # the trained networks, one DigitModels per seed

    def at(self, name: str, pixels: int) -> list[float]:
        """``name``'s accuracy at a shift of ``pixels``, one value per seed (for ``evidence.compare``)."""
        return self.accuracy[name][:, self.shifts.index(pixels)].tolist()


def shift_study(digits: Digits, *, seeds: tuple[int, ...] = (0, 1, 2), steps: int = 400,
                shifts: tuple[int, ...] = (0, 1, 2)) -> ShiftStudy:
    """The three networks of :func:`train_digit_models` per seed, each scored on the test digits moved right by
    each of ``shifts`` pixels (zeros shifted in). Same data, steps and seeds for all three: per-seed differences
    are paired."""
    if len(seeds) < 1 or len(set(seeds)) != len(seeds):
        raise ValueError(f"seeds must be distinct and at least one; got {seeds!r}")
    models = tuple(train_digit_models(digits, steps=steps, seed=seed) for seed in seeds)
    moved = [shift_images(digits.x_test, pixels, 0) for pixels in shifts]
    table = {name: torch.tensor([[accuracy(getattr(m, field), x, digits.y_test) for x in moved] for m in models],
                                dtype=torch.float64)
             for name, field in DIGIT_MODELS.items()}
    parameters = {name: count_parameters(getattr(models[0], field)) for name, field in DIGIT_MODELS.items()}
    return ShiftStudy(tuple(seeds), tuple(shifts), table, parameters, models)


def untied_autoencoder(in_dim: int = 64, hidden_dim: int = 8) -> nn.Module:
    """The untied twin of ``models.TiedAutoencoder(output="sigmoid")``: its own decoder matrix, so twice the
    weights per hidden unit."""
    return nn.Sequential(nn.Linear(in_dim, hidden_dim), nn.Sigmoid(), nn.Linear(hidden_dim, in_dim), nn.Sigmoid())


@torch.no_grad()
def reconstruction_error(model: nn.Module, x: Tensor) -> float:
    """Mean squared error of the model's reconstruction of ``x`` (per pixel)."""
    return float(nn.functional.mse_loss(model.eval()(x), x))


@dataclass(frozen=True)
class AutoencoderStudy:
    """Tied (``hidden`` units) and untied (``hidden // 2`` units) autoencoders, one per seed, and their errors."""

    seeds: tuple[int, ...]
    parameters: dict[str, int]  # "tied", "untied" → parameter count
    train_error: dict[str, list[float]]  # "tied", "untied" → per-pixel MSE on the training digits, one per seed
    test_error: dict[str, list[float]]  # likewise on the test digits


def autoencoder_study(digits: Digits, *, seeds: tuple[int, ...] = (0, 1, 2), steps: int = 800,
                      hidden: int = 16) -> AutoencoderStudy:
    """``models.TiedAutoencoder(64, hidden, output="sigmoid")`` against :func:`untied_autoencoder` with half the
    hidden units (about the same parameter count), trained alike (Adam 3e-3, batch 128, ``steps`` steps, the
    same seed for both) on the training digits; reconstruction error on the training and test digits."""
    if hidden < 2 or hidden % 2:
        raise ValueError(f"hidden must be an even int >= 2 (the untied model gets half); got {hidden!r}")
    train_error: dict[str, list[float]] = {"tied": [], "untied": []}
    test_error: dict[str, list[float]] = {"tied": [], "untied": []}
    parameters: dict[str, int] = {}
    for seed in seeds:
        for name, make in (("tied", lambda: TiedAutoencoder(64, hidden, output="sigmoid")),
                           ("untied", lambda: untied_autoencoder(64, hidden // 2))):
            torch.manual_seed(seed)  # the initial weights
            model = train_model(make(), digits.x_train, digits.x_train, "mse", steps=steps, seed=seed)
            parameters[name] = count_parameters(model)
            train_error[name].append(reconstruction_error(model, digits.x_train))
            test_error[name].append(reconstruction_error(model, digits.x_test))
    return AutoencoderStudy(tuple(seeds), parameters, train_error, test_error)
