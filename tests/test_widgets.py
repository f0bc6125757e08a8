"""course_utils.widgets: every builder renders, reacts to each control, and shows what the math says."""

from __future__ import annotations

import base64
import html
import math
import re

import ipywidgets
import numpy as np
import pytest
import scipy.stats as st
import torch

from course_utils.data import load_digits
from course_utils.distributions import inverse_cdf_sample, named_examples
from course_utils.widgets import LiveFigure, densities, welcome
from course_utils.widgets.base import choice, log_slider, selection_slider, slider

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


@pytest.fixture(scope="module")
def digits():
    return load_digits()


def check_output(live: LiveFigure) -> None:
    """The Output holds exactly one display_data with a PNG (base64), and .png decodes it."""
    (output,) = live.output.outputs
    assert output["output_type"] == "display_data"
    assert set(output["data"]) == {"image/png", "text/plain"}
    png = base64.b64decode(output["data"]["image/png"])
    assert png[:8] == PNG_MAGIC
    assert live.png == png


def change(live: LiveFigure, name: str, value) -> None:
    """Set one control from Python and check it triggered exactly one redraw with a new picture."""
    before_renders, before_png = live.renders, live.png
    assert live.controls[name].value != value, f"{name} already is {value!r}; the test must change it"
    live.controls[name].value = value
    assert live.renders == before_renders + 1, f"setting {name} did not redraw"
    assert live.png != before_png, f"setting {name} redrew the same picture"
    assert live.values()[name] == value
    check_output(live)


def title(live: LiveFigure, axis: int = 0) -> str:
    return live.figure.axes[axis].get_title()


def readout(live: LiveFigure) -> str:
    """The numbers shown above the figure, after checking that the HTML widget shows each line of them."""
    for line in live.readout.splitlines():
        assert html.escape(line) in live.readout_widget.value, (line, live.readout_widget.value)
    return live.readout


def number_after(text: str, prefix: str) -> float:
    match = re.search(re.escape(prefix) + r"\s*([-+]?[\d.,]+|inf)", text)
    assert match, f"{prefix!r} not in {text!r}"
    return float(match.group(1).replace(",", ""))


# --------------------------------------------------------------------------- LiveFigure itself
def test_live_figure_draws_once_and_passes_control_values():
    """Does a LiveFigure draw once on creation, passing the controls' values by name, and redraw on change?"""
    calls = []

    def draw(fig, a, b):
        calls.append((a, b))
        fig.axes[0].set_title(f"{a}-{b}")

    live = LiveFigure({"a": slider("a", 1, 0, 5, 1), "b": choice("b", ["x", "y"])}, draw)
    assert calls == [(1, "x")] and live.renders == 1
    check_output(live)
    change(live, "b", "y")
    change(live, "a", 3)
    assert calls == [(1, "x"), (1, "y"), (3, "y")]
    assert title(live) == "3-y"
    assert live.last_update_s >= 0
    assert isinstance(live.widget, ipywidgets.VBox)
    assert "application/vnd.jupyter.widget-view+json" in live._repr_mimebundle_()


def test_live_figure_fresh_figure_each_update():
    """Does each update start from a new empty figure (no artists pile up across redraws)?"""

    def draw(fig, k):
        fig.axes[0].plot([0, k], [0, k])

    live = LiveFigure({"k": slider("k", 1, 1, 5, 1)}, draw, ncols=2)
    for k in (2, 3, 4):
        change(live, "k", k)
    assert len(live.figure.axes) == 2
    assert len(live.figure.axes[0].get_lines()) == 1


def test_control_helpers_do_not_update_continuously():
    """Do sliders fire only on release, pick Int vs Float sliders, and choice default to the first option?"""
    assert isinstance(slider("n", 1, 0, 10, 1), ipywidgets.IntSlider)
    assert isinstance(slider("x", 0.5, 0, 1, 0.1), ipywidgets.FloatSlider)
    for control in (
        slider("n", 1, 0, 10, 1),
        log_slider("h", 0.1, -3, 0),
        selection_slider("n", [1, 10], 10),
    ):
        assert control.continuous_update is False
    assert choice("c", ["p", "q"]).value == "p"
    assert choice("c", {"p": 1, "q": 2}, "q").value == "q"
    assert log_slider("h", 0.1, -3, 0).min == -3


