"""training.pretrained: the shipped runs load, match their hash and their command, and score what they record."""

from __future__ import annotations

import argparse

import pytest
import torch

from course_utils.cli import train as train_command
from course_utils.metrics import mode_coverage
from course_utils.training import MODE_DATA, generate
from course_utils.training.pretrained import PRETRAINED_DIR, available, load_pretrained, read_manifest, ship

SHIPPED = available()


def config_of_command(command):
    parser = argparse.ArgumentParser()
    train_command.configure(parser)
    return train_command._make_config(parser.parse_args([*command, "--out", "unused"]))


def test_the_course_ships_runs():
    assert "gan-grid-8000-seed0" in SHIPPED and "gan-digits-2000-seed0" in SHIPPED
    files = {p.name for p in PRETRAINED_DIR.glob("*.pt")}
    assert files == {read_manifest()[name]["file"] for name in SHIPPED}, "a .pt file without a manifest entry"


@pytest.mark.parametrize("name", SHIPPED)
def test_a_shipped_run_is_what_its_command_trains(name):
    """Does the file load (sha256 checked), carry the config its recorded `course train` arguments build, and has
    it trained all its steps?"""
    run = load_pretrained(name)
    kind, config = config_of_command(run.command)
    assert run.kind == kind and run.config == config, f"{name}: remake it with benchmarks/make_pretrained.py {name}"
    assert run.history.step[-1] == config.steps and not run.history.interrupted
    assert not any(m.training for m in run.models.values())


@pytest.mark.parametrize("name", [n for n in SHIPPED if read_manifest()[n]["command"][2:3] in (["ring"], ["grid"])])
def test_a_shipped_2d_run_scores_what_its_history_records(name):
    """Do the loaded weights reproduce the last mode-coverage evaluation of the run that wrote them (the same z)?"""
    run = load_pretrained(name)
    centers, std = MODE_DATA[run.config.data]
    if run.config.drs_quantile is not None:
        pytest.skip("rejection sampling draws from the random stream of the run")
    samples = generate(run.models["generator"], 2_500, rng=torch.Generator().manual_seed(run.config.seed + 1),
                       noise=run.config.noise)
    scores = mode_coverage(samples, centers(), std)
    assert scores.modes == run.history.metrics["modes"][-1]
    assert scores.fraction_high_quality == pytest.approx(run.history.metrics["high_quality"][-1], abs=2e-3)


def test_a_changed_or_unknown_file_is_refused_with_the_fix(tmp_path):
    from course_utils.training import GANConfig, train_gan

    config = GANConfig(steps=3, eval_every=3)
    train_gan(config, device="cpu", out_dir=tmp_path / "run", progress=False)
    folder = tmp_path / "shipped"
    ship(tmp_path / "run" / "checkpoint.pt", "tiny", "gan", ["gan", "--steps", "3"], folder=folder)
    assert load_pretrained("tiny", folder=folder).config == config
    with pytest.raises(ValueError, match="no shipped run named 'other'; available: tiny"):
        load_pretrained("other", folder=folder)
    (folder / "tiny.pt").write_bytes((folder / "tiny.pt").read_bytes() + b"x")
    with pytest.raises(ValueError, match="make_pretrained.py tiny"):
        load_pretrained("tiny", folder=folder)
