"""widgets.gan_lab: the live lab's controls, thread, panels and saved runs, without a browser.

The browser test (tests/test_browser.py) presses play in JupyterLab; here the same buttons are pressed
from Python. Timings are not asserted beyond "within a second" (see benchmarks/gan_lab_speed.py).
"""

from __future__ import annotations

import io
import json
import time
from dataclasses import asdict, replace
from pathlib import Path

import numpy as np
import pytest
import torch
from matplotlib.backends.backend_agg import FigureCanvasAgg
from PIL import Image

from course_utils.training import GANConfig, Session
from course_utils.training.fields import critic_field
from course_utils.widgets.gan_lab import CONFIG_FILE, GANLab, lab_config, side_by_side, view_limits


def wait_until(condition, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.02)


@pytest.fixture
def lab():
    lab = GANLab("ring", "gan", device="cpu", hidden=32, steps=400)
    yield lab
    lab.close()


def pixels(png: bytes) -> np.ndarray:
    return np.asarray(Image.open(io.BytesIO(png)).convert("RGB"))


def test_the_view_is_a_square_around_the_data_with_a_margin():
    (x0, x1), (y0, y1) = view_limits(torch.tensor([[0.0, 0.0], [2.0, 1.0]]), margin=0.5)
    assert (x0, x1) == (-1.0, 3.0) and (y0, y1) == (-1.5, 2.5)  # half-width (2 / 2)·2 = 2 around (1, 0.5)


def test_the_controls_make_the_presets_config():
    """Is the lab's config the preset of its loss and data with the controls over it, and a preset's own lr kept?"""
    assert lab_config("grid", "wgan-gp", seed=3) == GANConfig.preset("wgan-gp", "grid", seed=3, hidden=128,
                                                                     latent_dim=2, noise="gaussian")
    assert lab_config("ring", "wgan", lr=1e-4, n_critic=2).lr == 1e-4


def test_it_starts_paused_at_step_0_with_a_picture(lab):
    assert lab.session.step == 0 and not lab.playing and lab.renders == 1
    assert lab.image.value[:8] == b"\x89PNG\r\n\x1a\n" and "step 0 of 400" in lab.readout.value


def test_one_step_takes_exactly_one_step_and_redraws(lab):
    before = lab.image.value
    lab.step()
    wait_until(lambda: lab.session.step == 1 and lab.renders >= 2)
    time.sleep(0.3)
    assert lab.session.step == 1 and lab.image.value != before and "step 1 of 400" in lab.readout.value


def test_play_trains_and_pause_stops_within_a_second(lab):
    """Does play advance the session and redraw, and does pause stop both within a second, the lab staying
    usable (the caller's thread is never blocked)?"""
    start = time.perf_counter()
    lab.play()
    assert time.perf_counter() - start < 0.5  # the button returns at once: training is in the thread
    wait_until(lambda: lab.session.step >= 20 and lab.renders >= 3)
    lab.pause()
    time.sleep(1.0)
    stopped, picture = lab.session.step, lab.image.value
    time.sleep(0.7)
    assert lab.session.step == stopped and lab.image.value == picture and 0 < stopped < 400


def test_reset_starts_again_and_a_control_change_applies(lab):
    lab.step(3)
    wait_until(lambda: lab.session.step == 3)
    lab.controls["noise"].value = "uniform"
    assert lab.session.step == 0 and lab.session.config.noise == "uniform"
    lab.controls["loss"].value = "wgan-gp"  # a preset brings its learning rate and critic steps
    assert lab.controls["n_critic"].value == 5 and lab.controls["lr"].value == pytest.approx(1e-4)
    assert lab.session.config.loss == "wgan-gp" and "critic f(x)" in lab.figure.axes[0].get_title()


def test_the_field_panel_shows_the_critic(lab):
    """Is the heat map the discriminator's probability on the view, as training.fields computes it?"""
    lab.step(5)
    wait_until(lambda: lab.session.step == 5)
    time.sleep(0.3)
    panel = lab.figure.axes[0]
    (image,) = panel.get_images()
    expected = critic_field(lab.session.models["critic"], "gan", panel.get_xlim(), panel.get_ylim(), 48)
    np.testing.assert_allclose(np.asarray(image.get_array()), expected.numpy(), atol=1e-6)
    assert image.get_extent() == [*panel.get_xlim(), *panel.get_ylim()]
    assert float(expected.min()) >= 0 and float(expected.max()) <= 1