# --------------------------------------------------------------------------- chapter 01
def test_density_vs_probability():
    """Does density_vs_probability show density 4.000 for Uniform(0, 0.25) and follow each control?"""
    live = densities.density_vs_probability()
    assert live.renders == 1
    check_output(live)
    assert "density p(0.12) = 4.000" in readout(live)  # x0 = -0.1 + 0.5·0.45 = 0.125
    assert number_after(readout(live), "probability / width =") == pytest.approx(4.0, abs=1e-3)

    change(live, "distribution", "Gaussian N(0, 1)")
    assert number_after(readout(live), "density p(0.00) =") == pytest.approx(st.norm.pdf(0.0), abs=1e-3)

    change(live, "center", 0.2)  # x0 = -4 + 0.2·8 = -2.4
    assert number_after(readout(live), "density p(-2.40) =") == pytest.approx(st.norm.pdf(-2.4), abs=1e-3)

    change(live, "half_width", 0.5)
    expected = st.norm.cdf(-1.9) - st.norm.cdf(-2.9)
    assert number_after(readout(live), "P(|X − -2.40| ≤ 0.5) =") == pytest.approx(expected, abs=1e-4)
    ratio = number_after(readout(live), "probability / width =")
    assert ratio == pytest.approx(expected / 1.0, abs=1e-3)


def test_histogram_explorer_sample_size():
    """Does histogram_explorer start at n = 100 with 40 bins, and say so again when n becomes 10,000?"""
    live = densities.histogram_explorer()
    check_output(live)
    assert readout(live).startswith("n = 100, 40 bins")
    change(live, "n", 10_000)
    assert readout(live).startswith("n = 10,000, 40 bins")
    errors = live.figure.axes[1].get_lines()[0].get_ydata()
    assert len(errors) == len(densities.SAMPLE_SIZES) and errors[-1] < errors[0]
    assert number_after(readout(live), "L1 error") == pytest.approx(
        errors[densities.SAMPLE_SIZES.index(10_000)], abs=5e-4
    )


def test_histogram_explorer_bins():
    """Does changing bins to 20 redraw 20 stairs over the example's range and say '20 bins'?"""
    live = densities.histogram_explorer()
    change(live, "bins", 20)
    assert ", 20 bins," in readout(live)
    values, edges, _ = live.figure.axes[0].patches[0].get_data()
    assert len(values) == 20 and edges[0] == -4.5 and edges[-1] == 5.0


def test_histogram_explorer_distribution_and_seed():
    """With Uniform(0, 0.25), is the pdf at 4 and no histogram mass outside [0, 0.25]; does seed redraw?"""
    live = densities.histogram_explorer()
    change(live, "distribution", "Uniform(0, 0.25)")
    values, edges, _ = live.figure.axes[0].patches[0].get_data()
    assert np.all(values[(edges[1:] <= 0) | (edges[:-1] >= 0.25)] == 0)
    assert np.sum(values * np.diff(edges)) == pytest.approx(1.0)
    assert live.figure.axes[0].get_lines()[0].get_ydata().max() == pytest.approx(4.0)
    change(live, "seed", 3)


def test_inverse_cdf_sampler_target():
    """After choosing Laplace(0, 1), is the middle panel Laplace's CDF and the left histogram ≈ 1?"""
    live = densities.inverse_cdf_sampler()
    check_output(live)
    assert len(live.figure.axes) == 3
    change(live, "distribution", "Laplace(0, 1)")
    cdf_line = live.figure.axes[1].get_lines()[0]
    np.testing.assert_allclose(cdf_line.get_ydata(), st.laplace.cdf(cdf_line.get_xdata()), atol=1e-6)
    left_values, _, _ = live.figure.axes[0].patches[0].get_data()
    assert np.all(np.abs(left_values - 1.0) < 0.4)  # 1,000 uniform draws in 20 bins: heights ≈ 1


