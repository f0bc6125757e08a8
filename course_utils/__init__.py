"""course_utils: the tested package behind the course's notebooks, and the instructor's and command-line tools.

The map, top layer first. A module may import the layers below it, never those above; ``|`` marks
siblings that may not import each other. ``tests/test_layers.py`` checks these rules with import-linter
(contracts in ``pyproject.toml``), and a new module must be given a layer there.

    cli/            the ``course`` command: one module per subcommand (lab, release, check, doctor, train,
                    bench, grade); errors in cli/base.py. Nothing imports it.
    bench/          benchmarks: mode coverage, the digits VAE, throughput. Only cli imports it.
    instructor/     release, validation, submissions, autograde/ (grading a class), sandbox/ (bubblewrap
      |             backend; the worker imports nothing of course_utils), class_report, nbgrader_run
      |             (nbgrader's converters run in-process). Never torch.
    widgets/        one builder module per chapter topic on widgets/base.py (LiveFigure); no maths in them.
    training/       config (frozen configs, presets), steps, sampling, checkpoint, the loop, distributed.
    regularization  chapter 05's experiments, a layer of their own: they measure critics with wgan_theory.
    doctor | logistic | kl_fitting | ppca | generative_classifiers | weight_sharing | gan_theory
      | wgan_theory | variational | plotting | grading
                    the environment check, the chapters' experiments (02, 04, 06-09), matplotlib figures,
                    test-cell assertions.
    metrics : models : losses : data
                    mode coverage and likelihood bounds, nn.Modules, losses with their equations, data sets.
    divergences | distributions | device
                    information measures, distributions, where tensors live and the seed.
    _io | _layout   the one atomic file write and strict JSON; the course folder (nbgrader_config.py).

Notebooks import the student layer (everything from ``widgets/`` down); those import paths are public,
since released chapters, students' submissions and the gradebook's copies of test cells contain them.

This file imports nothing: ``python -m course_utils.instructor.sandbox.worker`` imports it first.
"""
