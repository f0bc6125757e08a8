"""The training benchmarks (`course_utils.bench`, `course bench`): statistics, tables, JSON, errors.

No timing assertions: the numbers of a --quick run mean nothing; what is checked is that the
pipeline runs end to end and reports what it says it reports.
"""

from __future__ import annotations

import json
import math
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
import scipy.stats
from conftest import one_line_error

from course_utils import bench
from course_utils.bench import throughput
from course_utils.cli import COMMANDS, main
from course_utils.training import GANConfig


# ---------------------------------------------------------------------------------------------- summaries
def test_summary_matches_the_closed_form() -> None:
    """Is the standard error s/√n with the unbiased (ddof = 1) variance, as scipy.stats.sem computes it?"""
    values = [1.0, 2.0, 3.0, 6.0]
    summary = bench.summarize(values)
    assert summary.mean == pytest.approx(3.0)
    # s² = ((−2)² + (−1)² + 0² + 3²) / 3 = 14/3
    assert summary.sem == pytest.approx(math.sqrt(14 / 3) / 2)
    assert summary.sem == pytest.approx(scipy.stats.sem(values))
    assert (summary.n, summary.total) == (4, 4)


def test_summary_leaves_out_undefined_values_and_counts_them() -> None:
    """Is a NaN or None reverse KL (no high-quality sample) left out of the mean, and counted?"""
    summary = bench.summarize([0.5, float("nan"), None, 1.5])
    assert summary.mean == pytest.approx(1.0)
    assert summary.sem == pytest.approx(np.std([0.5, 1.5], ddof=1) / math.sqrt(2))
    assert (summary.n, summary.total) == (2, 4)
    assert bench.format_summary(summary) == "1.00 ± 0.50 (2/4)"


def test_one_value_has_no_standard_error_and_none_has_no_mean() -> None:
    """With one seed, is the mean printed alone; with no finite value, a dash?"""
    one = bench.summarize([7.0])
    assert one.mean == 7.0 and math.isnan(one.sem)
    assert bench.format_summary(one, 1) == "7.0"
    assert bench.format_summary(bench.summarize([float("nan")])) == "—"
    assert bench.format_summary(bench.summarize([0.95, 0.97]), 1, percent=True) == "96.0 ± 1.0%"


# ---------------------------------------------------------------------------------------------- tables
def _records(data: str, config: str, modes: list[int]) -> list[dict]:
    n_modes = 8 if data == "ring" else 25
    return [{"config": config, "data": data, "seed": s, "steps": 100, "modes": m, "n_modes": n_modes,
             "high_quality": 0.9, "reverse_kl": 0.1, "wall_s": 2.0, "device": "cpu"} for s, m in enumerate(modes)]


def test_mode_coverage_table_prints_ours_beside_the_published_rows() -> None:
    """Does the table hold our mean ± SE, PacGAN's and VEEGAN's rows (VEEGAN: no reverse KL), and the jobs?"""
    records = _records("ring", "gan", [8, 7, 6]) + _records("grid", "wgan-gp", [20, 22, 24])
    table = bench.format_mode_coverage(bench.summarize_mode_coverage(records), jobs=3, device="cpu")
    assert "3 parallel job(s)" in table and "3 seed(s)" in table
    lines = table.splitlines()
    gan = next(line for line in lines if line.startswith("ring") and "GAN (non-saturating)" in line)
    assert "7.0 ± 0.6 / 8" in gan and "90.0 ± 0.0%" in gan
    wgan = next(line for line in lines if line.startswith("grid") and "WGAN-GP" in line)
    assert "22.0 ± 1.2 / 25" in wgan
    for data, rows in bench.PUBLISHED.items():
        for paper in rows:
            line = next(line for line in lines if line.startswith(data) and paper.label in line)
            assert f"{100 * paper.high_quality:.1f}%" in line
    assert any("PacGAN Table 1: GAN" in line and "6.3" in line and "98.2%" in line and "0.45" in line
               for line in lines)
    assert any("PacGAN Table 1: PacGAN4" in line and "24.8" in line and "93.6%" in line and "0.04" in line
               for line in lines)
    veegan_ring = next(line for line in lines if line.startswith("ring") and "VEEGAN" in line)
    assert "52.9%" in veegan_ring and veegan_ring.split()[-2] == "—"