def test_inverse_cdf_sampler_n_and_seed():
    """With n = 3,000 and seed 7, does the readout say n = 3,000 and the KS distance equal scipy's kstest?"""
    live = densities.inverse_cdf_sampler()
    change(live, "n", 3_000)
    change(live, "seed", 7)
    assert readout(live).startswith("Exponential(1), n = 3,000, seed 7:")
    x = inverse_cdf_sample(named_examples()["Exponential(1)"].dist, 3_000, torch.Generator().manual_seed(7))
    ks = st.kstest(x.double().numpy(), st.expon.cdf).statistic
    assert number_after(readout(live), "KS distance between the samples and the target") == pytest.approx(
        ks, abs=6e-4)


def legend_bottom_over_data_top(ax) -> float:
    """The legend's lower edge minus the tallest line or bar, in data units (> 0: the legend is off the data)."""
    legend = ax.get_legend()
    bottom = ax.transData.inverted().transform(legend.get_window_extent(ax.figure._get_renderer()))[0, 1]
    tops = [float(np.max(line.get_ydata())) for line in ax.get_lines()  # not axvline: its y is in axes units
            if len(line.get_ydata()) and line.get_transform().contains_branch(ax.transData)]
    tops += [float(np.max(patch.get_data()[0])) for patch in ax.patches if hasattr(patch, "get_data")]
    tops += [float(c.get_datalim(ax.transData).y1) for c in ax.collections]
    return bottom - max(tops)


@pytest.mark.parametrize(("builder", "axis", "changes"), [
    (densities.density_vs_probability, 0, {}),  # Uniform(0, 0.25): a flat top at 4 across the plot
    (densities.density_vs_probability, 0, {"distribution": "Gaussian N(0, 1)", "center": 0.4}),
    (densities.histogram_explorer, 0, {"distribution": "Uniform(0, 0.25)"}),
    (densities.inverse_cdf_sampler, 2, {"distribution": "Cauchy(0, 1)"}),
    (densities.inverse_cdf_sampler, 2, {"distribution": "Uniform(0, 0.25)", "n": 100}),
    (densities.latent_noise_explorer, 0, {"transform": "tanh"}),
])
def test_densities_legends_sit_above_the_data(builder, axis, changes):
    """Does each densities legend sit in the band above the tallest curve or bar, not on the data (issue 10)?"""
    live = builder()
    for name, value in changes.items():
        change(live, name, value)
    live.figure.draw_without_rendering()
    assert legend_bottom_over_data_top(live.figure.axes[axis]) > 0


def span(live: LiveFigure) -> tuple[float, float]:
    match = re.search(r"span \[(-?[\d.]+), (-?[\d.]+)\]", readout(live))
    assert match, readout(live)
    return float(match.group(1)), float(match.group(2))


def test_latent_noise_explorer():
    """Does latent_noise_explorer follow its controls: bounded for identity/tanh, wide for matched?"""
    live = densities.latent_noise_explorer()
    check_output(live)
    assert readout(live).startswith("g = identity")
    low, high = span(live)
    assert -1.0 <= low < -0.99 and 0.99 < high <= 1.0  # uniform noise on [-1, 1]

    change(live, "transform", "tanh")
    low, high = span(live)
    assert readout(live).startswith("g = tanh(2z), z ~ uniform,") and -0.97 < low and high < 0.97  # tanh(2) = 0.964

    change(live, "target", "Gaussian N(0, 1)")
    change(live, "transform", "matched")
    low, high = span(live)
    assert low < -3.0 and high > 3.0  # uniform noise reaches an unbounded target through F⁻¹

    change(live, "latent", "gaussian")
    assert "z ~ gaussian" in readout(live)


# --------------------------------------------------------------------------- chapter 00
def test_digit_generator(digits):
    """Does digit_generator show k, the count D + Dk + 1 and the median clarity ratio, and follow its controls?"""
    live = welcome.digit_generator(digits)
    check_output(live)
    assert "k = 10 (705 numbers)" in readout(live)
    from course_utils.metrics import class_clarity
    from course_utils.ppca import fit_ppca

    samples = fit_ppca(digits.x_train, 10).sample(welcome.N_SHOWN, torch.Generator().manual_seed(0)).float()
    ratio, _ = class_clarity(samples, digits.x_train, digits.y_train)  # what the readout must say
    assert number_after(readout(live), f"ratio of these {welcome.N_SHOWN} samples: median") == pytest.approx(
        float(ratio.median()), abs=0.006)
    left_image = np.asarray(live.figure.axes[0].get_images()[0].get_array())
    assert left_image.shape == (3 * 9 + 1, 8 * 9 + 1)  # 24 samples in 3 rows of 8

    change(live, "latent_dim", 20)
    assert "k = 20 (1,345 numbers)" in readout(live)  # 64 + 64·20 + 1
    change(live, "seed", 5)
    assert "k = 20" in readout(live)
    assert number_after(readout(live), "median distance to the nearest training image") > 0


