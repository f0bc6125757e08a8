"""Training steps/s of the grid WGAN-GP and the digits VAE: eager against faster paths, in one run.

Run: .venv/bin/python benchmarks/throughput.py [--device auto] [--quick] [--out results.json]
The same code and table as `course bench throughput`. Variants: "eager" (train.py's own step
functions, Adam with foreach), "fused-adam" (Adam(fused=True)), "compile" (torch.compile of the
models / the VAE loss, with fused Adam; the WGAN-GP penalty's critic call stays eager, since
torch.compile has no double backward), and on CUDA also "amp" (bf16 autocast, VAE only) and
"cuda-graph" (the whole update captured once and replayed). Each variant is warmed up first (its
compile time is the "setup s" column); then rounds alternate the variants and the median gives
steps/s, and the ratio to eager's. A variant that cannot run here is listed with the reason.
Torch runs one thread on the CPU, like the mode-coverage runs.
"""

from __future__ import annotations

import sys

from course_utils.cli import main

if __name__ == "__main__":
    sys.exit(main(["bench", "throughput", *sys.argv[1:]]))