def test_a_finished_run_stops_playing():
    lab = GANLab("ring", "gan", device="cpu", hidden=32, steps=15)
    try:
        lab.play()
        wait_until(lambda: lab.session.finished and not lab.playing)
        lab.play()  # nothing left: the button springs back
        assert not lab.playing
        time.sleep(0.5)  # the last redraw
        (kl_line,) = lab.figure.axes[4].get_lines()  # the reverse KL over time, on the twin axis
        np.testing.assert_allclose(kl_line.get_ydata(), lab.session.history.metrics["reverse_kl"])
    finally:
        lab.close()


def test_a_saved_run_loads_back_into_another_lab(lab, tmp_path: Path):
    """Does save write checkpoint.pt and a config.json, and does load restore controls, step and History?"""
    lab.controls["seed"].value = 7
    lab.step(12)
    wait_until(lambda: lab.session.step == 12)
    folder = lab.save(tmp_path / "run")
    assert json.loads((folder / CONFIG_FILE).read_text())["seed"] == 7 and (folder / "checkpoint.pt").is_file()
    other = GANLab("grid", "wgan", device="cpu")
    try:
        other.load(folder)
        assert other.session.step == 12 and other.controls["seed"].value == 7 and other.controls["data"].value == "ring"
        assert other.session.history.to_dict() == lab.session.history.to_dict()
        assert other.session.config == lab.session.config
    finally:
        other.close()
    with pytest.raises(FileNotFoundError, match="no saved lab run there"):
        lab.load(tmp_path / "nothing")


def test_two_labs_side_by_side(lab):
    other = GANLab("ring", "wgan-gp", device="cpu", hidden=32)
    try:
        assert list(side_by_side(lab, other).children) == [lab.widget, other.widget]
    finally:
        other.close()


def text_boxes(figure) -> list[tuple[int, str, object]]:
    """(panel, text, window extent) of every visible, non-empty text of the figure: titles, axis labels, tick
    labels, legends and texts placed in a panel (the twin axis counts as the modes panel)."""
    renderer = figure.canvas.get_renderer()
    figure.canvas.draw()
    boxes = []
    for index, ax in enumerate(figure.axes):
        panel = min(index, 3)
        texts = [ax.title, ax.xaxis.label, ax.yaxis.label, *ax.get_xticklabels(), *ax.get_yticklabels(), *ax.texts]
        if ax.get_legend() is not None:
            texts += ax.get_legend().get_texts()
        boxes += [(panel, text.get_text(), text.get_window_extent(renderer)) for text in texts
                  if text.get_visible() and text.get_text().strip()]
    return boxes


def assert_legible(figure) -> None:
    """Every text inside the picture, at 8 points or more, and none over another panel's text."""
    width, height = figure.canvas.get_width_height()
    boxes = text_boxes(figure)
    for _, text, box in boxes:
        assert box.x0 >= -1 and box.y0 >= -1 and box.x1 <= width + 1 and box.y1 <= height + 1, f"{text!r} is cut off"
    for i, (panel, text, box) in enumerate(boxes):
        for other_panel, other_text, other in boxes[i + 1:]:
            assert panel == other_panel or not box.overlaps(other), f"{text!r} runs into {other_text!r}"
    for ax in figure.axes:
        assert all(label.get_fontsize() >= 8 for label in ax.get_yticklabels())


def test_side_by_side_is_legible_for_two_labs():
    """Issue 21: are two labs side by side no wider together than one lab alone, each panel's text inside its
    picture and clear of the other panels', at 8 points or more, with the controls wrapping?"""
    labs = [GANLab("ring", "minimax", device="cpu", hidden=32), GANLab("grid", "wgan-gp", device="cpu", hidden=32)]
    try:
        alone = pixels(labs[0].image.value).shape[1]
        assert_legible(labs[0].figure)  # the row of four panels too: the reverse KL's label is no longer cut
        box = side_by_side(*labs)
        assert box.layout.flex_flow == "row wrap"
        for lab in labs:
            assert lab.layout == "grid" and len(lab.figure.axes) == 5
            assert 2 * pixels(lab.image.value).shape[1] <= alone  # both fit where one lab did
            assert_legible(lab.figure)
            assert all(row.layout.flex_flow == "row wrap" for row in lab.widget.children[:3])
            lab.step(2)
            wait_until(lambda lab=lab: lab.session.step == 2)
        time.sleep(0.4)
        for lab in labs:  # it still trains and draws the four panels, the arrows on the same scale
            assert lab.figure.axes[0].get_title().startswith("G alone")
            assert "mean ‖∇x ℓ_G‖" in lab.readout.value
    finally:
        for lab in labs:
            lab.close()