# --------------------------------------------------------------------------- chapter 03
def test_loss_gradient_explorer_shows_saturation():
    """At z = -6, y = 1 does the title show a near-zero MSE gradient and a CE gradient near -1, and react?"""
    from course_utils.widgets import cross_entropy

    live = cross_entropy.loss_gradient_explorer()
    check_output(live)
    gradients = readout(live).splitlines()[1]
    assert gradients.startswith("d loss / dz")
    assert abs(number_after(gradients, "MSE")) < 0.01
    assert number_after(gradients, "CE") == pytest.approx(-0.9975, abs=1e-3)
    change(live, "label", 0)
    change(live, "logit", 2.0)
    expected = torch.sigmoid(torch.tensor(2.0)).item()  # d BCE / dz = σ(z) - y with y = 0
    assert number_after(readout(live).splitlines()[1], "CE") == pytest.approx(expected, abs=1e-3)


def test_training_race_redraws_and_shows_the_accuracy_gap():
    """Does the race's readout show BCE well ahead of MSE from the default wrong start, and redraw on change?"""
    from course_utils.widgets import cross_entropy

    live = cross_entropy.training_race(n_points=200)
    check_output(live)
    mse, bce = (number_after(readout(live), f"{name}") for name in ("final accuracy MSE", "%, CE"))
    assert bce > 70 and mse < 50
    change(live, "wrongness", 0.0)
    change(live, "steps", 50)
    change(live, "learning_rate", 0.1)


# --------------------------------------------------------------------------- chapter 04
def test_discrete_kl_explorer_reports_divergences_and_infinite_kl():
    """Does the title show KL(p‖q) from scipy, and inf when a q entry drops to 0 where p has mass?"""
    from scipy.special import rel_entr

    from course_utils.widgets import kl

    live = kl.discrete_kl_explorer()
    check_output(live)
    p, q = np.array([0.4, 0.3, 0.2, 0.1]), np.full(4, 0.25)
    assert number_after(readout(live), "KL(p‖q) =") == pytest.approx(rel_entr(p, q).sum(), abs=1e-3)
    change(live, "q0", 0.0)
    assert "KL(p‖q) = inf" in readout(live)
    assert number_after(readout(live), "JS =") <= np.log(2) + 1e-9


def test_forward_reverse_fit_follows_the_start():
    """Does the reverse fit settle on the mode nearest its start, while the forward fit stays put?"""
    from course_utils.widgets import kl

    live = kl.forward_reverse_fit()
    check_output(live)
    assert number_after(readout(live), "settles at μ =") == pytest.approx(2.0, abs=0.05)
    change(live, "reverse_start", -2.5)
    assert number_after(readout(live), "settles at μ =") == pytest.approx(-2.0, abs=0.05)
    change(live, "separation", 0.5)
    change(live, "left_weight", 0.5)


def test_discrete_kl_explorer_shows_normalised_values_in_rows():
    """Does a p weight of 0.65 draw a bar labelled 0.52, with p's and q's sliders in their own labelled rows?"""
    from course_utils.widgets import kl

    live = kl.discrete_kl_explorer()
    change(live, "p0", 0.65)  # weights (0.65, 0.3, 0.2, 0.1) sum to 1.25
    labels = [text.get_text() for text in live.figure.axes[0].texts]
    assert labels == ["0.52", "0.24", "0.16", "0.08", "0.25", "0.25", "0.25", "0.25"]
    p_row, q_row, shown_readout, output = live.widget.children
    assert shown_readout is live.readout_widget and output is live.output
    for name, row in (("p", p_row), ("q", q_row)):
        assert f"<b>{name}</b>" in row.children[0].value and "divided by their sum" in row.children[0].value
        assert list(row.children[1:]) == [live.controls[f"{name}{k}"] for k in range(4)]


