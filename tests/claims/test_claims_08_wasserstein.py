"""Chapter 08's measured sentences, each against the baseline that would also pass it, over three seeds: the
chapter's own library calls at its quick profile, and its shipped converged WGANs (loaded, not retrained)."""

from __future__ import annotations

import argparse

import pytest
import torch

from course_utils.cli import train as train_command
from course_utils.divergences import wasserstein_samples
from course_utils.evidence import compare
from course_utils.training import GANConfig, generate, load_training_data
from course_utils.training.baselines import baseline_samples, mode_coverage_baselines
from course_utils.training.pretrained import load_pretrained, read_manifest
from course_utils.wgan_theory import (
    far_mass_example,
    lipschitz_estimate,
    parallel_lines_samples,
    penalised_critic_slopes,
    recorded_coverage,
    theta_gradient,
    train_critic,
)

SEEDS = (0, 1, 2)
VIEW = ((-2.0, 2.0), (-2.0, 2.0))  # the chapter's square around the ring for Lipschitz estimates
SHIPPED = {  # the chapter's name -> the shipped runs' prefix (course_utils/pretrained/PREFIX-seedS.pt)
    "weight clipping": "wgan-clip-ring-2000",
    "gradient penalty": "wgan-gp-ring-2000",
    "spectral norm": "wgan-sn-ring-2000",
}
COMMANDS = {  # the course train arguments each prefix was made with, before --seed
    "weight clipping": ["wgan", "--data", "ring", "--steps", "2000"],
    "gradient penalty": ["wgan-gp", "--data", "ring", "--steps", "2000"],
    "spectral norm": ["wgan", "--data", "ring", "--steps", "2000"],
}
SETTINGS = {"weight clipping": [], "gradient penalty": ["--set", "gp_lambda=10"],
            "spectral norm": ["--set", "spectral_norm=true"]}


def config_of_command(command: list[str]):
    """(kind, config) that `course train COMMAND` builds."""
    parser = argparse.ArgumentParser()
    train_command.configure(parser)
    return train_command._make_config(parser.parse_args([*command, "--out", "unused"]))


@pytest.fixture(scope="module")
def shipped():
    return {name: [load_pretrained(f"{prefix}-seed{seed}") for seed in SEEDS] for name, prefix in SHIPPED.items()}


@pytest.fixture(scope="module")
def noise():
    """The chapter's noise rows: mode coverage of the three baselines on the ring, seeds 0-2."""
    config = GANConfig.preset("wgan-gp", "ring", gp_lambda=10.0)
    return mode_coverage_baselines(config, SEEDS)


def _quality(coverages) -> list[float]:
    return [c.fraction_high_quality for c in coverages]


# ------------------------------------------------------------------ the shipped runs
@pytest.mark.parametrize("name", list(SHIPPED))
def test_each_shipped_run_is_what_its_recorded_command_trains(name, shipped):
    """Is every shipped run's config the one `course train` builds from its manifest command, and that command
    the one the chapter names (the preset, 2,000 steps on the ring, the seed, the constraint's setting)?"""
    manifest = read_manifest()
    for seed, run in zip(SEEDS, shipped[name], strict=True):
        command = manifest[f"{SHIPPED[name]}-seed{seed}"]["command"]
        assert command == [*COMMANDS[name], "--seed", str(seed), *SETTINGS[name]], command
        kind, config = config_of_command(command)
        assert (run.kind, run.config) == (kind, config), f"{name} seed {seed}: remake it with make_pretrained.py"
        assert run.history.step[-1] == 2_000 and not run.history.interrupted


# ------------------------------------------------------------------ the theory cells
def test_convergence_in_distribution_leaves_w1_at_1():
    """Sentence 5: '(1 − 1/n)δ0 + (1/n)δn tends to δ0 in distribution, yet W1 = 1 for every n' (closed form)."""
    for n in (10, 100, 1_000, 10_000):
        example = far_mass_example(n)
        assert example["sup_cdf_gap"] == pytest.approx(1 / n) and example["W1"] == pytest.approx(1.0), example