def shown(session: Session):
    """``session`` drawn into a fresh row of panels: (readout, figure)."""
    from course_utils.widgets.gan_lab import _lab_figure, _reference_points, draw_lab

    figure = _lab_figure("row")
    FigureCanvasAgg(figure)  # so that figure.canvas.draw() lays the ticks out
    reference = _reference_points(session.config.data)
    readout = draw_lab(figure, session, view_limits(reference), reference)
    return readout, figure


def rejecting_sessions() -> dict[str, Session]:
    """The same G under the non-saturating and the minimax loss, with the same D, its last bias lowered by 8 so
    that it rejects the fakes (D(G(z)) ≈ 0)."""
    sessions = {loss: Session(lab_config("ring", loss, hidden=32, steps=10), device="cpu")
                for loss in ("gan", "minimax")}
    sessions["gan"].advance(5)
    state = {name: model.state_dict() for name, model in sessions["gan"].models.items()}
    for session in sessions.values():
        for name, model in session.models.items():
            model.load_state_dict(state[name])
        last = [m for m in session.models["critic"].modules() if isinstance(m, torch.nn.Linear)][-1]
        with torch.no_grad():
            last.bias -= 8.0
    return sessions


def test_the_arrows_show_the_minimax_pull_vanish_and_the_readout_gives_its_mean():
    """Issue 21, item 1: with the same G and a D that rejects the fakes, are the minimax loss's arrows drawn
    shorter than the non-saturating loss's (one fixed scale, not rescaled per frame), and is the readout's
    number the mean ‖∇x ℓ_G‖ over the samples shown, as autograd computes it from each loss's formula?"""
    import re

    from course_utils.widgets.gan_lab import drawn_arrows

    sessions = rejecting_sessions()
    losses = {"gan": lambda f: torch.nn.functional.softplus(-f),  # -log D(x), D = σ(f)
              "minimax": lambda f: -torch.nn.functional.softplus(f)}  # log(1 - D(x))
    lengths, means = {}, {}
    for loss, session in sessions.items():
        readout, figure = shown(session)
        samples_ax = figure.axes[0]
        lengths[loss] = drawn_arrows(samples_ax).norm(dim=1)
        fakes = torch.as_tensor(np.asarray(samples_ax.collections[1].get_offsets()), dtype=torch.float32)
        assert fakes.shape == (512, 2)
        x = fakes.clone().requires_grad_(True)
        (gradient,) = torch.autograd.grad(losses[loss](session.models["critic"](x)).sum(), x)  # ∇x ℓ_G per sample
        means[loss] = float(gradient.norm(dim=1).mean())
        quoted = float(re.search(r"mean ‖∇x ℓ_G‖ ([0-9.e+-]+) over the 512 samples of G alone", readout).group(1))
        assert quoted == pytest.approx(means[loss], rel=1e-3)
    assert means["minimax"] < means["gan"] / 100  # σ(f) against σ(-f) at f ≈ -8
    assert torch.all(lengths["minimax"] < lengths["gan"] - 0.1 * float(lengths["gan"].max()))
    assert float(lengths["gan"].max()) > 0


def test_the_best_preset_shows_g_alone_and_rejection_sampling_on_request():
    """Issue 21, item 2: for the best preset (rejection sampling), do the samples and the modes panels show and
    score plain G(z) by default, saying so, and does the checkbox switch both to rejection sampling's samples
    and their History, saying so? Is the checkbox hidden for a preset without rejection sampling?"""
    from course_utils.training import generate, sample_gan
    from course_utils.training.evaluation import coverage_fn

    lab = GANLab("ring", "best", device="cpu", hidden=32, steps=500)
    try:
        assert lab.rejection.layout.display == "" and not lab.rejection.value and lab.sampler == "G alone"
        lab.step(500)
        wait_until(lambda: lab.session.step == 500 and lab.g_alone.metric_step == [500], timeout=30)
        time.sleep(0.4)
        session, config = lab.session, lab.session.config
        generator = session.models["generator"]
        alone = coverage_fn(config, lambda n, rng: generate(generator, n, rng=rng), session.device)()
        modes_ax, samples_ax = lab.figure.axes[3], lab.figure.axes[0]
        assert lab.g_alone.metrics["modes"] == [alone["modes"]]
        assert modes_ax.get_lines()[0].get_ydata().tolist() == [alone["modes"]]
        assert "G alone" in modes_ax.get_title() and samples_ax.get_title().startswith("G alone")
        assert "G alone: modes" in lab.readout.value and "best (gan) on ring" in lab.readout.value
        plain = generate(generator, 512, rng=torch.Generator().manual_seed(12345))
        np.testing.assert_allclose(samples_ax.collections[1].get_offsets(), plain.numpy(), atol=1e-6)

        lab.rejection.value = True  # the box redraws both panels
        assert lab.sampler == "G + rejection sampling"
        assert modes_ax.get_lines()[0].get_ydata().tolist() == session.history.metrics["modes"]
        assert "rejection sampling" in modes_ax.get_title() and "rejection sampling" in samples_ax.get_title()
        assert "G + rejection sampling: modes" in lab.readout.value
        kept = sample_gan(session.models, config, 512, rng=torch.Generator().manual_seed(12345))
        np.testing.assert_allclose(samples_ax.collections[1].get_offsets(), kept.numpy(), atol=1e-6)

        lab.controls["loss"].value = "gan"  # no rejection sampling: no box, G alone
        assert lab.rejection.layout.display == "none" and not lab.rejection.value
        assert lab.figure.axes[3].get_title().startswith("mode coverage of G alone")
    finally:
        lab.close()