def test_forward_reverse_fit_sliders_are_wide():
    """Are the fit's sliders wider than ipywidgets' default 300 px (which left a 90 px track)?"""
    from course_utils.widgets import kl

    live = kl.forward_reverse_fit()
    assert all(int(control.layout.width.removesuffix("px")) >= 400 for control in live.controls.values())


def test_a_refused_setting_shows_its_reason_instead_of_a_stale_figure():
    """When every p slider is at 0, does the readout say why (no traceback, no stale picture), and recover?"""
    from course_utils.widgets import kl

    live = kl.discrete_kl_explorer()
    for k in range(3):
        live.controls[f"p{k}"].value = 0.0
    before = live.png
    change(live, "p3", 0.0)
    assert "must not all be 0" in readout(live) and "color: #C44E52" in live.readout_widget.value
    assert live.png != before and not live.figure.axes[0].patches
    change(live, "p0", 0.5)
    assert "color" not in live.readout_widget.value and "H(p) = 0.000" in readout(live)


# --------------------------------------------------------------------------- chapter 07
def test_optimal_discriminator_explorer_shows_the_value_as_2_js_minus_log_4():
    """Does the readout's V(D*, G) equal 2·JS − log 4, reach −log 4 at q = p, and is the D* curve p/(p + q)?"""
    from course_utils.widgets import gans

    live = gans.optimal_discriminator_explorer()
    check_output(live)
    value, js = number_after(readout(live), "V(D*, G) ="), number_after(readout(live), "JS(p, q) =")
    assert value == pytest.approx(2 * js - math.log(4), abs=2e-4) and js > 0.1
    change(live, "q_mean", 0.0)
    assert number_after(readout(live), "V(D*, G) =") == pytest.approx(-math.log(4), abs=1e-4)
    change(live, "q_std", 2.0)
    p_line, q_line, d_line = live.figure.axes[0].get_lines()[:3]
    expected = p_line.get_ydata() / (p_line.get_ydata() + q_line.get_ydata())
    np.testing.assert_allclose(d_line.get_ydata(), expected, rtol=1e-9)
    assert number_after(readout(live), "V(D*, G) =") > -math.log(4)


# --------------------------------------------------------------------------- chapter 08
def test_parallel_lines_explorer_shows_only_w1_shrinking():
    """At θ = 0.5 and θ = -0.2: is W₁ = |θ| while JS stays log 2 and KL ∞, and at θ = 0 are all three 0?"""
    from course_utils.widgets import wasserstein

    live = wasserstein.parallel_lines_explorer()
    check_output(live)
    assert number_after(readout(live), "W₁ =") == pytest.approx(0.5)
    assert number_after(readout(live), "JS =") == pytest.approx(math.log(2), abs=1e-4)
    assert "KL(P₀‖P_θ) = ∞" in readout(live)
    change(live, "theta", -0.2)
    assert number_after(readout(live), "W₁ =") == pytest.approx(0.2)
    change(live, "theta", 0.0)
    assert number_after(readout(live), "JS =") == 0 and "KL(P₀‖P_θ) = 0.000" in readout(live)


# --------------------------------------------------------------------------- chapter 02
def test_generative_vs_discriminative_explorer_fits_both_models_on_the_shown_points():
    """Are the readout's test errors those of the two fits on the points drawn, the outlier's log p(x) lower than
    the inlier's, and does logistic regression's line and the generative model's boundary follow the controls?"""
    from course_utils.generative_classifiers import error_rate, fit_gaussian_classes, fit_logistic_regression
    from course_utils.widgets import generative

    live = generative.generative_vs_discriminative_explorer()
    check_output(live)
    change(live, "n", 40)
    x, y = generative.two_gaussian_classes(40, 2.5, 1.0, 0.0, torch.Generator().manual_seed(0))
    test_x, test_y = generative.two_gaussian_classes(generative.TEST_POINTS, 2.5, 1.0, 0.0,
                                                     torch.Generator().manual_seed(1))
    expected = error_rate(fit_gaussian_classes(x, y, ridge=1e-3), test_x, test_y)
    assert number_after(readout(live), "generative") == pytest.approx(100 * expected, abs=0.051)
    lr = error_rate(fit_logistic_regression(x, y), test_x, test_y)
    assert number_after(readout(live), "logistic regression") == pytest.approx(100 * lr, abs=0.051)
    assert number_after(readout(live), "at (0, 0):") > number_after(readout(live), "at (0, 4.5):")
    shown = np.concatenate([line.get_xydata() for line in live.figure.axes[1].get_lines()[:2]])
    np.testing.assert_allclose(np.sort(shown[:, 0]), np.sort(x[:, 0].numpy()))  # the training points, both classes
    change(live, "separation", 0.0)  # classes on top of each other: no better than a coin flip
    assert number_after(readout(live), "logistic regression") > 35


