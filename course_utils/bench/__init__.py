"""The course's benchmarks: mode coverage, the digits VAE against a reference, training throughput.

Each benchmark runs one configuration and one seed and returns a record (a flat dict of plain values,
ready for JSON), summarises records over seeds (mean ± standard error) and formats a table. ``course
bench`` (``course_utils/cli/bench.py``) and the scripts in ``benchmarks/`` call these functions, so both
print the same tables. Nothing but the command line imports this package.

- ``mode_coverage``: a GAN trained on the ring or the grid, scored by the PacGAN / VEEGAN protocol
  (``course_utils.metrics.mode_coverage``), printed beside the published rows of PacGAN Table 1 and
  VEEGAN Table 1;
- ``vae``: the course VAE (``VAEConfig.preset("digits")``) against the plain VAE of Kingma & Welling
  given the same wall time; held-out −ELBO and importance-weighted NLL;
- ``throughput``: training steps/s of the grid WGAN-GP and the digits VAE, eager against faster paths
  (fused Adam, one critic call per critic step, ``torch.compile``; AMP and CUDA graphs on a GPU);
- ``common``: statistics over seeds, tables, the machine's description, one thread per run.
"""

from course_utils.bench.common import QUICK_STEPS, Summary, environment, format_summary, summarize
from course_utils.bench.mode_coverage import (
    MODE_COVERAGE_CONFIGS,
    MODE_DATA_NAMES,
    N_SAMPLES,
    PUBLISHED,
    GANBench,
    Published,
    format_mode_coverage,
    gan_config,
    run_mode_coverage,
    run_mode_coverage_suite,
    summarize_mode_coverage,
)
from course_utils.bench.throughput import THROUGHPUT_MODELS, format_throughput, run_throughput, throughput_variants
from course_utils.bench.vae import format_vae, run_vae_digits, summarize_vae, vae_configs, vae_target_met

__all__ = [
    "MODE_COVERAGE_CONFIGS", "MODE_DATA_NAMES", "N_SAMPLES", "PUBLISHED", "QUICK_STEPS", "THROUGHPUT_MODELS",
    "GANBench", "Published", "Summary", "environment", "format_mode_coverage", "format_summary", "format_throughput",
    "format_vae", "gan_config", "run_mode_coverage", "run_mode_coverage_suite", "run_throughput", "run_vae_digits",
    "summarize", "summarize_mode_coverage", "summarize_vae", "throughput_variants", "vae_configs", "vae_target_met",
]
