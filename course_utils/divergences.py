"""How far apart are two distributions? Entropy, KL, Jensen-Shannon and Wasserstein-1.

Every function takes numpy arrays, lists or ``torch.Tensor`` alike:

* numpy arrays and lists give numpy results: a numpy float (``np.float64``) for one distribution,
  an array for a batch;
* a tensor gives a tensor, differentiable, on the tensor's device. Inputs may be mixed
  (``gaussian_kl(mu, sigma, 0.0, 1.0)`` with tensors ``mu`` and ``sigma``): if any input is a
  tensor, the others are converted to its dtype and device. Tensors that need a gradient, or
  live on a GPU, are computed with torch; CPU tensors that need none go through the numpy code
  on a zero-copy view (it is about twice as fast), and the result comes back as a tensor.

Information quantities are in nats (natural log) unless ``base`` says otherwise (``base=2``: bits).

Discrete distributions are probability vectors on the **last axis**: shape (..., K) gives a result
of shape (...), and the batch axes of ``p`` and ``q`` broadcast (a (K,) ``p`` against a (B, K)
``q`` gives (B,)). They are checked, not silently normalised: entries must be finite and >= 0 and
sum to 1 along the last axis within a tolerance set by the dtype (1e-6 in float64, 1e-5 in float32,
2e-2 in 16-bit floats). The conventions of Cover & Thomas (2006, §2.3) hold exactly:
``0·log 0 = 0``, ``0·log(0/q) = 0`` and ``p·log(p/0) = +∞``, so ``KL(p‖q)`` is ``+inf`` (not nan, not
an error) where q has no mass and p has some. With tensors, gradients are finite (never nan)
wherever the value is: the derivative of ``x·log x`` at ``x = 0`` (−∞, one-sided) is taken as 0,
and so is the gradient of a term with ``p_k = q_k = 0``; every other gradient is exact.

References
----------
Cover & Thomas, *Elements of Information Theory*, 2nd ed. (2006), ch. 2.
Lin, "Divergence measures based on the Shannon entropy", IEEE Trans. Inf. Theory 37(1) (1991).
Hershey & Olsen, "Approximating the Kullback Leibler divergence between Gaussian mixture models",
ICASSP (2007).
Ramdas, García Trillos & Cuturi, "On Wasserstein two-sample testing and related families of
nonparametric tests", *Entropy* 19(2) (2017).
Peyré & Cuturi, *Computational Optimal Transport* (2019), ch. 2.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator
from contextlib import contextmanager

import numpy as np
import torch
from scipy.optimize import linear_sum_assignment
from scipy.spatial.distance import cdist
from torch import distributions as D

__all__ = [
    "cross_entropy",
    "entropy",
    "gaussian_kl",
    "js_divergence",
    "kl_divergence",
    "kl_monte_carlo",
    "wasserstein_1d",
    "transport_plan",
    "wasserstein_samples",
]

Tensor = torch.Tensor
Result = Tensor | np.ndarray | np.floating  # a tensor for tensor input, numpy otherwise


# --------------------------------------------------------------------------- input handling
def _type_error(name: str, value) -> TypeError:
    return TypeError(f"{name} must be a numpy array, a list of numbers or a torch.Tensor; "
                     f"got {type(value).__name__}")


def _as_numpy(name: str, value) -> np.ndarray:
    """``value`` as a real numeric numpy array (no copy for an array), or TypeError."""
    if value is None or isinstance(value, (bool, str, bytes, dict, set)) or isinstance(value, D.Distribution):
        raise _type_error(name, value)
    try:
        array = np.asarray(value)
    except ValueError:  # numpy >= 1.24 refuses ragged nested lists
        raise ValueError(f"{name} must be a rectangular array; got a ragged nested sequence "
                         "(all rows need the same length)") from None
    if array.dtype.kind not in "fiu":  # bool, complex, strings, objects, dates
        raise TypeError(f"{name} must hold real numbers; got an array of dtype {array.dtype}")
    return array


def _as_arrays(*named: tuple[str, object]) -> tuple[bool, list, Callable]:
    """Convert ``(name, value)`` pairs to one kind of floating array.

    Returns ``(is_torch, arrays, back)``. If any value is a tensor, all become tensors on its
    device, in the promoted floating dtype of the tensors (the default dtype if none is
    floating); otherwise numpy arrays (float64 unless every floating input is float32 or
    narrower). ``back`` turns the computed result into what the caller gets.

    Tensors that need no gradient and sit on the CPU in float32 or float64 are handed over as
    zero-copy numpy views (``is_torch`` False, ``back`` makes a tensor again): numpy's vectorised
    log and sort are about twice as fast as torch's on one CPU thread and allocate fewer
    temporaries. A tensor that needs a gradient, or lives on a GPU, is computed by torch.
    """
    tensors = [(n, v) for n, v in named if isinstance(v, Tensor)]
    for name, tensor in tensors:
        if tensor.dtype == torch.bool or tensor.is_complex():
            raise TypeError(f"{name} must hold real numbers; got a tensor of dtype {tensor.dtype}")
    if tensors:
        devices = {t.device for _, t in tensors}
        if len(devices) > 1:
            listing = ", ".join(f"{n} on {t.device}" for n, t in tensors)
            raise ValueError(f"all tensors must be on one device; got {listing} (move them with .to(device))")
        device = devices.pop()
        floating = [t.dtype for _, t in tensors if t.is_floating_point()]
        dtype = torch.get_default_dtype()
        if floating:
            dtype = floating[0]
            for other in floating[1:]:
                dtype = torch.promote_types(dtype, other)
        arrays = [v.to(dtype) if isinstance(v, Tensor) else torch.as_tensor(_as_numpy(n, v), dtype=dtype, device=device)
                  for n, v in named]
        needs_grad = torch.is_grad_enabled() and any(t.requires_grad for t in arrays)
        if device.type == "cpu" and dtype in (torch.float32, torch.float64) and not needs_grad:
            return False, [t.detach().resolve_neg().numpy() for t in arrays], _tensor_from_numpy
        return True, arrays, _unchanged
    arrays = [_as_numpy(n, v) for n, v in named]
    floating = [a.dtype for a in arrays if a.dtype.kind == "f"]
    dtype = np.result_type(*floating, np.float32) if floating else np.dtype(np.float64)
    return False, [a.astype(dtype, copy=False) for a in arrays], _unchanged


def _unchanged(result):
    return result


def _tensor_from_numpy(result) -> Tensor:
    return torch.from_numpy(np.asarray(result))  # a numpy float becomes a 0-d tensor of its dtype


def _log_base(base) -> float | None:
    """``log(base)``, the divisor that converts nats to ``base`` units; None for nats."""
    if base is None:
        return None
    if isinstance(base, bool) or not isinstance(base, (int, float, np.integer, np.floating)):
        raise TypeError(f"base must be a number (2 for bits, math.e for nats) or None; got {type(base).__name__}")
    if not (math.isfinite(base) and base > 0 and base != 1):
        raise ValueError(f"base must be a positive finite number other than 1 (2 for bits, math.e for nats); "
                         f"got {base}")
    return math.log(base)


def _in_base(value, log_base: float | None):
    return value if log_base is None else value / log_base


def _at(name: str, index: tuple[int, ...]) -> str:
    """``p[1, 3]`` for an index into ``p``; plain ``p`` for the empty index of a scalar."""
    return f"{name}[{', '.join(map(str, index))}]" if index else name


def _first(is_torch: bool, mask) -> tuple[int, ...]:
    """The index of the first True entry of a boolean array (one that has one)."""
    where = mask.nonzero()[0] if is_torch else np.argwhere(mask)[0]
    return tuple(int(i) for i in where)


def _sum_tolerance(is_torch: bool, dtype) -> float:
    """How far from 1 a probability vector's sum may be: a few rounding errors of its dtype."""
    eps = torch.finfo(dtype).eps if is_torch else float(np.finfo(dtype).eps)
    return 1e-6 if eps < 1e-10 else 1e-5 if eps < 1e-6 else 2e-2