def test_every_configuration_builds_a_preset_on_both_data_sets() -> None:
    """Does each row of MODE_COVERAGE_CONFIGS name a GANConfig preset with steps for ring and grid?"""
    for name, row in bench.MODE_COVERAGE_CONFIGS.items():
        for data in bench.MODE_DATA_NAMES:
            config = bench.gan_config(name, data, seed=4)
            assert config.steps == (row.steps.get(data) or GANConfig.preset(row.preset, data).steps)
            assert config.seed == 4 and config.data == data and config.eval_every == config.steps
    with pytest.raises(ValueError, match="unknown configuration"):
        bench.gan_config("pacgan9", "ring", 0)


def test_vae_table_says_whether_the_target_is_met() -> None:
    """Is the target (course −ELBO below the reference's) judged on the means, and printed?"""
    def record(model: str, neg_elbo: float, seed: int) -> dict:
        return {"model": model, "seed": seed, "steps": 10, "wall_s": 1.0, "params": 5, "description": model,
                "k": 10, "device": "cpu", "neg_elbo": neg_elbo, "iw_nll": neg_elbo - 1}
    records = [record("course", 30.0, 0), record("reference", 31.0, 0), record("course", 30.5, 1),
               record("reference", 30.9, 1)]
    summary = bench.summarize_vae(records)
    assert bench.vae_target_met(summary) is True
    assert "met" in bench.format_vae(summary, device="cpu").splitlines()[-1]
    assert "30.25 ± 0.25" in bench.format_vae(summary, device="cpu")


def test_bench_is_a_registered_subcommand() -> None:
    """Does `course bench` exist without needing the course repository?"""
    assert COMMANDS["bench"].needs_root is False


def test_quick_mode_coverage_runs_end_to_end_and_writes_json(tmp_path: Path,
                                                             capsys: pytest.CaptureFixture[str]) -> None:
    """Does `course bench mode-coverage --quick --seeds 1` print the table and write valid JSON?"""
    out = tmp_path / "mc.json"
    assert main(["bench", "mode-coverage", "--quick", "--seeds", "1", "--device", "cpu", "--out", str(out)]) == 0
    stdout = capsys.readouterr().out
    assert "PacGAN Table 1: PacGAN4" in stdout and "1 parallel job(s)" in stdout
    result = json.loads(out.read_text())  # strict JSON: a NaN reverse KL is null
    assert result["benchmark"] == "mode-coverage" and result["jobs"] == 1 and result["seeds"] == [0]
    pairs = {(r["config"], r["data"]) for r in result["records"]}
    assert pairs == {(c, d) for c in bench.MODE_COVERAGE_CONFIGS for d in ("ring", "grid")}
    for record in result["records"]:
        assert record["steps"] == bench.QUICK_STEPS and record["n_modes"] in (8, 25)
        assert 0 <= record["modes"] <= record["n_modes"] and 0 <= record["high_quality"] <= 1
    best = [r for r in result["records"] if r["config"] == "best"]
    assert best and all(r["rejection_sampling"] and set(r["g_alone"]) == {"modes", "high_quality", "reverse_kl"}
                        for r in best)
    assert any(line.startswith("ring") and "G alone" in line for line in stdout.splitlines())
    assert len(result["summary"]) == len(pairs) + 2  # best: G alone, and with rejection sampling, on each set


def test_mode_coverage_prints_the_noise_baselines_beside_its_table(tmp_path: Path,
                                                                  capsys: pytest.CaptureFixture[str]) -> None:
    """Does `course bench mode-coverage` print, under its table, the rows of uniform noise over the data's box,
    the fitted Gaussian and the untrained generator, each the same numbers as training.baselines gives on the
    same seeds, and store them in the JSON? (Issue 20, item 2: uniform noise "captures" most grid modes.)"""
    from course_utils.training.baselines import BASELINES, format_coverage, mode_coverage_baselines

    out = tmp_path / "mc.json"
    assert main(["bench", "mode-coverage", "--quick", "--seeds", "2", "--first-seed", "5", "--configs", "best",
                 "--data", "grid", "--device", "cpu", "--out", str(out)]) == 0
    stdout = capsys.readouterr().out
    expected = mode_coverage_baselines(replace(GANConfig.preset("best", "grid"), n_data=1_000), [5, 6])
    for name, label in BASELINES.items():
        assert f"grid  {format_coverage(label, expected[name], 25)}" in stdout.splitlines()
    stored = json.loads(out.read_text())["baselines"]["grid"]
    assert [r["seed"] for r in stored["uniform"]] == [5, 6]
    assert [r["modes"] for r in stored["gaussian"]] == [c.modes for c in expected["gaussian"]]
    assert stdout.index("PacGAN4") < stdout.index("uniform over the data's box")  # under the table