@pytest.mark.parametrize(("loss", "levels"), [("gan", {"log 4": np.log(4), "log 2": np.log(2)}),
                                              ("minimax", {"log 4": np.log(4), "log 2": np.log(2),
                                                           "−log 2": -np.log(2)}),
                                              ("wgan-gp", {})])
def test_the_loss_panel_marks_d_at_one_half(loss, levels):
    """Issue 21, item 2: does a GAN's loss panel draw, and label, D's loss at D = ½ (log 4) and each term's
    (log 2; -log 2 for the minimax G), in view, and a WGAN's none (its critic is no probability)?"""
    session = Session(lab_config("ring", loss, hidden=32, steps=20), device="cpu")
    session.advance(20)
    _, figure = shown(session)
    loss_ax = figure.axes[2]
    drawn = sorted(line.get_ydata()[0] for line in loss_ax.get_lines() if line.get_linestyle() == "--")
    assert drawn == pytest.approx(sorted(levels.values()))
    figure.canvas.draw()
    named = {tick.label2.get_text(): tick.get_loc() for tick in loss_ax.yaxis.get_minor_ticks()
             if tick.label2.get_visible()}
    assert named == pytest.approx(levels)
    low, high = loss_ax.get_ylim()
    assert all(low < level < high for level in levels.values())
    if levels:
        assert "at D = ½ (see right)" in [text.get_text() for text in loss_ax.get_legend().get_texts()]


def test_issue_21_a_loaded_best_run_says_best_and_resets_to_best(tmp_path: Path):
    """Issue 21, item 3: after loading a saved best run, does the loss control say "best" (not "gan", the loss
    its config names), and does reset start that run's config again, not a mix of gan's and best's settings?
    Is G alone's mode coverage saved and loaded with it?"""
    lab = GANLab("ring", "best", device="cpu", hidden=32, steps=30, seed=4)
    other = GANLab("grid", "wgan", device="cpu", hidden=32)
    try:
        lab.step(3)
        wait_until(lambda: lab.session.step == 3)
        folder = lab.save(tmp_path / "best")
        other.load(folder)
        assert other.controls["loss"].value == "best" and other.session.step == 3
        assert other.session.config == lab.session.config and other.rejection.layout.display == ""
        other.reset()
        assert other.session.step == 0 and other.session.config == lab.session.config
        other.controls["seed"].value = 5  # a control still changes the loaded run's config, and only that
        assert other.session.config == replace(lab.session.config, seed=5)
        other.controls["loss"].value = "gan"  # a new preset: its own settings
        assert other.session.config == lab_config("ring", "gan", hidden=32, seed=5)
    finally:
        lab.close()
        other.close()


def test_issue_21_a_run_not_from_a_preset_keeps_its_settings_on_reset(tmp_path: Path):
    """A saved config no preset makes (course train --set r1_gamma=0.5, say): the loss control shows its loss,
    and reset keeps its settings."""
    config = replace(lab_config("ring", "gan", hidden=32, steps=10), r1_gamma=0.5)
    Session(config, device="cpu").save(tmp_path / "run")
    (tmp_path / "run" / CONFIG_FILE).write_text(json.dumps(asdict(config)))
    lab = GANLab(device="cpu", hidden=32)
    try:
        lab.load(tmp_path / "run")
        assert lab.controls["loss"].value == "gan"
        lab.reset()
        assert lab.session.config == config
    finally:
        lab.close()