def _check_nonempty(name: str, array) -> None:
    if array.ndim == 0:
        raise ValueError(f"{name} must have at least one axis (probabilities on the last axis); got a scalar")
    if math.prod(array.shape) == 0:
        raise ValueError(f"{name} must not be empty; got shape {tuple(array.shape)}")


def _check_distribution(is_torch: bool, name: str, p) -> None:
    """Raise ValueError unless ``p`` (shape (..., K)) holds finite, non-negative entries summing to 1.

    The common case costs two reductions (a min and the sums along the last axis) and one host
    sync; only a failing input is searched for the entry to name in the message.
    """
    values = p.detach() if is_torch else p
    low = values.min()  # nan if any entry is nan
    sums = values.sum(-1)  # (...); nan or inf if any entry in that row is
    worst = abs(sums - 1).max()
    if is_torch:
        low, worst = torch.stack([low, worst]).tolist()  # one device-to-host copy
    tol = _sum_tolerance(is_torch, values.dtype)
    if low >= 0 and worst <= tol:  # written so that nan fails it
        return
    isnan, isinf = (torch.isnan, torch.isinf) if is_torch else (np.isnan, np.isinf)
    if isnan(values).any():
        raise ValueError(f"{name} contains nan at {_at(name, _first(is_torch, isnan(values)))}")
    if isinf(values).any():
        index = _first(is_torch, isinf(values))
        raise ValueError(f"{name} must be finite; {_at(name, index)} = {float(values[index])}")
    if low < 0:
        index = _first(is_torch, values < 0)
        raise ValueError(f"{name} must be non-negative; {_at(name, index)} = {float(values[index]):.6g} "
                         "(probabilities cannot be negative: make them with softmax, or clip and renormalise)")
    index = _first(is_torch, abs(sums - 1) > tol)
    total = float(sums[index])
    digits = max(6, 2 + math.ceil(-math.log10(abs(total - 1))))  # enough to show how far from 1 (1.000005)
    where = f"{_at(name, index)} sums" if index else f"{name} sums"
    raise ValueError(f"{name} must sum to 1 along the last axis; {where} to {total:.{digits}g} "
                     f"(normalise it: {name} / {name}.sum(-1, keepdims=True))")


