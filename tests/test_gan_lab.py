"""widgets.gan_lab: the live lab's controls, thread, panels and saved runs, without a browser.

The browser test (tests/test_browser.py) presses play in JupyterLab; here the same buttons are pressed
from Python. Timings are not asserted beyond "within a second" (see benchmarks/gan_lab_speed.py).
"""

from __future__ import annotations

import io
import json
import time
from pathlib import Path

import numpy as np
import pytest
import torch
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