def test_the_independent_coupling_costs_more_than_w1_when_p_is_q():
    """Sentence 8: 'P = Q: W1 = 0, while the independent coupling moves mass a positive distance' (three piles)."""
    independent, optimal = [], []
    for seed in SEEDS:
        pile = 0.5 * torch.randn(12, 2, generator=torch.Generator().manual_seed(seed), dtype=torch.float64)
        independent.append(float(torch.cdist(pile, pile).mean()))
        optimal.append(float(wasserstein_samples(pile, pile)))
    result = compare(independent, optimal)
    assert result.holds and max(optimal) == 0.0, str(result)


def test_only_a_wasserstein_critic_pushes_theta_home():
    """Cells 13-14: 'the GAN's gradient is zero to many decimal places; both WGAN critics give about 1' (θ = 1,
    critics trained with seeds 0-2)."""
    left, right = parallel_lines_samples(1.0, 2_000, torch.Generator().manual_seed(1))
    pushes = {kind: [theta_gradient(train_critic(left, right, kind, steps=300, seed=s), kind, 1.0) for s in SEEDS]
              for kind in ("gan", "gp", "sn")}
    for kind in ("gp", "sn"):
        result = compare([abs(g) for g in pushes[kind]], [abs(g) for g in pushes["gan"]], paired=True)
        assert result.holds, f"{kind}: {result}"
        assert all(0.7 < g < 1.3 for g in pushes[kind]), pushes  # 'about 1', pointing θ home (positive at θ > 0)
    assert max(abs(g) for g in pushes["gan"]) < 1e-3, pushes["gan"]


def test_the_toy_penalty_weight_lets_the_slopes_far_above_1():
    """Cell 'λ = 0.1 against 10': the median slope at the penalty's points is larger at λ = 0.1 than at 10, by more
    than the seeds' spread, and λ = 10 holds it near 1 (ring data against the untrained generator, seeds 0-2)."""
    medians = {0.1: [], 10.0: []}
    config = GANConfig.preset("wgan-gp", "ring")
    for seed in SEEDS:
        real, _ = load_training_data("ring", 1_000, seed=seed)
        fake = baseline_samples("untrained", config, seed, 1_000)
        for gp_lambda in medians:
            medians[gp_lambda].append(float(penalised_critic_slopes(real, fake, gp_lambda, seed=seed).median()))
    result = compare(medians[0.1], medians[10.0])
    assert result.holds, str(result)
    assert all(abs(m - 1) < 0.3 for m in medians[10.0]), medians  # 'at λ = 10 the slopes sit near 1'
    assert min(medians[0.1]) > 3 * max(medians[10.0]), medians  # 'several times steeper'


def test_at_step_500_only_spectral_norm_has_begun_to_leave_noise(shipped, noise):
    """Cell 22: 'at their first evaluation, at step 500, [the shipped runs] were still at noise level for clipping
    and the penalty, while spectral normalisation had begun to leave it' (high-quality share against uniform noise)."""
    early = {name: [recorded_coverage(run.history, 500).fraction_high_quality for run in runs]
             for name, runs in shipped.items()}
    for name in ("weight clipping", "gradient penalty"):
        result = compare(early[name], _quality(noise["uniform"]))
        assert not result.holds, f"{name} at step 500 already beats noise: {result}"
    result = compare(early["spectral norm"], _quality(noise["uniform"]))
    assert result.holds, str(result)


@pytest.fixture(scope="module")
def quality(shipped):
    return {name: _quality(recorded_coverage(run.history) for run in runs) for name, runs in shipped.items()}


def test_spectral_norm_leaves_noise_with_every_mode(shipped, noise, quality):
    """Cell 25: 'spectral normalisation has left noise: every seed holds all 8 modes, with a share of high-quality
    samples above uniform noise's by more than the seeds' spread'."""
    assert all(recorded_coverage(run.history).modes == 8 for run in shipped["spectral norm"])
    result = compare(quality["spectral norm"], _quality(noise["uniform"]))
    assert result.holds, str(result)