def _check_pair(is_torch: bool, p, q) -> None:
    """Shapes (..., K) with the same K and batch shapes that broadcast, both valid distributions."""
    _check_nonempty("p", p)
    _check_nonempty("q", q)
    if p.shape[-1] != q.shape[-1]:
        raise ValueError(f"p and q must have the same number of outcomes K on the last axis; got shapes "
                         f"{tuple(p.shape)} and {tuple(q.shape)}")
    try:
        np.broadcast_shapes(tuple(p.shape), tuple(q.shape))
    except ValueError:
        raise ValueError(f"p and q must have the same shape, or batch shapes that broadcast; got shapes "
                         f"{tuple(p.shape)} and {tuple(q.shape)}") from None
    _check_distribution(is_torch, "p", p)
    _check_distribution(is_torch, "q", q)


def _log_where(xp, x, keep):
    """``log x`` where ``keep``, 0 elsewhere, as ``log(where(keep, x, 1))``.

    Substituting 1 *before* the log keeps both the value and the gradient finite at the entries
    left out (the classic ``where`` trap: masking *after* a log of 0 still back-propagates nan).
    """
    return xp.log(xp.where(keep, x, 1.0))  # a float 1.0: an int would cost torch a type promotion


def _nonnegative(is_torch: bool, value):
    """Clip rounding noise below 0 (e.g. −1e-17 for a KL that is exactly 0), and −0.0 to 0.0."""
    return value.clamp_min(0.0) + 0.0 if is_torch else np.maximum(value, 0.0)


# --------------------------------------------------------------------------- discrete distributions
def entropy(p, *, base: float | None = None) -> Result:
    """Shannon entropy H(p) = −Σ_k p_k log p_k of discrete distributions on the last axis.

    Parameters
    ----------
    p : array_like or Tensor, shape (..., K)
        Probabilities on the last axis: finite, non-negative, summing to 1.
    base : float, optional
        Logarithm base: None (default) for nats, 2 for bits.

    Returns
    -------
    Tensor, numpy float or ndarray, shape (...)
        H(p) >= 0, with ``0·log 0 = 0``; between 0 (a point mass) and log K (uniform).

    References
    ----------
    Cover & Thomas (2006), eq. (2.1). Matches ``scipy.stats.entropy(p, base=base, axis=-1)``
    (which normalises p instead of checking it).
    """
    is_torch, (p,), back = _as_arrays(("p", p))
    log_base = _log_base(base)
    _check_nonempty("p", p)
    _check_distribution(is_torch, "p", p)
    xp = torch if is_torch else np
    # H(p) = −Σ_k p_k log p_k,  0·log 0 = 0   (Shannon 1948; Cover & Thomas 2006, eq. 2.1)
    h = -(p * _log_where(xp, p, p > 0)).sum(-1)  # (...)
    return back(_in_base(_nonnegative(is_torch, h), log_base))


def cross_entropy(p, q, *, base: float | None = None) -> Result:
    """Cross-entropy H(p, q) = −Σ_k p_k log q_k = H(p) + KL(p‖q), on the last axis.

    Parameters
    ----------
    p, q : array_like or Tensor, shape (..., K)
        Probabilities on the last axis (finite, non-negative, summing to 1); batch axes broadcast.
    base : float, optional
        Logarithm base: None (default) for nats, 2 for bits.

    Returns
    -------
    Tensor, numpy float or ndarray, shape broadcast(p, q)[:-1]
        H(p, q) >= H(p); ``+inf`` where some q_k = 0 has p_k > 0.

    References
    ----------
    From the definitions of H(p) (Cover & Thomas 2006, eq. 2.1) and KL(p‖q) (eq. 2.26):
    −Σ p log q = −Σ p log p + Σ p log(p/q). It is the loss a classifier minimises (the mean
    negative log-likelihood of labels drawn from p). Matches ``-scipy.special.xlogy(p, q).sum(-1)``.
    """
    is_torch, (p, q), back = _as_arrays(("p", p), ("q", q))
    log_base = _log_base(base)
    _check_pair(is_torch, p, q)
    xp = torch if is_torch else np
    with np.errstate(divide="ignore"):  # log 0 = −inf where q = 0 < p: the answer is +inf
        # H(p, q) = −Σ_k p_k log q_k,  0·log q = 0   (Cover & Thomas 2006, eqs. 2.1 and 2.26)
        h = -(p * _log_where(xp, q, (p > 0) | (q > 0))).sum(-1)  # (...)
    return back(_in_base(_nonnegative(is_torch, h), log_base))