# --------------------------------------------------------------------------- chapter 06
def test_shift_explorer_shows_the_convolution_moving_with_the_digit():
    """Shifted by one pixel: is the CNN's feature map the original map shifted (centre), while the MLP's hidden
    units change; and unshifted, is the MLP's change 0?"""
    from course_utils.data import load_digits
    from course_utils.weight_sharing import train_digit_models
    from course_utils.widgets import weight_sharing

    live = weight_sharing.shift_explorer(train_digit_models(load_digits(), steps=50))
    check_output(live)
    assert number_after(readout(live), "changed by") == 0
    change(live, "dx", 1)
    assert number_after(readout(live), "max difference") < 1e-3
    assert number_after(readout(live), "changed by") > 0.01
    change(live, "dy", -2)
    assert number_after(readout(live), "max difference") < 1e-3


def test_parameter_counter_counts_both_layers():
    from torch import nn

    from course_utils.widgets import weight_sharing

    live = weight_sharing.parameter_counter()
    check_output(live)
    change(live, "side", 28)
    assert number_after(readout(live), "dense") == sum(p.numel() for p in nn.Linear(784, 784).parameters())
    assert number_after(readout(live), "kernel") == sum(p.numel() for p in nn.Conv2d(1, 1, 3).parameters())
    change(live, "kernel", 5)
    assert number_after(readout(live), "kernel") == 26


def test_regularization_explorer_reads_out_the_runs_numbers():
    """Does the readout give the chosen network's training and validation MSE, the unregularised network's, the
    weights near zero under L1, and the network at its step under early stopping?"""
    from course_utils.regularization import L1_STRENGTHS, L2_STRENGTHS, STOP_STEPS, chapter_runs
    from course_utils.widgets import regularization as regularization_widgets

    runs = chapter_runs()
    live = regularization_widgets.regularization_explorer()
    check_output(live)
    k, plain = runs.index("l2", L2_STRENGTHS[4]), runs.index("none")  # the default: L2 at strength 5
    text = readout(live)
    assert number_after(text, "training MSE") == pytest.approx(float(runs.train_loss[k, -1]), abs=6e-5)
    assert number_after(text, "validation MSE") == pytest.approx(float(runs.val_loss[k, -1]), abs=6e-5)
    assert number_after(text, "steps: training") == pytest.approx(float(runs.train_loss[plain, -1]), abs=6e-5)
    assert number_after(text, ", validation") == pytest.approx(float(runs.val_loss[plain, -1]), abs=6e-5)
    change(live, "kind", "l1")
    k = runs.index("l1", L1_STRENGTHS[4])
    assert number_after(readout(live), "of which") == int((runs.weights[k, -1].abs() < 1e-3).sum())
    change(live, "kind", "early_stopping")
    change(live, "level", 6)
    at = int(torch.searchsorted(runs.steps, torch.tensor(STOP_STEPS[5])))
    text = readout(live)
    assert number_after(text, "training stopped at step") == STOP_STEPS[5] == int(runs.steps[at])
    assert number_after(text, "validation MSE") == pytest.approx(float(runs.val_loss[plain, at]), abs=6e-5)