@pytest.mark.parametrize("name", ["gradient penalty", "weight clipping"])
def test_the_penalty_and_clipping_are_not_separated_from_noise(name, noise, quality):
    """Cell 25: 'the seeds do not separate [the penalty / clipping] from noise' at 2,000 steps."""
    result = compare(quality[name], _quality(noise["uniform"]))
    assert not result.holds, f"{name} now beats noise: say so in the chapter ({result})"
    if name == "gradient penalty":  # 'seed 0 puts part of its samples on the modes, seeds 1 and 2 none yet'
        assert quality[name][0] > 10 * max(_quality(noise["uniform"])) and quality[name][1:] == [0.0, 0.0], quality


def test_the_rankings_the_chapter_states(quality):
    """Cell 25: 'at 2,000 steps spectral normalisation is ahead of the gradient penalty and of weight clipping;
    between the penalty and clipping the seeds do not separate them'."""
    for other in ("gradient penalty", "weight clipping"):
        result = compare(quality["spectral norm"], quality[other])
        assert result.holds, f"{other}: {result}"
    for a, b in (("gradient penalty", "weight clipping"), ("weight clipping", "gradient penalty")):
        result = compare(quality[a], quality[b])
        assert not result.holds, str(result)


def test_each_constraint_sets_its_critics_constant(shipped):
    """Cells 23-25: the shipped critics' Lipschitz constants over the chapter's square: clipping's orders of
    magnitude below 1 (under 0.01 each seed) and below spectral normalisation's by more than the seeds' spread;
    the penalty's above 1 on every seed; spectral normalisation's at most 1, and well below it (under 0.5)."""
    constants = {name: [lipschitz_estimate(run.models["critic"], *VIEW) for run in runs]
                 for name, runs in shipped.items()}
    assert max(constants["weight clipping"]) < 0.01, constants
    result = compare(constants["spectral norm"], constants["weight clipping"])
    assert result.holds, str(result)
    assert min(constants["gradient penalty"]) > 1, constants
    assert max(constants["spectral norm"]) < 0.5, constants


def test_no_trained_critic_finds_the_exact_w1(shipped):
    """Cells 26-27: 1,000 ring points against 1,000 samples of each shipped penalty generator (seeds 0-2). The
    spectrally normalised critic scores below the exact W1 of the two samples on every generator (paired), with its
    constant at most 1; the clipped one scores a sliver (under 5 % of W1); the penalised one, its constant above 1,
    scores below W1 on the seed-0 generator and above it on those of seeds 1 and 2."""
    real, _ = load_training_data("ring", 1_000, seed=3)
    exact, estimates, constants = [], {"gp": [], "sn": [], "clip": []}, {"gp": [], "sn": [], "clip": []}
    for run in shipped["gradient penalty"]:
        fake = generate(run.models["generator"], 1_000, rng=torch.Generator().manual_seed(4))
        exact.append(float(wasserstein_samples(real, fake)))
        for kind in estimates:
            critic = train_critic(real, fake, kind, steps=300)
            with torch.no_grad():
                estimates[kind].append(float(critic(real).mean() - critic(fake).mean()))
            constants[kind].append(lipschitz_estimate(critic, *VIEW))
    result = compare(exact, estimates["sn"], paired=True)
    assert result.holds and max(constants["sn"]) <= 1 + 1e-3, (str(result), constants["sn"])
    assert all(0 <= e < 0.05 * w for e, w in zip(estimates["clip"], exact, strict=True)), (estimates, exact)
    assert min(constants["gp"]) > 1, constants["gp"]
    gp_over = [e > w for e, w in zip(estimates["gp"], exact, strict=True)]
    assert gp_over == [False, True, True], (estimates["gp"], exact)