def kl_divergence(p, q, *, base: float | None = None) -> Result:
    """Kullback-Leibler divergence KL(p‖q) = Σ_k p_k log(p_k / q_k), on the last axis.

    Parameters
    ----------
    p, q : array_like or Tensor, shape (..., K)
        Probabilities on the last axis (finite, non-negative, summing to 1); batch axes broadcast.
    base : float, optional
        Logarithm base: None (default) for nats, 2 for bits.

    Returns
    -------
    Tensor, numpy float or ndarray, shape broadcast(p, q)[:-1]
        KL(p‖q) >= 0, 0 iff p = q; ``+inf`` (not nan) where some q_k = 0 has p_k > 0. Not symmetric.

    Notes
    -----
    Each term is computed as ``p_k (log p_k − log q_k)`` rather than ``p_k log(p_k / q_k)``: the ratio
    overflows to inf when q_k is subnormal (a float32 softmax gives 1e-39 easily), the two logs do not.
    With tensors, the gradient is finite wherever the value is, including entries with p_k = 0.

    References
    ----------
    Cover & Thomas (2006), eq. (2.26) and the conventions after it. Matches
    ``scipy.stats.entropy(p, q, base=base, axis=-1)`` and ``scipy.special.rel_entr(p, q).sum(-1)``.
    """
    is_torch, (p, q), back = _as_arrays(("p", p), ("q", q))
    log_base = _log_base(base)
    _check_pair(is_torch, p, q)
    xp = torch if is_torch else np
    support = p > 0  # where p has mass; elsewhere the term is 0 whatever q is
    either = support | (q > 0)  # log q is needed (and exact) unless p = q = 0 there
    with np.errstate(divide="ignore"):  # log 0 = −inf where q = 0 < p: the answer is +inf
        # KL(p‖q) = Σ_k p_k (log p_k − log q_k),  0·log(0/q) = 0, p·log(p/0) = +∞   (Cover & Thomas 2006, eq. 2.26)
        kl = (p * (_log_where(xp, p, support) - _log_where(xp, q, either))).sum(-1)  # (...)
    return back(_in_base(_nonnegative(is_torch, kl), log_base))


def js_divergence(p, q, *, base: float | None = None) -> Result:
    """Jensen-Shannon divergence JS(p, q) = ½ KL(p‖m) + ½ KL(q‖m), m = (p + q)/2, on the last axis.

    Parameters
    ----------
    p, q : array_like or Tensor, shape (..., K)
        Probabilities on the last axis (finite, non-negative, summing to 1); batch axes broadcast.
    base : float, optional
        Logarithm base: None (default) for nats, 2 for bits.

    Returns
    -------
    Tensor, numpy float or ndarray, shape broadcast(p, q)[:-1]
        Symmetric and always finite: 0 <= JS <= log 2 (1 bit with ``base=2``), log 2 exactly when
        p and q have disjoint supports. The result is clipped to that interval against rounding.

    Notes
    -----
    ``scipy.spatial.distance.jensenshannon`` returns the *square root* of this quantity (a metric);
    ``js_divergence(p, q) == jensenshannon(p, q) ** 2``. The GAN minimax value at the optimal
    discriminator is ``2·JS(p_data, p_g) − log 4`` (Goodfellow et al. 2014, Theorem 1).

    References
    ----------
    Lin (1991): the definition, and the bound JS ≤ 1 bit (= log 2 nats).
    """
    is_torch, (p, q), back = _as_arrays(("p", p), ("q", q))
    log_base = _log_base(base)
    _check_pair(is_torch, p, q)
    xp = torch if is_torch else np
    m = (p + q) * 0.5  # (..., K); > 0 wherever p > 0 or q > 0, so every log below is finite
    log_m = _log_where(xp, m, m > 0)
    # JS = ½ Σ_k p_k (log p_k − log m_k) + ½ Σ_k q_k (log q_k − log m_k)   (Lin 1991)
    js = 0.5 * ((p * (_log_where(xp, p, p > 0) - log_m)).sum(-1)
                + (q * (_log_where(xp, q, q > 0) - log_m)).sum(-1))  # (...)
    js = js.clamp(0.0, math.log(2)) + 0.0 if is_torch else np.clip(js, 0.0, math.log(2))
    return back(_in_base(js, log_base))


