"""Chapter 06's facts about weight sharing, each small enough to check exactly.

Sharing means one weight is *reused*: the same kernel at every position of a convolution, the same matrices at
every time step of a recurrent net, the same encoder in both branches of a siamese net, the encoder's matrix
transposed as the decoder of a tied autoencoder (``models.TiedAutoencoder``). It does not mean "every layer has
the same weights, trained once" (the document's 概念3): a shared weight is trained like any other, by gradient
descent, and its gradient is the **sum** of the gradients of all the places it is used.

- :func:`conv1d_matrix`: a 1-D convolution as a matrix, whose rows are shifted copies of one kernel (Toeplitz);
- :func:`parameter_counts`: a dense layer's weights grow with the input, a convolution's do not;
- :func:`shift`, :func:`equivariance_error`: shifting the input shifts a convolution's output (away from borders);
- :func:`shared_kernel_gradient`: the gradient of a shared kernel, position by position, and its sum.
"""

from __future__ import annotations

import torch

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
