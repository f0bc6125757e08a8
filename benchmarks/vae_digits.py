"""The course VAE against a plain reference VAE on the digits, in the same wall time.

Run: .venv/bin/python benchmarks/vae_digits.py [--seeds 3] [--device auto] [--quick] [--out results.json]
The same code and table as `course bench vae-digits`. Per seed, the course VAE
(VAEConfig.preset("digits")) trains for its preset's steps and its wall time T is measured; the
reference (Kingma & Welling 2014 as in pytorch/examples/vae: one hidden layer of 400, latent 20,
Adam 1e-3, batch 128) then trains for exactly T seconds, stopped by the clock. Both are scored on
the 297 held-out digits: −ELBO (mean of 10 draws of z) and the importance-weighted NLL −L_k with
k = 1,000 (Burda et al. 2016), in nats per image. Target: the course VAE's −ELBO is the lower.
"""

from __future__ import annotations

import sys

from course_utils.cli import main

if __name__ == "__main__":
    sys.exit(main(["bench", "vae-digits", *sys.argv[1:]]))
