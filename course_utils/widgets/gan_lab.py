"""Chapters 07, 08 and 10: the live GAN training lab. A real PyTorch GAN trains in the kernel while you watch.

GAN Lab (Kahng et al. 2019) trains a GAN in the browser with TensorFlow.js; this lab trains the course's
models (:class:`course_utils.training.Session`, the steps of ``train_gan``) on the CPU or the GPU, in a
background thread, so the notebook stays usable while it trains. Four panels, redrawn a few times a second:

1. the data (grey), the generator's samples (red), the discriminator's probability D(x) or the critic's
   score as a heat map, and arrows where the next generator step pulls the samples, drawn on one fixed
   logarithmic scale (``training.fields.pull_arrows``, its key under the panel) so that a weak pull is drawn
   short; the readout gives their mean norm ‖∇x ℓ_G‖;
2. the generator's image of a grid of latent lines (how G folds the noise onto the data);
3. the losses, with log 4 and log 2 marked for a GAN's (D's loss and each of its terms at D = ½);
4. the modes captured, the share of high-quality samples and the reverse KL over time (ring and grid: the
   PacGAN protocol), beside the band that uniform noise scores.

The samples and the modes panels show G alone: plain G(z). A preset that samples with discriminator rejection
sampling (``best``) adds a checkbox that shows, and scores, the samples rejection sampling keeps instead; each
panel's title says which it shows.

Design (``../shared/DESIGN.md``, "The live training lab"): one thread steps the model and renders; it
sets an ``ipywidgets.Image``'s bytes and an ``HTML`` readout and never prints (output from a thread lands
in whichever cell ran last). The buttons only set flags that the thread reads between chunks of steps,
so play, pause, step and reset answer within a chunk (tens of milliseconds).

Your own data: click the samples panel to add a point there (``ipyevents`` reports the click in the picture's
pixels, :meth:`GANLab.point_at` turns them into data coordinates), or paste points, ``x, y`` per line.
"""

from __future__ import annotations

import functools
import html
import math
import threading
import time
from dataclasses import asdict, replace
from pathlib import Path

import ipywidgets as widgets
import matplotlib
import torch
from ipyevents import Event
from matplotlib.collections import LineCollection
from matplotlib.figure import Figure
from matplotlib.ticker import AutoLocator, FixedFormatter, FixedLocator, NullLocator

from course_utils._io import atomic_write_json, atomic_write_text
from course_utils.data import example_points, format_points, parse_points
from course_utils.plotting import ACCENT_COLOR, DATA_COLOR, FAST_STYLE, MODEL_COLOR, clear_data, nice_ceiling
from course_utils.training import (
    GAN_PRESETS,
    LATENT_NOISES,
    MODE_DATA,
    TOY_DATA,
    USER_POINTS,
    GANConfig,
    History,
    Session,
    generate,
    sample_gan,
)
from course_utils.training.baselines import mode_coverage_baselines
from course_utils.training.batches import load_training_data
from course_utils.training.evaluation import coverage_fn
from course_utils.training.fields import (
    PROBABILITY_LOSSES,
    PULL_RANGE,
    critic_field,
    generator_pull,
    latent_map,
    pull_arrows,
)
from course_utils.widgets._canvas import LayeredCanvas
from course_utils.widgets.base import choice, log_slider, slider

REDRAW_EVERY_S = 0.3  # a picture every 0.3 s: about 3 redraws a second (DESIGN.md's measurements)
CHUNK_S = 0.05  # steps between checks of the buttons: about this long, so that pause answers at once
SHOWN_SAMPLES = 512  # generator samples drawn over the data (the readout's mean pull is over these)
ARROWS = 48  # samples that get an arrow
LONGEST_ARROW = 0.25  # a pull of PULL_RANGE[1] or more is drawn this share of the view long
KEY_PAD = 4.0  # points between the samples panel and its key of arrows
FIELD_RESOLUTION = 48
CONFIG_FILE = "config.json"  # beside checkpoint.pt in a saved run: what `course train --config` reads
POINTS_FILE = "points.csv"  # beside them when the run trained on your points
G_ALONE_FILE = "g_alone.json"  # beside them when the run samples with rejection: G alone's mode coverage
LAYOUTS = {  # figure size (inches at 80 dpi) and panel grid: one row for a lab alone, 2 × 2 for side_by_side
    "row": ((13.6, 3.5), (1, 4), dict(left=0.035, right=0.945, bottom=0.15, top=0.86, wspace=0.32)),
    "grid": ((6.8, 6.4), (2, 2), dict(left=0.07, right=0.89, bottom=0.08, top=0.92, wspace=0.3, hspace=0.45)),
}
HIDDEN_WIDTHS = (32, 64, 128, 256)