def test_constraint_explorer_sets_the_measured_constant_beside_its_bound():
    """Is the measured Lipschitz constant at most the bound, is spectral normalisation's bound its scale K, and
    does the unconstrained critic's score run away from W1 = 2?"""
    from course_utils.regularization import CONSTRAINT_STRENGTHS, critic_report
    from course_utils.widgets import regularization as regularization_widgets

    live = regularization_widgets.constraint_explorer()
    check_output(live)
    text = readout(live)  # spectral normalisation at strength 3: K = 1
    assert number_after(text, "grid)") <= number_after(text, "spectral norms)") == pytest.approx(1.0, abs=0.01)
    change(live, "level", 1)
    assert number_after(readout(live), "spectral norms)") == pytest.approx(CONSTRAINT_STRENGTHS["spectral_norm"][0],
                                                                            rel=0.01)
    change(live, "kind", "clip")
    report = critic_report("clip", CONSTRAINT_STRENGTHS["clip"][0])
    text = readout(live)
    assert number_after(text, "grid)") == pytest.approx(report.lipschitz, abs=6e-4)
    assert number_after(text, "spectral norms)") == pytest.approx(report.bound, abs=6e-4)
    change(live, "kind", "none")
    assert number_after(readout(live), "E_P f − E_Q f =") > 10


def test_latent_explorer_decodes_the_slider_point_and_names_the_nearest_code(digits):
    """Does the readout give the prior density at z and the nearest encoded test digit, and does the picture
    change with z? A VAE without a 2-d latent is refused with the fix."""
    from course_utils.models import MLPVAE
    from course_utils.widgets import vae as vae_widgets

    torch.manual_seed(0)
    vae = MLPVAE(latent_dim=2, hidden=16).eval()
    live = vae_widgets.latent_explorer(vae, digits)
    check_output(live)
    change(live, "z1", 1.5)
    change(live, "z2", -0.5)
    text = readout(live)
    density = float(re.search(r"p\(z\) = ([\d.]+e[-+]\d+)", text).group(1))  # scientific: 2e-05 far out
    assert density == pytest.approx(math.exp(-(1.5**2 + 0.5**2) / 2) / (2 * math.pi), rel=0.01)
    with torch.no_grad():
        means = vae.encode(digits.x_test)[0]
    distance = (means - torch.tensor([1.5, -0.5])).norm(dim=1)
    nearest = int(distance.argmin())
    assert f"a {int(digits.y_test[nearest])} at distance {float(distance[nearest]):.2f}" in text
    with pytest.raises(ValueError, match="latent_dim=8"):
        vae_widgets.latent_explorer(MLPVAE(latent_dim=8, hidden=16), digits)


def test_interpolation_reports_both_digits_and_their_latent_distance(digits):
    from course_utils.models import MLPVAE
    from course_utils.widgets import vae as vae_widgets

    torch.manual_seed(1)
    vae = MLPVAE(latent_dim=2, hidden=16).eval()
    live = vae_widgets.interpolation(vae, digits)
    check_output(live)
    change(live, "end", 7)
    text = readout(live)
    with torch.no_grad():
        means = vae.encode(digits.x_test[[0, 7]])[0]
    assert f"(a {int(digits.y_test[0])})" in text and f"(a {int(digits.y_test[7])})" in text
    assert number_after(text, "latent distance") == pytest.approx(float((means[0] - means[1]).norm()), abs=0.006)


def test_beta_explorer_shows_each_run_s_rate_and_distortion(digits):
    from course_utils.models import MLPVAE
    from course_utils.variational import score_beta_sweep
    from course_utils.widgets import vae as vae_widgets

    torch.manual_seed(2)
    sweep = score_beta_sweep(digits, (0.5, 1.0, 4.0), tuple(MLPVAE(latent_dim=4, hidden=16) for _ in range(3)))
    live = vae_widgets.beta_explorer(sweep)
    check_output(live)
    assert live.values()["beta"] == 1.0
    change(live, "beta", 4.0)
    text = readout(live)
    assert number_after(text, "rate") == pytest.approx(sweep.rates[2], abs=0.006)
    assert number_after(text, "distortion") == pytest.approx(sweep.distortions[2], abs=0.006)
    assert number_after(text, "−ELBO") == pytest.approx(sweep.rates[2] + sweep.distortions[2], abs=0.011)
    assert number_after(text, "active dimensions") == sweep.active[2]
