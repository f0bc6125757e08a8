"""What a run records (:class:`History`: losses every ``log_every`` steps, metrics every ``eval_every``),
and :class:`TrainingDiverged`, raised when a recorded loss is NaN or infinite."""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from typing import Any

from torch import nn


class TrainingDiverged(RuntimeError):
    """A loss became NaN or infinite; the message names the step, the loss and a likely cause.

    Losses are checked at each History row (every ``log_every`` steps and the last), where they are
    read anyway: checking every step would add a host sync per step on a GPU. A NaN propagates into
    the weights, so it is caught at most ``log_every - 1`` steps late.
    """


@dataclass
class History:
    """What a run recorded: losses every ``log_every`` steps, metrics every ``eval_every``.

    ``losses[name][i]`` belongs to ``step[i]``; ``metrics[name][j]`` to ``metric_step[j]``.
    """

    step: list[int] = field(default_factory=list)
    losses: dict[str, list[float]] = field(default_factory=dict)
    metric_step: list[int] = field(default_factory=list)
    metrics: dict[str, list[float]] = field(default_factory=dict)
    interrupted: bool = False  # stopped by Ctrl-C before the last step

    def log(self, step: int, values: dict[str, float]) -> None:
        self.step.append(step)
        for name, value in values.items():
            self.losses.setdefault(name, []).append(value)

    def log_metrics(self, step: int, values: dict[str, float]) -> None:
        self.metric_step.append(step)
        for name, value in values.items():
            self.metrics.setdefault(name, []).append(value)

    def last(self, name: str) -> float:
        """The latest value of a loss or metric."""
        series = self.losses.get(name) or self.metrics.get(name)
        if not series:
            raise KeyError(f"no values recorded for {name!r}; have {sorted({*self.losses, *self.metrics})}")
        return series[-1]

    def to_dict(self) -> dict[str, Any]:
        """Plain lists and dicts, ready for ``json.dump``."""
        return asdict(self)

    @classmethod
    def from_dict(cls, values: dict[str, Any]) -> History:
        return cls(step=list(values["step"]), losses={k: list(v) for k, v in values["losses"].items()},
                   metric_step=list(values["metric_step"]),
                   metrics={k: list(v) for k, v in values["metrics"].items()},
                   interrupted=bool(values.get("interrupted", False)))


Callback = Callable[[int, History, dict[str, nn.Module]], None]

_DIVERGENCE_HINTS = {
    "gan": "try a lower lr (e.g. 1e-4) or a smaller Adam beta1",
    "minimax": "try a lower lr (e.g. 1e-4), or loss='gan' (the non-saturating loss)",
    "wgan": "the learning rate is likely too high for weight clipping; try a lower lr (5e-5, RMSprop) "
            "or loss='wgan-gp'",
    "wgan-gp": "try a lower lr (e.g. 1e-4) or check the data for NaN/inf",
    "vae": "try a lower lr, or a larger obs_std for a Gaussian decoder",
    "classifier": "try a lower lr, or check the data for NaN/inf",
}


def check_finite(step: int, values: dict[str, float], kind: str) -> None:
    """Raise :class:`TrainingDiverged` if a loss of the ``kind`` run ("gan", ..., "vae", "classifier")
    is NaN or infinite at ``step``."""
    for name, value in values.items():
        if not math.isfinite(value):
            raise TrainingDiverged(f"{name} is {value} at step {step} ({kind}): {_DIVERGENCE_HINTS[kind]}")