# --------------------------------------------------------------------------- Gaussians
def gaussian_kl(mu0, sigma0, mu1, sigma1, *, diagonal: bool = False, base: float | None = None) -> Result:
    """Closed-form KL(N(μ0, σ0²) ‖ N(μ1, σ1²)), elementwise or for diagonal Gaussians.

    Parameters
    ----------
    mu0, sigma0 : array_like, Tensor or float
        Mean and standard deviation (> 0, not the variance) of the first Gaussian.
    mu1, sigma1 : array_like, Tensor or float
        Mean and standard deviation (> 0) of the second Gaussian. All four broadcast together.
    diagonal : bool, default False
        False: every entry is its own univariate Gaussian, and the result has the broadcast shape
        (like ``torch.distributions.kl_divergence(Normal, Normal)``).
        True: the last axis holds the D coordinates of one Gaussian with diagonal covariance
        diag(σ²); the D univariate KLs are summed and the result has shape broadcast[:-1]
        (like ``kl_divergence(Independent(Normal, 1), Independent(Normal, 1))``). This is the
        VAE's KL term: ``gaussian_kl(mu, sigma, 0.0, 1.0, diagonal=True)``, shape (B, D) -> (B,).
    base : float, optional
        Logarithm base: None (default) for nats, 2 for bits.

    Returns
    -------
    Tensor, numpy float or ndarray
        KL >= 0, 0 iff the two Gaussians are equal.

    Notes
    -----
    The sum over the last axis is never implicit: a vector of univariate pairs and one diagonal
    Gaussian have the same shape, so ``diagonal`` says which is meant.

    References
    ----------
    Soch et al., *The Book of Statistical Proofs*, "Kullback-Leibler divergence for the normal
    distribution" (P/norm-kl); Kingma & Welling (2014), App. B, for σ1 = 1, μ1 = 0.
    """
    if not isinstance(diagonal, bool):
        raise TypeError(f"diagonal must be True or False; got {type(diagonal).__name__}")
    names = ("mu0", "sigma0", "mu1", "sigma1")
    is_torch, arrays, back = _as_arrays(*zip(names, (mu0, sigma0, mu1, sigma1), strict=True))
    log_base = _log_base(base)
    try:
        shape = np.broadcast_shapes(*(tuple(a.shape) for a in arrays))
    except ValueError:
        listing = ", ".join(str(tuple(a.shape)) for a in arrays)
        raise ValueError(f"mu0, sigma0, mu1 and sigma1 must broadcast to one shape; got shapes {listing}") from None
    if math.prod(shape) == 0:
        raise ValueError(f"the inputs must not be empty; they broadcast to shape {shape}")
    if diagonal and len(shape) == 0:
        raise ValueError("diagonal=True sums over the last axis (the coordinates), so the inputs need at least "
                         "one axis; got scalars (use diagonal=False)")
    for name, array in zip(names, arrays, strict=True):
        _check_gaussian_parameter(is_torch, name, array, positive=name.startswith("sigma"))
    m0, s0, m1, s1 = arrays
    xp = torch if is_torch else np
    var_ratio = (s0 / s1) ** 2
    # KL(N(μ0, σ0²) ‖ N(μ1, σ1²)) = ½ [σ0²/σ1² + (μ0 − μ1)²/σ1² − 1 − log(σ0²/σ1²)]   (Soch et al., P/norm-kl)
    kl = 0.5 * (var_ratio + ((m0 - m1) / s1) ** 2 - 1 - xp.log(var_ratio))  # broadcast shape
    if diagonal:
        kl = kl.sum(-1)  # independent coordinates: KLs add   (Cover & Thomas 2006, Thm 2.5.3)
    return back(_in_base(_nonnegative(is_torch, kl), log_base))


def _check_gaussian_parameter(is_torch: bool, name: str, array, *, positive: bool) -> None:
    values = array.detach() if is_torch else array
    finite = torch.isfinite(values) if is_torch else np.isfinite(values)
    if not finite.all():
        index = _first(is_torch, ~finite)
        raise ValueError(f"{name} must be finite; {_at(name, index)} = {float(values[index])}")
    if positive and not (values > 0).all():
        index = _first(is_torch, ~(values > 0))
        raise ValueError(f"{name} must be > 0 (a standard deviation); {_at(name, index)} = "
                         f"{float(values[index]):.6g} (from a log-variance: sigma = exp(0.5 * logvar))")