def view_limits(data: torch.Tensor, margin: float = 0.15) -> tuple[tuple[float, float], tuple[float, float]]:
    """A square view around ``data`` (N, 2) with ``margin`` of its extent on each side: the panel's fixed axes."""
    low, high = data.min(dim=0).values, data.max(dim=0).values
    center, half = (low + high) / 2, float((high - low).max()) / 2 * (1 + 2 * margin)
    return ((float(center[0]) - half, float(center[0]) + half), (float(center[1]) - half, float(center[1]) + half))


def lab_config(data: str, loss: str, *, lr: float | None = None, n_critic: int | None = None, hidden: int = 128,
               latent_dim: int = 2, noise: str = "gaussian", seed: int = 0, steps: int | None = None) -> GANConfig:
    """The config of the lab's controls: ``GANConfig.preset(loss, data)`` with the controls' values over it.

    ``lr``, ``n_critic`` and ``steps`` left at None keep the preset's (a loss comes with its own).
    """
    overrides = {"hidden": hidden, "latent_dim": latent_dim, "noise": noise, "seed": seed}
    overrides |= {name: value for name, value in (("lr", lr), ("n_critic", n_critic), ("steps", steps))
                  if value is not None}
    return GANConfig.preset(loss, data, **overrides)


CONTROLLED = ("noise", "lr", "n_critic", "hidden", "latent_dim", "seed", "steps")  # the controls beside data, loss


@functools.lru_cache(maxsize=32)  # the readout asks on every redraw
def preset_of(config: GANConfig) -> str | None:
    """The preset (``GAN_PRESETS``) whose config, with the lab's controls set as in ``config``, is ``config``;
    None if none is (a run of ``course train`` with other settings). ``best`` is a tuned ``gan``: its
    config says loss "gan", and only this finds that it is a ``best`` run."""
    controls = {name: getattr(config, name) for name in CONTROLLED}
    for preset in GAN_PRESETS:
        try:
            if lab_config(config.data, preset, **controls) == config:
                return preset
        except ValueError:  # a preset that this data does not have
            continue
    return None