def test_the_first_seed_moves_the_seeds(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """Does --first-seed 100 run seeds 100.. (seeds no tuning used) and say so in the table?"""
    out = tmp_path / "held_out.json"
    assert main(["bench", "mode-coverage", "--quick", "--seeds", "2", "--first-seed", "100", "--configs", "gan",
                 "--data", "ring", "--device", "cpu", "--out", str(out)]) == 0
    assert "2 seed(s) (100-101)" in capsys.readouterr().out
    result = json.loads(out.read_text())
    assert result["seeds"] == [100, 101] and sorted(r["seed"] for r in result["records"]) == [100, 101]


def test_quick_vae_digits_writes_both_models(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """Does `course bench vae-digits --quick` score the course VAE and the reference on held-out data?"""
    out = tmp_path / "vae.json"
    assert main(["bench", "vae-digits", "--quick", "--seeds", "1", "--device", "cpu", "--out", str(out)]) == 0
    assert "target (course −ELBO < reference −ELBO" in capsys.readouterr().out
    records = json.loads(out.read_text())["records"]
    assert [r["model"] for r in records] == ["course", "reference"]
    for record in records:
        assert record["iw_nll"] <= record["neg_elbo"] + 1.0  # L_k tightens the ELBO (up to sampling noise)
        assert 0 < record["iw_nll"] < 64 * math.log(2) * 4


def test_quick_throughput_reports_eager_and_a_ratio(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """Does `course bench throughput --quick` time both models under each variant, eager with ratio 1?"""
    import torch

    out = tmp_path / "tp.json"
    assert main(["bench", "throughput", "--quick", "--device", "cpu", "--out", str(out)]) == 0
    assert "fastest for vae digits" in capsys.readouterr().out
    records = json.loads(out.read_text())["records"]
    variants = bench.throughput_variants(torch.device("cpu"), quick=True)
    assert "compile" not in variants  # a cold C++ compile takes tens of seconds: not in a quick run
    assert [(r["model"], r["variant"]) for r in records] == [(m, v) for m in bench.THROUGHPUT_MODELS
                                                             for v in variants]
    for record in records:
        if record["model"] == "vae digits" and record["variant"] == "one-call-critic":
            assert record["steps_per_s"] is None and "not applicable" in record["error"]
            continue
        assert record["steps_per_s"] > 0 and record["error"] is None
        if record["variant"] == "eager":
            assert record["ratio"] == pytest.approx(1.0)


@pytest.mark.parametrize(
    ("extra", "expected"),
    [
        (["--seeds", "0"], "argument --seeds: '0' must be at least 1"),
        (["--seeds", "ten"], "argument --seeds: 'ten' is not a whole number"),
        (["--first-seed", "-1"], "argument --first-seed: '-1' must be at least 0"),
        (["--jobs", "-2"], "argument --jobs: '-2' must be at least 1"),
        (["--device", "tpu"], "argument --device: invalid choice: 'tpu'"),
        (["--configs", "gan,pacgan9"], "argument --configs: unknown 'pacgan9'"),
        (["--data", "moons"], "argument --data: unknown 'moons'"),
        (["--out", "/nonexistent-folder/r.json"], "argument --out: no folder '/nonexistent-folder'"),
    ],
)
def test_bad_arguments_exit_2_with_one_line(extra: list[str], expected: str,
                                            capsys: pytest.CaptureFixture[str]) -> None:
    """Does a bad option exit 2 with one line naming it, before any run?"""
    assert main(["bench", "mode-coverage", "--quick", *extra]) == 2
    assert expected in one_line_error(capsys)


def test_unknown_benchmark_exits_2(capsys: pytest.CaptureFixture[str]) -> None:
    """Is a benchmark other than mode-coverage, vae-digits, throughput refused?"""
    assert main(["bench", "fid"]) == 2
    assert "invalid choice: 'fid'" in one_line_error(capsys)


def test_out_that_is_a_folder_exits_2(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """Is --out naming a folder refused before any run?"""
    assert main(["bench", "throughput", "--quick", "--out", str(tmp_path)]) == 2
    assert "is a folder" in one_line_error(capsys)


def test_one_call_critic_step_is_train_pys_critic_step() -> None:
    """Does the throughput benchmark's one-call critic step compute train.py's WGAN-GP loss and update?"""
    import copy

    import torch

    from course_utils import training as T

    config = T.GANConfig.preset("wgan-gp", "grid", gp_lambda=10.0)
    torch.manual_seed(0)
    generator, critic = T.build_gan(config, 2)
    real = torch.randn(64, 2)
    results = []
    for step in (T.gan_critic_step, throughput._one_call_critic_step):
        d = copy.deepcopy(critic)
        optimizer = torch.optim.Adam(d.parameters(), lr=config.lr, betas=config.betas)
        out = step(generator, d, optimizer, real, config, torch.Generator().manual_seed(3))
        results.append((out["loss_d"], [p.grad for p in d.parameters()]))  # the gradient Adam stepped with
    (loss_a, grads_a), (loss_b, grads_b) = results
    torch.testing.assert_close(loss_b, loss_a, rtol=1e-5, atol=1e-6)
    for a, b in zip(grads_a, grads_b, strict=True):
        torch.testing.assert_close(b, a, rtol=1e-4, atol=1e-6)


def test_a_diverged_run_counts_as_no_modes(monkeypatch: pytest.MonkeyPatch) -> None:
    """Is a run whose loss became NaN recorded (0 modes, 0% high quality, its reason) instead of aborting?"""
    from course_utils import training as T

    def diverge(*args, **kwargs):
        raise T.TrainingDiverged("loss_d is nan at step 7 (gan): try a lower lr")

    monkeypatch.setattr(T, "train_gan_models", diverge)
    records = bench.run_mode_coverage_suite(["gan"], ["ring"], [0, 1], quick=True)
    assert [(r["modes"], r["high_quality"], r["error"][:9]) for r in records] == [(0, 0.0, "loss_d is")] * 2
    summary = bench.summarize_mode_coverage(records)
    assert summary[0]["diverged"] == 2
    assert "(2 diverged: 0 modes)" in bench.format_mode_coverage(summary, jobs=1, device="cpu")


def test_a_rejection_sampled_row_is_reported_beside_g_alone() -> None:
    """With DRS, does the summary give two rows (G alone, as PacGAN scores it, and with rejection sampling),
    each from its own numbers, and name the seeds in the title?"""
    records = [{"config": "best", "label": "course best", "data": "grid", "seed": s, "steps": 100, "modes": 25,
                "n_modes": 25, "high_quality": 0.97, "reverse_kl": 0.02, "wall_s": 50.0, "device": "cpu",
                "rejection_sampling": True, "g_alone": {"modes": m, "high_quality": 0.9, "reverse_kl": 0.05}}
               for s, m in zip((100, 101, 102), (25, 24, 25), strict=True)]
    summary = bench.summarize_mode_coverage(records)
    alone, drs = summary
    assert alone["label"] == "course best: G alone" and alone["modes"]["mean"] == pytest.approx(74 / 3)
    assert drs["label"] == "course best: with rejection sampling"
    assert drs["high_quality"]["mean"] == pytest.approx(0.97)
    table = bench.format_mode_coverage(summary, jobs=2, device="cpu", seeds=[100, 101, 102])
    assert "3 seed(s) (100-102)" in table
    assert any("G alone" in line and "90.0 ± 0.0%" in line for line in table.splitlines())


def test_the_summary_names_the_worst_seed_and_counts_seeds_that_lose_a_mode() -> None:
    """Does a mean of 24.7 modes say which seed lost one? The summary names the worst seed (fewest modes, then
    the lowest high-quality share) and counts the seeds missing a mode, for G alone and with DRS apart."""
    records = [{"config": "best", "label": "course best", "data": "grid", "seed": s, "steps": 100, "modes": 25,
                "n_modes": 25, "high_quality": q, "reverse_kl": 0.02, "wall_s": 50.0, "device": "cpu",
                "rejection_sampling": True, "g_alone": {"modes": m, "high_quality": 0.9, "reverse_kl": kl}}
               for s, m, q, kl in zip((7, 8, 9), (25, 23, 24), (0.97, 0.99, 0.95), (0.01, 0.3, 0.2), strict=True)]
    alone, drs = bench.summarize_mode_coverage(records)
    assert alone["worst"] == {"seed": 8, "modes": 23, "high_quality": 0.9, "reverse_kl": 0.3}
    assert alone["lose_mode"] == 2
    assert drs["worst"]["seed"] == 9 and drs["lose_mode"] == 0  # every seed has 25: the lowest share is worst
    table = bench.format_mode_coverage([alone, drs], jobs=1, device="cpu").splitlines()
    assert any("G alone" in line and "seed 8: 23 / 90.0% / 0.30" in line and "2/3 (67%)" in line for line in table)
    assert any("rejection" in line and "seed 9: 25 / 95.0% / 0.02" in line and "0/3 (0%)" in line
               for line in table)