@contextmanager
def _seeded_from(generator: torch.Generator | None) -> Iterator[None]:
    """Run the block on torch's global RNG seeded from ``generator``, then restore the global RNG.

    ``Distribution.sample`` takes no generator, so one 63-bit seed is drawn from ``generator``
    (advancing it: two calls with one generator give two independent estimates, the same two
    every time from the same seed) and the block runs inside ``torch.random.fork_rng``, which
    saves and restores the CPU RNG and every CUDA RNG in use. Without a generator the block uses
    the global RNG as it is (seed it with ``torch.manual_seed``).
    """
    if generator is None:
        yield
        return
    seed = int(torch.randint(0, 2**63 - 1, (), generator=generator, device=generator.device))
    devices = list(range(torch.cuda.device_count())) if torch.cuda.is_initialized() else []
    with torch.random.fork_rng(devices=devices):
        torch.manual_seed(seed)  # seeds the CPU generator and every CUDA device's
        yield


def kl_monte_carlo(p: D.Distribution, q: D.Distribution, n: int, generator: torch.Generator | None = None, *,
                   base: float | None = None) -> tuple[float, float]:
    """Monte-Carlo estimate of KL(p‖q) = E_{x~p}[log p(x) − log q(x)] and its standard error.

    Parameters
    ----------
    p, q : torch.distributions.Distribution
        Two distributions over the same space, ``batch_shape == ()`` (one KL; wrap a factorised
        Gaussian as ``Independent(Normal(mu, sigma), 1)``). p must be able to ``sample``, both to
        ``log_prob``.
    n : int
        Number of samples drawn from p (>= 2, for the standard error).
    generator : torch.Generator, optional
        Makes the estimate reproducible: the same generator state gives the same result, and
        torch's global RNG is left as it was (see Notes). None: use the global RNG.
    base : float, optional
        Logarithm base: None (default) for nats, 2 for bits.

    Returns
    -------
    (estimate, standard_error) : tuple of float
        The sample mean of the log-ratio over x_1..x_n ~ p, and its sample standard deviation
        over √n (the estimate is unbiased; about 95% of seeds land within 2 standard errors of
        the true KL). ``(inf, 0.0)`` when some sample falls where q has no density: that alone
        shows KL = ∞.

    Notes
    -----
    Reproducibility: ``Distribution.sample`` has no generator argument, so a seed is drawn from
    ``generator`` and the samples are drawn inside ``torch.random.fork_rng`` seeded with it.

    References
    ----------
    Hershey & Olsen (2007), the Monte-Carlo estimate, for KL between mixtures where no closed
    form exists.
    """
    for name, dist in (("p", p), ("q", q)):
        if not isinstance(dist, D.Distribution):
            raise TypeError(f"{name} must be a torch.distributions.Distribution; got {type(dist).__name__}")
        if dist.batch_shape != torch.Size():
            raise ValueError(f"{name} must describe one distribution (batch_shape ()); got batch_shape "
                             f"{tuple(dist.batch_shape)} (wrap it: Independent({name}, {len(dist.batch_shape)}))")
    if p.event_shape != q.event_shape:
        raise ValueError(f"p and q must live on the same space; got event shapes {tuple(p.event_shape)} and "
                         f"{tuple(q.event_shape)}")
    if type(n) is not int:
        raise TypeError(f"n must be an int; got {type(n).__name__}")
    if n < 2:
        raise ValueError(f"n must be at least 2 (the standard error needs two samples); got {n}")
    if generator is not None and not isinstance(generator, torch.Generator):
        raise TypeError(f"generator must be a torch.Generator or None; got {type(generator).__name__}")
    log_base = _log_base(base)
    with torch.no_grad():
        with _seeded_from(generator):
            x = p.sample((n,))  # (n, *event_shape)
        try:
            outside = not bool(q.support.check(x).all())
        except NotImplementedError:  # a support torch cannot check: rely on log_prob
            outside = False
        if outside:
            return math.inf, 0.0
        # KL(p‖q) ≈ (1/n) Σ_i [log p(x_i) − log q(x_i)],  x_i ~ p   (Hershey & Olsen 2007)
        log_ratio = (p.log_prob(x) - q.log_prob(x)).double()  # (n,)
    if bool(torch.isposinf(log_ratio).any()):  # q(x_i) = 0 (a q built without support checks)
        return math.inf, 0.0
    estimate = float(log_ratio.mean())
    standard_error = float(log_ratio.std(correction=1)) / math.sqrt(n)
    if log_base is not None:
        estimate, standard_error = estimate / log_base, standard_error / log_base
    return estimate, standard_error


# --------------------------------------------------------------------------- Wasserstein
def _check_samples(is_torch: bool, name: str, values) -> None:
    if values.ndim != 1 or values.shape[0] == 0:
        raise ValueError(f"{name} must be a non-empty 1-D array of samples; got shape {tuple(values.shape)}")
    _check_finite(is_torch, name, values)