class GANLab:
    """The live lab: controls, play / pause / step / reset, four panels and a readout.

    Parameters
    ----------
    data, loss : str
        The starting data set (ring, grid, moons, swiss_roll, or "points": yours, pasted into the box that
        appears, ``x, y`` per line) and loss or preset (``GAN_PRESETS``).
    device : str
        Where to train: "auto" (CUDA, then MPS, then the CPU) or a device name.
    layout : str
        "row": the four panels in a row (a lab alone); "grid": two by two, narrower (:func:`side_by_side`).
    **settings
        Starting values of the other controls: lr, n_critic, hidden, latent_dim, noise, seed, steps.
    """

    def __init__(self, data: str = "ring", loss: str = "gan", *, device: str = "auto",
                 points: torch.Tensor | None = None, layout: str = "row", **settings):
        if layout not in LAYOUTS:
            raise ValueError(f"layout must be one of {', '.join(map(repr, LAYOUTS))}; got {layout!r}")
        first = lab_config(data, loss, **settings)
        self.device = device
        self.points = example_points() if points is None else points.float()  # what "points" trains on
        self.controls = {
            "data": choice("data", TOY_DATA, data),
            "loss": choice("loss", GAN_PRESETS, loss),
            "noise": choice("noise z", LATENT_NOISES, first.noise),
            "lr": log_slider("learning rate", first.lr, -5, -2),
            "n_critic": slider("critic steps per G step", first.n_critic, 1, 10, 1),
            "hidden": choice("width", HIDDEN_WIDTHS, first.hidden),
            "latent_dim": slider("latent dim", first.latent_dim, 1, 8, 1),
            "seed": slider("seed", first.seed, 0, 99, 1),
            "steps": widgets.BoundedIntText(value=first.steps, min=1, max=1_000_000, step=100, description="steps",
                                            style={"description_width": "initial"},
                                            layout=widgets.Layout(width="160px")),
        }
        self.play_button = widgets.ToggleButton(description="play", icon="play", tooltip="train / pause")
        self.step_button = widgets.Button(description="one step", icon="step-forward")
        self.reset_button = widgets.Button(description="reset", icon="undo")
        # which sampler the samples and modes panels show: G alone, or G with the preset's rejection sampling
        self.rejection = widgets.Checkbox(value=False, indent=False, layout=widgets.Layout(width="auto"),
                                          description="rejection sampling: show and score the samples it keeps")
        self.image = widgets.Image(format="png", layout=widgets.Layout(max_width="100%", height="auto"))
        self.readout = widgets.HTML()
        self.points_text = widgets.Textarea(value=format_points(self.points), rows=6,
                                            placeholder="x, y (one point per line)",
                                            layout=widgets.Layout(width="200px"))
        self.points_button = widgets.Button(description="train on these points")
        self.points_box = widgets.VBox([widgets.HTML("<b>your points</b>, x, y per line<br>(or click the samples "
                                                     "panel):"), self.points_text, self.points_button])
        wrap = widgets.Layout(flex_flow="row wrap")  # controls wrap onto a new line in a narrow lab
        self.widget = widgets.VBox([
            widgets.HBox([self.controls[name] for name in ("data", "loss", "noise", "hidden", "steps")], layout=wrap),
            widgets.HBox([self.controls[name] for name in ("lr", "n_critic", "latent_dim", "seed")], layout=wrap),
            widgets.HBox([self.play_button, self.step_button, self.reset_button, self.rejection], layout=wrap),
            self.points_box, self.readout, self.image,
        ])
        self.layout = layout
        self.figure = _lab_figure(layout)
        self.canvas = LayeredCanvas(self.figure)
        self.renders = 0
        self.last_render_s = float("nan")
        self.steps_per_s = float("nan")  # training speed while playing, renders included
        self._lock = threading.Lock()  # the session: the thread steps it, a button may replace it
        self._wake = threading.Event()
        self._closed = False
        self._pending_steps = 0
        self._building = False  # a preset is filling the controls: one reset at the end, not one per control
        self._loaded: GANConfig | None = None  # a loaded run's config: reset keeps its settings, the controls' over it
        self.g_alone = History()  # G alone's mode coverage, when the History's is rejection sampling's
        self.session = self._new_session()
        self._show_rejection()
        self.controls["loss"].observe(self._on_preset, names="value")
        self.controls["data"].observe(self._on_preset, names="value")
        for name in CONTROLLED:
            self.controls[name].observe(lambda change: self.reset(), names="value")
        self.rejection.observe(lambda change: self.render(), names="value")
        self.play_button.observe(self._on_play, names="value")
        self.step_button.on_click(lambda button: self.step())
        self.reset_button.on_click(lambda button: self.reset())
        self.points_button.on_click(lambda button: self.use_points(self.points_text.value))
        self.clicks = Event(source=self.image, watched_events=["click"])  # a click on the picture draws a point
        self.clicks.on_dom_event(self._on_click)
        self.render()
        self._thread = threading.Thread(target=self._work, name="gan-lab", daemon=True)
        self._thread.start()

    # ------------------------------------------------------------------ what the controls say
    @property
    def config(self) -> GANConfig:
        """The config the controls describe (the running session's, once a reset has applied them): their
        preset's, or after :meth:`load` the loaded run's, with the controls' values over it."""
        values = {name: control.value for name, control in self.controls.items()}
        if self._loaded is not None:
            return replace(self._loaded, **{name: values[name] for name in CONTROLLED})
        return lab_config(**values)

    @property
    def sampler(self) -> str:
        """What the samples and modes panels show: "G alone", or "G + rejection sampling" (the checkbox, for a
        config with ``drs_quantile``)."""
        return _sampler(self.session.config, self.rejection.value)

    @property
    def playing(self) -> bool:
        return self.play_button.value

    def play(self) -> None:
        self.play_button.value = True

    def pause(self) -> None:
        self.play_button.value = False

    def step(self, n: int = 1) -> None:
        """Ask for ``n`` training steps (the thread takes them, then redraws); pauses a playing lab first."""
        self.pause()
        with self._lock:
            self._pending_steps += n
        self._wake.set()

    def reset(self) -> None:
        """A new session from the controls (new weights, step 0), paused, and a redraw."""
        if self._building:
            return
        self.pause()
        with self._lock:
            self._pending_steps = 0
            self.session = self._new_session()
        self._show_rejection()
        self.render()

    def use_points(self, text: str) -> None:
        """Train on the points in ``text`` (``x, y`` per line): switches the data to "points" and resets.

        Bad text is refused in the readout, naming the line, and the lab keeps its points.
        """
        try:
            points = parse_points(text)
        except ValueError as error:
            self.readout.value = f"<div style='color: #C44E52'>{html.escape(str(error))}</div>"
            return
        self.points = points
        self.points_text.value = text
        if self.controls["data"].value == USER_POINTS:
            self.reset()
        else:
            self.controls["data"].value = USER_POINTS  # its observer resets

    def add_point(self, x: float, y: float) -> None:
        """Add the point (x, y) to your points and train on them (the data switches to "points", reset)."""
        points = torch.cat([self.points, torch.tensor([[float(x), float(y)]])])
        self.use_points(format_points(points, decimals=3))

    def point_at(self, pixel_x: float, pixel_y: float) -> tuple[float, float] | None:
        """The data coordinates under a pixel of the picture (counted from its top left, in the PNG's own pixels),
        if it lies in the samples panel; None elsewhere."""
        height = self.figure.get_size_inches()[1] * self.figure.dpi
        display = (float(pixel_x), height - float(pixel_y))  # matplotlib counts pixels from the bottom
        with self._lock:  # the limits of the last picture drawn
            samples = self.figure.axes[0]
            if not samples.bbox.contains(*display):
                return None
            x, y = samples.transData.inverted().transform(display)
        return float(x), float(y)

    def _on_click(self, event: dict) -> None:
        point = self.point_at(event["dataX"], event["dataY"]) if "dataX" in event else None
        if point is not None:
            self.add_point(*point)

    def close(self) -> None:
        """Stop the training thread (the lab no longer trains or redraws)."""
        self._closed = True
        self.pause()
        self._wake.set()
        self._thread.join(timeout=5)

    # ------------------------------------------------------------------ saving and loading runs
    def save(self, folder: str | Path) -> Path:
        """Save the run: ``folder/checkpoint.pt`` (weights, optimizers, History) and ``folder/config.json``
        (what ``course train --config`` reads to go on, e.g. on a GPU). Pauses the lab first."""
        self.pause()
        folder = Path(folder)
        with self._lock:
            self.session.save(folder)
            atomic_write_json(folder / CONFIG_FILE, asdict(self.session.config))
            if self.session.config.data == USER_POINTS:
                atomic_write_text(folder / POINTS_FILE, format_points(self.points, decimals=6) + "\n")
            if self.session.config.drs_quantile is not None:
                atomic_write_json(folder / G_ALONE_FILE, self.g_alone.to_dict())
        return folder

    def load(self, folder: str | Path) -> None:
        """Continue a saved run: its config goes into the controls (the loss control shows its preset, e.g.
        ``best``), its weights and History into the lab; a reset then starts this config again."""
        self.pause()
        folder = Path(folder)
        config = GANConfig.from_dict(_read_json(folder / CONFIG_FILE))
        if config.data == USER_POINTS:
            self.points = parse_points((folder / POINTS_FILE).read_text(encoding="utf-8"))
            self.points_text.value = format_points(self.points)
        self._set_controls(config, preset=preset_of(config) or config.loss)
        with self._lock:
            self._loaded = config
            self.session = Session(config, data=self._training_points(config), device=self.device,
                                   resume=folder / "checkpoint.pt")
            self.g_alone = History()
            if (folder / G_ALONE_FILE).is_file():
                self.g_alone = History.from_dict(_read_json(folder / G_ALONE_FILE))
            self._score_g_alone()  # a run saved without it: G alone at the step it was saved, at least
        self._show_points_box()
        self._show_rejection()
        self.render()

    # ------------------------------------------------------------------ the picture
    def render(self) -> None:
        """Draw the four panels from the session as it is now and show them."""
        start = time.perf_counter()
        with self._lock, matplotlib.rc_context(FAST_STYLE):
            reference = self._reference()
            readout = draw_lab(self.figure, self.session, view_limits(reference), reference,
                               rejection=self.rejection.value, g_alone=self.g_alone)
            png = self.canvas.png()
        self.image.value = png
        speed = f" · {self.steps_per_s:,.0f} steps/s" if self.playing and math.isfinite(self.steps_per_s) else ""
        self.readout.value = f"<div style='font-size: 13px'>{html.escape(readout)}{speed}</div>"
        self.renders += 1
        self.last_render_s = time.perf_counter() - start

    def _reference(self) -> torch.Tensor:
        """The grey points: 1,000 of the data set (drawn once per set), or your points."""
        data = self.session.config.data
        return self.points if data == USER_POINTS else _reference_points(data)

    def _training_points(self, config: GANConfig) -> torch.Tensor | None:
        return self.points if config.data == USER_POINTS else None

    def set_layout(self, layout: str) -> None:
        """Lay the panels out in a "row" (a lab alone) or a 2 × 2 "grid" (narrower: two labs side by side)."""
        if layout not in LAYOUTS:
            raise ValueError(f"layout must be one of {', '.join(map(repr, LAYOUTS))}; got {layout!r}")
        with self._lock:
            self.layout = layout
            self.figure = _lab_figure(layout)
            self.canvas = LayeredCanvas(self.figure)
        self.render()

    def _repr_mimebundle_(self, **kwargs):
        return self.widget._repr_mimebundle_(**kwargs)

    # ------------------------------------------------------------------ the thread
    def _work(self) -> None:
        """Train while playing (or while steps are asked for), redraw every REDRAW_EVERY_S, sleep otherwise."""
        chunk, last_render = 1, time.perf_counter()
        while not self._closed:
            if not (self.playing or self._pending_steps):
                self._wake.wait(timeout=0.5)
                self._wake.clear()
                continue
            started = time.perf_counter()
            with self._lock:
                wanted = chunk if self.playing else min(chunk, self._pending_steps)
                taken = self.session.advance(min(wanted, self._steps_to_evaluation()))
                self._score_g_alone()
                self._pending_steps = max(0, self._pending_steps - taken) if not self.playing else 0
                finished = self.session.finished
            elapsed = time.perf_counter() - started
            if taken:  # grow or shrink the chunk towards CHUNK_S of training
                chunk = max(1, min(1_000, round(chunk * CHUNK_S / max(elapsed, 1e-4) * 0.5 + chunk * 0.5)))
                self.steps_per_s = taken / elapsed if elapsed > 0 else self.steps_per_s
            if finished:
                self._pending_steps = 0
                if self.playing:
                    self.pause()
            now = time.perf_counter()
            if now - last_render >= REDRAW_EVERY_S or not (self.playing or self._pending_steps):
                self.render()
                last_render = time.perf_counter()

    def _on_play(self, change) -> None:
        self.play_button.description, self.play_button.icon = ("pause", "pause") if change["new"] else ("play", "play")
        if change["new"] and self.session.finished:
            self.play_button.value = False  # nothing left to train: reset, or raise the steps
            return
        self._wake.set()

    def _steps_to_evaluation(self) -> int:
        """Steps to the next evaluation of the History, if G alone is to be scored there too; else many."""
        config = self.session.config
        if config.drs_quantile is None or config.data not in MODE_DATA:
            return 1_000_000
        following = (self.session.step // config.eval_every + 1) * config.eval_every
        return max(1, min(following, config.steps) - self.session.step)

    def _score_g_alone(self) -> None:
        """Where the History has just scored rejection sampling's samples, score G alone's (the same protocol);
        the lock is held."""
        config, history = self.session.config, self.session.history
        if config.drs_quantile is None or not history.metric_step or history.metric_step[-1] != self.session.step:
            return
        if self.g_alone.metric_step and self.g_alone.metric_step[-1] >= self.session.step:
            return
        generator = self.session.models["generator"]
        evaluate = coverage_fn(config, lambda n, rng: generate(generator, n, rng=rng, noise=config.noise),
                               self.session.device)
        if evaluate is not None:
            self.g_alone.log_metrics(self.session.step, evaluate())

    def _show_rejection(self) -> None:
        """The rejection-sampling checkbox: shown for a config that samples with it, else hidden and off."""
        drs = self.session.config.drs_quantile is not None
        self.rejection.layout.display = "" if drs else "none"
        if not drs and self.rejection.value:
            self.rejection.value = False  # its observer redraws

    def _on_preset(self, change) -> None:
        """A new loss or data set brings its preset's learning rate, critic steps and steps (not while the lab
        fills its controls itself: from a loaded run, say)."""
        if self._building:
            return
        self._loaded = None  # a new preset: the loaded run's other settings no longer apply
        preset = GANConfig.preset(self.controls["loss"].value, self.controls["data"].value)
        self._set_controls(preset, only=("lr", "n_critic", "steps"))
        self.reset()

    def _show_points_box(self) -> None:
        self.points_box.layout.display = "" if self.controls["data"].value == USER_POINTS else "none"

    def _set_controls(self, config: GANConfig, only: tuple[str, ...] | None = None, preset: str | None = None) -> None:
        """Set the controls to ``config``'s values (``only`` those), the loss control to ``preset`` (default
        the config's loss), without a reset per control."""
        building, self._building = self._building, True
        try:
            for name, control in self.controls.items():
                if only is None or name in only:
                    control.value = (preset or config.loss) if name == "loss" else getattr(config, name)
        finally:
            self._building = building

    def _new_session(self) -> Session:
        self._show_points_box()
        config = self.config
        self.g_alone = History()
        return Session(config, data=self._training_points(config), device=self.device)


def side_by_side(*labs: GANLab) -> widgets.HBox:
    """Two (or more) labs next to each other, to compare runs (each keeps its own controls and thread).

    Each lab switches to its 2 × 2 layout, half as wide as a row of panels, so that two fit a notebook's width
    with their text at its usual size; the arrows share one scale, so the pulls of the two runs compare.
    """
    for lab in labs:
        if lab.layout != "grid":
            lab.set_layout("grid")
        lab.widget.layout.width = f"{_png_width(lab.figure) + 16}px"
    return widgets.HBox([lab.widget for lab in labs], layout=widgets.Layout(flex_flow="row wrap",
                                                                          align_items="flex-start"))


def _png_width(figure: Figure) -> int:
    return round(figure.get_size_inches()[0] * figure.dpi)


# ====================================================================== the panels
def _lab_figure(layout: str = "row") -> Figure:
    size, (rows, columns), spacing = LAYOUTS[layout]
    figure = Figure(figsize=size, dpi=80)
    axes = figure.subplots(rows, columns, gridspec_kw=spacing).flatten()
    axes[3].twinx()  # the reverse KL, on its own scale beside the mode counts
    return figure


def _sampler(config: GANConfig, rejection: bool) -> str:
    return "G + rejection sampling" if rejection and config.drs_quantile is not None else "G alone"


def draw_lab(figure: Figure, session: Session, limits, reference: torch.Tensor, *, rejection: bool = False,
             g_alone: History | None = None) -> str:
    """Draw ``session``'s four panels into ``figure`` (cleared first) over the view ``limits``, with the
    ``reference`` points (N, 2) of the data in grey, and return the readout line.

    The samples and modes panels show G alone (plain G(z)), or with ``rejection`` and a config with
    ``drs_quantile`` the samples that rejection sampling keeps. The History scores the latter for such a
    config; ``g_alone`` then holds G alone's mode coverage.
    """
    clear_data(figure)
    config, models, history = session.config, session.models, session.history
    samples_ax, latent_ax, loss_ax, modes_ax, kl_ax = figure.axes
    (x0, x1), (y0, y1) = limits
    sampler = _sampler(config, rejection)
    rng = torch.Generator(session.device).manual_seed(12345)  # the same z each redraw: watch them move
    if sampler == "G alone":
        fakes = generate(models["generator"], SHOWN_SAMPLES, rng=rng, noise=config.noise).cpu()  # (n, 2)
    else:
        fakes = sample_gan(models, config, SHOWN_SAMPLES, rng=rng).cpu()  # (n, 2), kept by rejection sampling
    field = critic_field(models["critic"], config.loss, (x0, x1), (y0, y1), FIELD_RESOLUTION).cpu()
    probability = config.loss in PROBABILITY_LOSSES
    samples_ax.imshow(field.numpy(), origin="lower", extent=(x0, x1, y0, y1), cmap="RdBu", aspect="auto",
                      vmin=0 if probability else None, vmax=1 if probability else None, alpha=0.55)
    # numpy, not tensors, into matplotlib: it iterates a tensor element by element (a third of a redraw)
    real = reference.numpy()
    samples_ax.scatter(real[:, 0], real[:, 1], s=2, color="0.35", alpha=0.5, linewidths=0)
    samples_ax.scatter(fakes[:, 0].numpy(), fakes[:, 1].numpy(), s=3, color=MODEL_COLOR, linewidths=0)
    pull = generator_pull(models["critic"], config.loss, fakes.to(session.device)).cpu()  # (n, 2): -∇x ℓ_G
    mean_pull = float(pull.norm(dim=1).mean())  # the readout's: over every sample shown, not only the arrows'
    samples_ax.set(xlim=(x0, x1), ylim=(y0, y1), yticks=[])
    _draw_arrows(samples_ax, fakes[:ARROWS], pull[:ARROWS], limits)
    samples_ax.set_title(f"{sampler} (red), data (grey),\n{'D(x)' if probability else 'critic f(x)'}, "
                         r"arrows $-\nabla_x \ell_G$ (key below)")

    # one collection of 18 polylines: a tenth of the cost of 18 plot calls
    latent_ax.add_collection(LineCollection(latent_map(models["generator"], config.noise).cpu().numpy(),
                                            colors=DATA_COLOR, linewidths=0.7))
    latent_ax.set(xlim=(x0, x1), ylim=(y0, y1), xticks=[], yticks=[])
    latent_ax.set_title("G's image of a grid of latent lines")

    _draw_losses(loss_ax, history, config)
    track = history if config.drs_quantile is None or sampler != "G alone" else (g_alone or History())
    _draw_modes(modes_ax, kl_ax, track, config, sampler)
    return _readout(session, track, sampler, mean_pull)


def drawn_arrows(ax) -> torch.Tensor:
    """The arrows drawn on the samples panel ``ax`` (n, 2), in data units (the key's excluded)."""
    quiver = next(c for c in ax.collections if c.get_label() == "pull")
    return torch.stack([torch.as_tensor(quiver.U, dtype=torch.float64),
                        torch.as_tensor(quiver.V, dtype=torch.float64)], dim=1) / quiver.scale


def _draw_arrows(ax, at: torch.Tensor, pull: torch.Tensor, limits) -> None:
    """Arrows ``pull`` (n, 2) at ``at`` (n, 2) on the fixed log scale of ``training.fields.pull_arrows``, and its
    key under the panel: arrows for three norms, in the same units, each labelled by a tick label of the x axis
    (drawn with the axes, once: a text drawn on every redraw costs a few milliseconds)."""
    (x0, x1), (y0, y1) = limits
    longest = LONGEST_ARROW * (x1 - x0)
    arrows = pull_arrows(pull, longest).numpy()  # (n, 2), data units
    quiver = dict(color="k", angles="xy", scale_units="xy", scale=1.0, width=0.004)
    ax.quiver(at[:, 0].numpy(), at[:, 1].numpy(), arrows[:, 0], arrows[:, 1], label="pull", **quiver)
    low, high = (math.log10(bound) for bound in PULL_RANGE)
    key_norms = torch.logspace(low + 1, high, 3)  # 0.001, 0.1, 10 for PULL_RANGE = (1e-4, 1e1)
    lengths = pull_arrows(torch.stack([key_norms, torch.zeros(3)], dim=1), longest)[:, 0].tolist()
    xs = [x0 + 0.02 * (x1 - x0)]
    for length in lengths[:-1]:
        xs.append(xs[-1] + length + 0.19 * (x1 - x0))  # room for the label after each arrow
    ends = [x + length + 0.015 * (x1 - x0) for x, length in zip(xs, lengths, strict=True)]
    ax.set_xticks(ends, [f"{norm:.2g}" for norm in key_norms.tolist()])
    ax.tick_params(axis="x", length=0, pad=KEY_PAD, labelsize=8)
    for label in ax.get_xticklabels():
        label.set_horizontalalignment("left")  # each label just after its arrow
    # the arrows at the labels' height: KEY_PAD points under the axes, then half the 8-point text
    y = y0 - (KEY_PAD + 5) * ax.figure.dpi / 72 / ax.bbox.height * (y1 - y0)
    key = ax.quiver(xs, [y] * 3, lengths, [0.0] * 3, label="key", **quiver)
    key.set_clip_on(False)


_REFERENCE: dict[str, torch.Tensor] = {}


def _reference_points(data: str) -> torch.Tensor:
    """1,000 points of the data set, drawn once per data set (the grey cloud)."""
    if data not in _REFERENCE:
        _REFERENCE[data] = load_training_data(data, 1_000, 0)[0]
    return _REFERENCE[data]


def _draw_losses(ax, history, config: GANConfig) -> None:
    """The losses over the steps; for a GAN (gan, minimax) also their values at D = ½ everywhere, where D can
    no longer tell real from fake: log 4 for D's loss, log 2 for each of its terms (and ± log 2 for G's)."""
    steps, values = history.step, history.losses
    top, bottom = 1.0, 0.0
    if config.loss in PROBABILITY_LOSSES:
        # D's loss -log D(x) - log(1 - D(G(z))) is log 4 at D = ½ (Goodfellow et al. 2014, Thm. 1: -V(D*, G)
        # at p_G = p_data), each term log 2; G's loss is -log ½ = log 2 (non-saturating), log(1 - ½) (minimax)
        levels = {"log 4": math.log(4), "log 2": math.log(2)}
        if config.loss == "minimax":
            levels["−log 2"] = -math.log(2)
        for i, level in enumerate(levels.values()):
            ax.axhline(level, color="0.3", ls="--", lw=0.8, label="at D = ½ (see right)" if i == 0 else None)
        # named by minor ticks on the right: drawn with the axes, once, not on every redraw
        ax.yaxis.set_minor_locator(FixedLocator(list(levels.values())))
        ax.yaxis.set_minor_formatter(FixedFormatter(list(levels)))
        ax.tick_params(axis="y", which="minor", left=False, labelleft=False, right=True, labelright=True,
                       labelsize=8)
        top, bottom = 1.5 * math.log(4), 1.2 * math.log(2)  # the lines in view, room above them for the legend
    else:
        ax.yaxis.set_minor_locator(NullLocator())
    for name, color in (("loss_d", DATA_COLOR), ("loss_g", MODEL_COLOR), ("wasserstein", "#55A868")):
        if name in values and values[name]:
            ax.plot(steps, values[name], color=color, lw=1, label=name)
            top = max(top, max(abs(v) for v in values[name] if v == v))
            bottom = max(bottom, max(-v for v in values[name] if v == v))
    limit = nice_ceiling(top)
    if config.loss.startswith("wgan"):
        ylim = (-limit, limit)
    elif config.loss == "minimax":  # G's loss is negative, D's positive: the legend goes over the larger side
        ylim = (-nice_ceiling(bottom), limit)
    else:
        ylim = (0, limit)
    ax.set(xlim=(0, config.steps), ylim=ylim)
    ax.set_xlabel("generator step")
    ax.set_title("losses")
    if ax.lines:
        ax.legend(loc="upper right", fontsize=8)


def _draw_modes(ax, kl_ax, history, config: GANConfig, sampler: str = "G alone") -> None:
    """Modes captured and the high-quality share (left axis), the reverse KL (right axis, 0 to log K), of the
    samples of ``sampler``, whose History ``history`` is."""
    ax.set_xlim(0, config.steps)
    if config.data not in MODE_DATA:
        ax.set_ylim(0, 1)
        kl_ax.set_ylim(0, 1)
        kl_ax.yaxis.set_major_locator(NullLocator())  # no KL here: no ticks (the ring's and grid's come back)
        kl_ax.set_ylabel("")
        ax.set_title("modes: only the ring and the grid have them")
        return
    kl_ax.yaxis.set_major_locator(AutoLocator())  # after your points, whose panel has none
    centers = MODE_DATA[config.data][0]()
    steps, values = history.metric_step, history.metrics
    noise = noise_level(config.data)  # uniform noise over the data's box scores this much: the band to leave
    ax.axhspan(min(c.modes for c in noise), max(c.modes for c in noise), color="0.85", lw=0,
               label="modes of uniform noise")
    if steps:
        ax.plot(steps, values["modes"], "o-", color=DATA_COLOR, ms=3, label="modes captured")
        ax.plot(steps, [h * len(centers) for h in values["high_quality"]], "s-", color=MODEL_COLOR, ms=3,
                label="high quality (× modes)")
        kl_ax.plot(steps, values["reverse_kl"], "^-", color=ACCENT_COLOR, ms=3, label="reverse KL (right)")
    ax.set_ylim(0, len(centers) + 1)
    kl_ax.set_ylim(0, 1.05 * math.log(len(centers)))  # 0: balanced; log K: one mode holds every sample
    kl_ax.set_ylabel("reverse KL (nats)")
    ax.set_xlabel("generator step")
    ax.set_title(f"mode coverage of {sampler}\n({len(centers)} modes)")
    if ax.lines:  # off the curves: modes and quality end near the top, the KL near the bottom
        ax.legend(handles=[*ax.lines, *kl_ax.lines], loc="center right", fontsize=8)


def _readout(session: Session, track: History, sampler: str, mean_pull: float) -> str:
    """The readout line: the step, the run, the last losses, the mean pull of the samples shown and the mode
    coverage of ``sampler`` (``track``: its History), beside what uniform noise scores."""
    config, history = session.config, session.history
    preset = preset_of(config)
    run = config.loss if preset in (None, config.loss) else f"{preset} ({config.loss})"
    parts = [f"step {session.step:,} of {config.steps:,}", f"{run} on {config.data}",
             f"device {session.device.type}"]
    for name in ("loss_d", "loss_g", "wasserstein"):
        if history.losses.get(name):
            parts.append(f"{name} {history.losses[name][-1]:.3f}")
    parts.append(f"mean ‖∇x ℓ_G‖ {mean_pull:.4g} over the {SHOWN_SAMPLES} samples of {sampler} shown")
    if track.metric_step:
        metrics = track.metrics
        parts.append(f"{sampler}: modes {metrics['modes'][-1]:.0f}, high quality {metrics['high_quality'][-1]:.0%}, "
                     f"reverse KL {metrics['reverse_kl'][-1]:.2f} (at step {track.metric_step[-1]:,})")
    if config.data in MODE_DATA:
        noise = noise_level(config.data)
        parts.append(f"uniform noise scores {sum(c.modes for c in noise) / len(noise):.1f} modes, "
                     f"{sum(c.fraction_high_quality for c in noise) / len(noise):.1%} high quality")
    return " · ".join(parts)


@functools.cache
def noise_level(data: str) -> tuple:
    """Mode coverage of uniform noise over ``data``'s box, three draws (``training.baselines``), computed once."""
    return tuple(mode_coverage_baselines(GANConfig.preset("gan", data), (0, 1, 2))["uniform"])


def _read_json(path: Path) -> dict:
    import json

    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise FileNotFoundError(f"{path}: no saved lab run there (GANLab.save writes config.json and "
                                "checkpoint.pt)") from None
