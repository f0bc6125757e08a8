"""`course train`: what it writes, and one-line errors (exit 2) that write nothing."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch
from conftest import one_line_error

from course_utils import training as T
from course_utils.cli import COMMANDS, main
from course_utils.metrics import mode_coverage
from course_utils.training import GANConfig, VAEConfig, load_checkpoint


def test_train_is_a_registered_subcommand() -> None:
    """Does `course train` exist without needing the course repository?"""
    assert "train" in COMMANDS
    assert COMMANDS["train"].needs_root is False


def test_gan_on_the_ring_writes_config_metrics_checkpoint_and_samples(tmp_path: Path,
                                                                        capsys: pytest.CaptureFixture[str]) -> None:
    """Does `course train wgan-gp --data ring` write the five files, consistent with each other?"""
    out = tmp_path / "runs" / "gp"
    argv = ["train", "wgan-gp", "--data", "ring", "--steps", "12", "--seed", "3", "--device", "cpu",
            "--out", str(out), "--no-progress"]
    assert main(argv) == 0
    assert sorted(p.name for p in out.iterdir()) == ["checkpoint.pt", "config.json", "metrics.json",
                                                     "samples.npy", "samples.png"]
    config = json.loads((out / "config.json").read_text())
    assert config["kind"] == "wgan-gp"
    assert GANConfig.from_dict(config["config"]) == GANConfig.preset("wgan-gp", "ring", steps=12, seed=3)
    metrics = json.loads((out / "metrics.json").read_text())  # strict JSON: NaN written as null
    assert metrics["step"] == 12 and metrics["interrupted"] is False
    assert set(metrics["final"]) == {"modes", "n_modes", "high_quality", "reverse_kl"}
    assert metrics["final"]["n_modes"] == 8
    assert metrics["history"]["step"][-1] == 12
    samples = np.load(out / "samples.npy")
    assert samples.shape == (2500, 2) and samples.dtype == np.float32
    assert (out / "samples.png").read_bytes().startswith(b"\x89PNG")
    assert load_checkpoint(out / "checkpoint.pt")["step"] == 12
    stdout = capsys.readouterr().out
    assert "wgan-gp on ring: 12 steps on cpu" in stdout and "modes" in stdout


def test_best_scores_the_rejection_sampled_points_it_saves(tmp_path: Path) -> None:
    """Does `course train best` use the tuned preset, and are samples.npy the points its metrics score?"""
    out = tmp_path / "best"
    argv = ["train", "best", "--data", "grid", "--steps", "30", "--device", "cpu", "--out", str(out), "--no-progress"]
    assert main(argv) == 0
    config = GANConfig.from_dict(json.loads((out / "config.json").read_text())["config"])
    assert config == GANConfig.preset("best", "grid", steps=30)
    assert config.drs_quantile is not None and config.lr_decay > 0
    samples = np.load(out / "samples.npy")
    centers_fn, std = T.MODE_DATA["grid"]
    coverage = mode_coverage(torch.from_numpy(samples), centers_fn(), std)
    final = json.loads((out / "metrics.json").read_text())["final"]
    assert final["high_quality"] == pytest.approx(coverage.fraction_high_quality)
    assert final["modes"] == coverage.modes


def test_vae_on_digits_writes_images_and_no_npy(tmp_path: Path) -> None:
    """Does `course train vae` (digits by default) write an image grid, the held-out ELBO, no samples.npy?"""
    out = tmp_path / "vae"
    assert main(["train", "vae", "--steps", "5", "--device", "cpu", "--out", str(out), "--no-progress"]) == 0
    assert not (out / "samples.npy").exists()
    assert (out / "samples.png").is_file()
    config = json.loads((out / "config.json").read_text())
    assert VAEConfig.from_dict(config["config"]).data == "digits"
    assert "test_elbo" in json.loads((out / "metrics.json").read_text())["final"]


@pytest.mark.parametrize(
    ("extra", "expected"),
    [
        (["--steps", "-5"], "argument --steps: '-5' must be at least 1"),
        (["--steps", "many"], "argument --steps: 'many' is not a whole number"),
        (["--seed", "-1"], "argument --seed: '-1' must be at least 0"),
        (["--data", "mnist"], "argument --data: invalid choice: 'mnist'"),
        (["--device", "tpu"], "argument --device: invalid choice: 'tpu'"),
    ],
)
def test_bad_arguments_exit_2_with_one_line_and_write_nothing(extra: list[str], expected: str, tmp_path: Path,
                                                              capsys: pytest.CaptureFixture[str]) -> None:
    """Does a bad option exit 2 with one line naming it, before anything is created?"""
    out = tmp_path / "out"
    assert main(["train", "gan", "--out", str(out), *extra]) == 2
    assert expected in one_line_error(capsys)
    assert not out.exists()


def test_unknown_model_exits_2(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    """Is a model kind that is not a preset or vae refused?"""
    assert main(["train", "hinge", "--out", str(tmp_path / "x")]) == 2
    assert "argument MODEL: invalid choice: 'hinge'" in one_line_error(capsys)


def test_unwritable_out_dir_exits_2(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """Is an --out that cannot be a folder (a file, or below a file) refused before training, untouched?"""
    a_file = tmp_path / "notes.txt"
    a_file.write_text("keep me")
    assert main(["train", "gan", "--out", str(a_file), "--device", "cpu"]) == 2
    assert "argument --out:" in one_line_error(capsys) and a_file.read_text() == "keep me"
    assert main(["train", "gan", "--out", str(a_file / "run"), "--device", "cpu"]) == 2
    assert "argument --out: cannot write to" in one_line_error(capsys)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["notes.txt"]


def test_unavailable_device_exits_2(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                    monkeypatch: pytest.MonkeyPatch) -> None:
    """Is --device cuda on a machine without CUDA a one-line usage error that writes nothing?"""
    monkeypatch.setattr("torch.cuda.is_available", lambda: False)
    assert main(["train", "gan", "--device", "cuda", "--out", str(tmp_path / "run")]) == 2
    assert "argument --device: preference='cuda' but torch sees no CUDA GPU" in one_line_error(capsys)
    assert not (tmp_path / "run").exists()


def test_divergence_exits_1_and_writes_nothing(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                               monkeypatch: pytest.MonkeyPatch) -> None:
    """Does a run that diverges exit 1 with the cause on one line and leave no output folder?"""
    def diverge(*args, **kwargs):
        raise T.TrainingDiverged("loss_d is nan at step 7 (wgan): try a lower lr")

    monkeypatch.setattr(T, "train_gan_models", diverge)
    out = tmp_path / "run"
    assert main(["train", "wgan", "--device", "cpu", "--out", str(out), "--no-progress"]) == 1
    assert "loss_d is nan at step 7" in one_line_error(capsys)
    assert not out.exists()


def test_a_lab_run_is_repeated_from_its_config_with_changes(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """Does `course train --config` train the GAN lab's saved config, with --set changing fields (JSON values,
    null included), and the points of a "points" run read from points.csv beside it?"""
    from course_utils.widgets.gan_lab import GANLab

    lab = GANLab("ring", "best", device="cpu", hidden=32, steps=50)
    try:
        lab.use_points("0, 0\n1, 1\n2, 0\n1, -1\n")
        saved = lab.save(tmp_path / "lab")
    finally:
        lab.close()
    out = tmp_path / "big"
    argv = ["train", "--config", str(saved / "config.json"), "--set", "steps=7", "--set", "drs_quantile=null",
            "--set", "loss=gan", "--device", "cpu", "--out", str(out), "--no-progress"]
    assert main(argv) == 0
    written = json.loads((out / "config.json").read_text())
    config = GANConfig.from_dict(written["config"])
    assert written["kind"] == "gan" and config.steps == 7 and config.drs_quantile is None
    assert config.hidden == 32 and config.data == "points"  # the rest as saved:
    assert config.lr_decay == GANConfig.preset("best", "ring").lr_decay
    assert "gan on points: 7 steps on cpu" in capsys.readouterr().out


def test_a_course_train_config_repeats_the_same_run(tmp_path: Path) -> None:
    """Is `course train --config <its own config.json>` the same run (the same History)?"""
    first, second = tmp_path / "first", tmp_path / "second"
    assert main(["train", "wgan", "--steps", "6", "--device", "cpu", "--out", str(first), "--no-progress"]) == 0
    assert main(["train", "--config", str(first / "config.json"), "--device", "cpu", "--out", str(second),
                 "--no-progress"]) == 0
    assert json.loads((first / "config.json").read_text()) == json.loads((second / "config.json").read_text())
    histories = [json.loads((run / "metrics.json").read_text())["history"] for run in (first, second)]
    assert histories[0] == histories[1]


@pytest.mark.parametrize(("extra", "expected"), [
    ([], "give MODEL (e.g. course train gan) or --config FILE"),
    (["gan", "--config", "c.json"], "give MODEL (e.g. course train gan) or --config FILE, not both"),
    (["--config", "missing.json"], "argument --config: 'missing.json' does not exist"),
    (["gan", "--set", "steps"], "argument --set: 'steps' is not KEY=VALUE"),
    (["gan", "--set", "stepz=3"], "unexpected keyword argument 'stepz'"),
    (["gan", "--set", "lr=-1"], "lr must be a positive number; got -1"),
])
def test_bad_configs_exit_2_with_one_line(extra: list[str], expected: str, tmp_path: Path, monkeypatch,
                                          capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.chdir(tmp_path)
    out = tmp_path / "out"
    assert main(["train", *extra, "--out", str(out)]) == 2
    assert expected in one_line_error(capsys)
    assert not out.exists()


def test_a_config_file_refuses_unknown_fields(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "config.json"
    path.write_text(json.dumps({"loss": "gan", "stepz": 3}))
    assert main(["train", "--config", str(path), "--out", str(tmp_path / "out")]) == 2
    assert "unknown GANConfig field(s): stepz" in one_line_error(capsys)
    path.write_text(json.dumps({"loss": "gan"}))
    assert main(["train", "--config", str(path), "--set", "stepz=3", "--out", str(tmp_path / "out")]) == 2
    assert "argument --set: 'stepz' is not a field of GANConfig" in one_line_error(capsys)