def _check_finite(is_torch: bool, name: str, values) -> None:
    plain = values.detach() if is_torch else values
    finite = torch.isfinite(plain) if is_torch else np.isfinite(plain)
    if not finite.all():
        index = _first(is_torch, ~finite)
        raise ValueError(f"{name} must be finite; {_at(name, index)} = {float(plain[index])}")


def _check_weights(is_torch: bool, name: str, weights, values_name: str, values) -> None:
    if tuple(weights.shape) != tuple(values.shape):
        raise ValueError(f"{name} must have one weight per sample of {values_name}: shape {tuple(values.shape)}; "
                         f"got {tuple(weights.shape)}")
    _check_finite(is_torch, name, weights)
    plain = weights.detach() if is_torch else weights
    if (plain < 0).any():
        index = _first(is_torch, plain < 0)
        raise ValueError(f"{name} must be non-negative; {_at(name, index)} = {float(plain[index]):.6g}")
    if not plain.sum() > 0:
        raise ValueError(f"{name} must have a positive sum (they are normalised to sum to 1); they are all 0")


def wasserstein_1d(x, y, x_weights=None, y_weights=None) -> Result:
    """Exact Wasserstein-1 distance between two 1-D empirical (optionally weighted) distributions.

    Parameters
    ----------
    x : array_like or Tensor, shape (n,)
        Samples of the first distribution.
    y : array_like or Tensor, shape (m,)
        Samples of the second; m may differ from n.
    x_weights, y_weights : array_like or Tensor, optional, shapes (n,) and (m,)
        Non-negative masses of the samples, normalised to sum to 1 (default: 1/n each).

    Returns
    -------
    Tensor or numpy float
        W1 = ∫ |F_x(t) − F_y(t)| dt, the area between the two empirical CDFs; in the units of x.
        For tensors, differentiable with respect to the samples and the weights.

    Notes
    -----
    Equal sizes without weights: the optimal transport plan matches the sorted samples (the
    quantiles), W1 = (1/n) Σ_i |x_(i) − y_(i)| (Peyré & Cuturi 2019, §2.6), two sorts.
    Otherwise one sort of all n + m points: between consecutive points the CDF difference is a
    running sum of +w_x and −w_y, exact in integers when unweighted. Same value as
    ``scipy.stats.wasserstein_distance(x, y, x_weights, y_weights)``.

    References
    ----------
    Ramdas, García Trillos & Cuturi (2017) (W1 as the L1 distance between CDFs); Peyré & Cuturi
    (2019), §2.6 (the 1-D case).
    """
    weights = [("x_weights", x_weights), ("y_weights", y_weights)]
    named = [("x", x), ("y", y)] + [(n, w) for n, w in weights if w is not None]
    is_torch, arrays, back = _as_arrays(*named)
    given = dict(zip((n for n, _ in named), arrays, strict=True))
    x, y = given["x"], given["y"]
    _check_samples(is_torch, "x", x)
    _check_samples(is_torch, "y", y)
    for name, values_name in (("x_weights", "x"), ("y_weights", "y")):
        if name in given:
            _check_weights(is_torch, name, given[name], values_name, given[values_name])
    xw, yw = given.get("x_weights"), given.get("y_weights")
    xp = torch if is_torch else np
    n, m = x.shape[0], y.shape[0]
    if xw is None and yw is None and n == m:
        # W1 = (1/n) Σ_i |x_(i) − y_(i)|: in 1-D the optimal plan matches quantiles   (Peyré & Cuturi 2019, §2.6)
        return back(xp.abs(_sorted(is_torch, x) - _sorted(is_torch, y)).mean())
    values = torch.cat([x, y]) if is_torch else np.concatenate([x, y])  # (n + m,)
    if is_torch:
        values, order = torch.sort(values)
    else:
        order = np.argsort(values)
        values = values[order]
    if xw is None and yw is None:
        # F_x − F_y after each point, times n·m: +m per x, −n per y, summed exactly in int64
        steps = xp.where(order < n, m, -n)  # int64
        counts = xp.cumsum(steps[:-1], 0)  # (n + m − 1,), exact
        cdf_gap = (counts.double() / (n * m)).to(x.dtype) if is_torch else (counts / (n * m)).astype(x.dtype)
    else:
        xw = xp.ones_like(x) / n if xw is None else xw / xw.sum()
        yw = xp.ones_like(y) / m if yw is None else yw / yw.sum()
        steps = (torch.cat([xw, -yw]) if is_torch else np.concatenate([xw, -yw]))[order]
        cdf_gap = xp.cumsum(steps[:-1], 0)  # (n + m − 1,)
    # W1 = ∫ |F_x(t) − F_y(t)| dt = Σ_j |F_x − F_y|(t_j) · (t_{j+1} − t_j)   (Ramdas et al. 2017)
    return back((xp.abs(cdf_gap) * (values[1:] - values[:-1])).sum())