def test_issue_21_the_reverse_kl_axis_keeps_its_ticks_after_your_points():
    """After training on your points (no modes, no KL axis), does the ring's reverse-KL axis get its tick
    labels back?"""
    lab = GANLab("ring", "gan", device="cpu", hidden=32, steps=10)
    try:
        def kl_tick_labels():
            lab.figure.canvas.draw()
            return [label.get_text() for label in lab.figure.axes[4].get_yticklabels() if label.get_text()]

        assert kl_tick_labels()
        lab.use_points("0, 0\n1, 1\n2, 0")
        assert kl_tick_labels() == []
        lab.controls["data"].value = "ring"
        lab.step(10)
        wait_until(lambda: lab.session.step == 10)
        time.sleep(0.4)
        assert kl_tick_labels() and lab.figure.axes[4].get_ylabel() == "reverse KL (nats)"
    finally:
        lab.close()


def test_a_lab_session_is_the_engines(lab):
    """The lab trains a training.Session: its steps are train_gan's."""
    assert isinstance(lab.session, Session) and lab.session.config == lab.config


def test_your_points_train_the_lab_and_bad_ones_are_refused(lab, tmp_path: Path):
    """Do pasted points switch the data to "points", show in grey and save and load with the run; does bad
    text leave the lab as it was, with the line named in the readout?"""
    assert lab.points_box.layout.display == "none"
    lab.use_points("0, 0\n1, 1\n2, 0\n# a comment\n")
    assert lab.controls["data"].value == "points" and lab.session.config.data == "points"
    assert lab.points_box.layout.display == ""
    grey = lab.figure.axes[0].collections[0].get_offsets()
    np.testing.assert_array_equal(np.asarray(grey), [[0, 0], [1, 1], [2, 0]])
    lab.use_points("0, 0\nnot a point")
    assert "line 2" in lab.readout.value and len(lab.points) == 3
    lab.step(4)
    wait_until(lambda: lab.session.step == 4)
    folder = lab.save(tmp_path / "mine")
    other = GANLab("ring", "gan", device="cpu")
    try:
        other.load(folder)
        assert other.points.tolist() == [[0, 0], [1, 1], [2, 0]] and other.session.step == 4
        assert other.points_box.layout.display == ""  # your points, shown to edit
        assert other.session.history.to_dict() == lab.session.history.to_dict()
    finally:
        other.close()


def test_a_click_on_the_samples_panel_adds_a_point_there(lab):
    """Does a click (ipyevents' dataX/dataY: the PNG's pixels from its top left) at a data point of the samples
    panel add that point to your points and train on them, while a click on another panel does nothing?"""
    lab.use_points("0, 0\n1, 1\n2, 0")
    samples = lab.figure.axes[0]
    height = lab.figure.get_size_inches()[1] * lab.figure.dpi
    px, py = samples.transData.transform((1.5, 0.25))  # where (1.5, 0.25) is drawn, from the bottom left
    assert lab.point_at(px, height - py) == pytest.approx((1.5, 0.25), abs=1e-6)
    lab._on_click({"type": "click", "dataX": px, "dataY": height - py})
    assert lab.points.tolist()[-1] == pytest.approx([1.5, 0.25], abs=1e-3) and len(lab.points) == 4
    assert lab.session.config.data == "points" and "1.5" in lab.points_text.value
    losses_panel = lab.figure.axes[2].bbox
    lab._on_click({"type": "click", "dataX": losses_panel.x0 + 5, "dataY": height - losses_panel.y0 - 5})
    lab._on_click({"type": "click"})  # no position (not an image click): ignored
    assert len(lab.points) == 4
    lab.controls["data"].value = "ring"
    lab._on_click({"type": "click", "dataX": px, "dataY": height - py})  # drawing switches to your points
    assert lab.session.config.data == "points" and len(lab.points) == 5


def test_the_modes_panel_and_readout_show_what_noise_scores():
    """Issue 20, item 2: does the lab draw uniform noise's mode band and quote noise's scores in its readout, so
    a run at noise level is seen as one?"""
    from course_utils.widgets.gan_lab import noise_level

    lab = GANLab("grid", "gan", device="cpu")
    lab.step(1)
    noise = noise_level("grid")
    assert len(noise) == 3 and all(c.modes >= 20 for c in noise)
    assert "uniform noise scores" in lab.readout.value and "modes" in lab.readout.value
    modes_ax = lab.figure.axes[3]
    assert any(p.get_label() == "modes of uniform noise" for p in modes_ax.patches)
    lab.close()
