"""Mode coverage of GANs on the ring and the grid (PacGAN / VEEGAN protocol), ours beside the papers'.

Run: .venv/bin/python benchmarks/mode_coverage.py [--seeds 10] [--jobs 2] [--configs gan,wgan-gp,best]
     [--data ring,grid] [--device auto] [--quick] [--out results.json]
The same code and table as `course bench mode-coverage`. Each configuration of
course_utils.bench.MODE_COVERAGE_CONFIGS (GAN non-saturating, WGAN-GP, the course's best) is trained on
each data set once per seed, and 2,500 generator samples are scored (DESIGN.md, "Mode-coverage
protocol"): modes captured, % high-quality samples, reverse KL, as mean ± standard error over the seeds,
the worst seed and the share of seeds that lose a mode, with PacGAN Table 1 and VEEGAN Table 1 beside them,
and the mean wall time of one run; under the table, the same scores of noise (uniform over the data's box, a
Gaussian fitted to the data) and of the untrained generator on the same seeds. Runs go to --jobs
single-threaded processes; wall time per run depends on that count, so the table prints it.
"""

from __future__ import annotations

import sys

from course_utils.cli import main

if __name__ == "__main__":
    sys.exit(main(["bench", "mode-coverage", *sys.argv[1:]]))