def _sorted(is_torch: bool, values):
    return torch.sort(values).values if is_torch else np.sort(values)


def wasserstein_samples(x, y) -> Result:
    """Exact Wasserstein-1 distance between two equal-size point clouds, in any dimension.

    Parameters
    ----------
    x, y : array_like or Tensor, shape (n, d) or (n,)
        n points each (the same n), in d dimensions (1-D arrays are n points on a line).

    Returns
    -------
    Tensor or numpy float
        min over one-to-one matchings σ of (1/n) Σ_i ‖x_i − y_σ(i)‖₂: the mean Euclidean length of
        the optimal matching. For tensors, differentiable with respect to the points (the
        matching is held fixed, which gives the gradient of the minimum almost everywhere).

    Notes
    -----
    With n points of mass 1/n on each side, an optimal transport plan is a permutation
    (Birkhoff-von Neumann), so W1 is an assignment problem, solved exactly by
    ``scipy.optimize.linear_sum_assignment`` on the n × n Euclidean cost matrix. That costs
    O(n³) time and O(n²) memory: fine up to a few thousand points. For 1-D samples
    :func:`wasserstein_1d` gives the same value in O(n log n).

    References
    ----------
    Peyré & Cuturi (2019), §2.2-2.3 (Proposition 2.1: the assignment problem) and §3.1.
    """
    is_torch, x, y, back = _point_clouds(x, y)
    cost = _cost_matrix(is_torch, x, y)  # (n, n), ‖x_i − y_j‖₂ in float64
    cols = _optimal_matching(cost)
    if not is_torch:
        return back(cost[np.arange(len(cols)), cols].mean().astype(x.dtype))
    cols = torch.as_tensor(cols, device=x.device)
    # W1 = (1/n) Σ_i ‖x_i − y_σ(i)‖₂ for the optimal σ   (Peyré & Cuturi 2019, Prop. 2.1)
    return torch.linalg.vector_norm(x - y[cols], dim=-1).mean()  # vector_norm's gradient at 0 is 0


def transport_plan(x, y) -> np.ndarray:
    """The optimal transport plan between two equal-size point clouds: σ (n,), x[i] moves to y[σ[i]].

    The matching behind :func:`wasserstein_samples` (same arguments, same checks): n arrows whose mean
    length is W1. Numpy int64 indices, whatever the inputs are.
    """
    is_torch, x, y, _ = _point_clouds(x, y)
    return _optimal_matching(_cost_matrix(is_torch, x, y)).astype(np.int64)


def _point_clouds(x, y) -> tuple[bool, object, object, Callable]:
    """``x`` and ``y`` as (n, d) arrays of one kind, checked: same n, same d, finite, non-empty."""
    is_torch, (x, y), back = _as_arrays(("x", x), ("y", y))
    points = []
    for name, cloud in (("x", x), ("y", y)):
        if cloud.ndim == 1:
            cloud = cloud[:, None]  # (n,) -> (n, 1): n points on a line
        if cloud.ndim != 2 or cloud.shape[0] == 0 or cloud.shape[1] == 0:
            raise ValueError(f"{name} must be a non-empty point cloud of shape (n, d) or (n,); got shape "
                             f"{tuple(cloud.shape)}")
        _check_finite(is_torch, name, cloud)
        points.append(cloud)
    x, y = points
    if x.shape[0] != y.shape[0]:
        raise ValueError(f"x and y must hold the same number of points (the matching is one to one); got "
                         f"{x.shape[0]} and {y.shape[0]} (subsample the larger one; for 1-D samples, wasserstein_1d "
                         "takes any sizes)")
    if x.shape[1] != y.shape[1]:
        raise ValueError(f"x and y must have the same dimension d; got shapes {tuple(x.shape)} and {tuple(y.shape)}")
    return is_torch, x, y, back


def _cost_matrix(is_torch: bool, x, y) -> np.ndarray:
    """‖x_i − y_j‖₂ for every pair, (n, n) in float64."""
    as_numpy = (lambda t: t.detach().cpu().double().numpy()) if is_torch else (lambda a: a)
    return cdist(as_numpy(x), as_numpy(y))


def _optimal_matching(cost: np.ndarray) -> np.ndarray:
    """σ with σ[i] the column matched to row i, minimising Σ_i cost[i, σ(i)] (the Hungarian method)."""
    rows, cols = linear_sum_assignment(cost)  # rows come back as 0..n-1, in order
    return cols

