"""Training, one module per concern, each importing only those above it:

- :mod:`.config`: the frozen configs (:class:`GANConfig`, :class:`VAEConfig`, :class:`ClassifierConfig`)
  and their presets;
- :mod:`.history`: what a run records (:class:`History`) and :class:`TrainingDiverged`;
- :mod:`.batches`: the training set on the device, the random streams, the batches;
- :mod:`.steps`: one optimisation step of each model, the models and optimizers, the lr schedule, autocast;
- :mod:`.sampling`: samples of a trained GAN (with discriminator rejection sampling);
- :mod:`.evaluation`: the History's metrics (mode coverage, held-out ELBO and accuracy);
- :mod:`.checkpoint`: saving a run and resuming it exactly;
- :mod:`.loop`: the loop, the ``train_*`` entry points and :class:`Session` (a run advanced step by step);
- :mod:`.distributed`: data-parallel training under torchrun.
"""

from course_utils.training.batches import load_training_data
from course_utils.training.checkpoint import CHECKPOINT_NAME, load_checkpoint, save_checkpoint
from course_utils.training.config import (
    COVERAGE_SAMPLES,
    DATA_NAMES,
    GAN_LOSSES,
    GAN_PRESETS,
    LATENT_NOISES,
    MODE_DATA,
    TOY_DATA,
    USER_POINTS,
    ClassifierConfig,
    DataName,
    GANConfig,
    GANLoss,
    VAEConfig,
)
from course_utils.training.evaluation import accuracy
from course_utils.training.history import Callback, History, TrainingDiverged
from course_utils.training.loop import (
    Session,
    TrainOptions,
    train_classifier,
    train_classifier_models,
    train_gan,
    train_gan_models,
    train_vae,
    train_vae_models,
)
from course_utils.training.sampling import DRS_BURN_IN, DRS_EPS, generate, sample_gan
from course_utils.training.steps import (
    autocast_for,
    build_gan,
    build_optimizer,
    build_vae,
    classifier_step,
    gan_critic_step,
    gan_generator_step,
    generator_gradient_norm,
    generator_loss,
    latent_noise,
    lr_multiplier,
    vae_step,
)

__all__ = [
    "CHECKPOINT_NAME",
    "COVERAGE_SAMPLES",
    "DATA_NAMES",
    "DRS_BURN_IN",
    "DRS_EPS",
    "GAN_LOSSES",
    "GAN_PRESETS",
    "LATENT_NOISES",
    "MODE_DATA",
    "Session",
    "TOY_DATA",
    "USER_POINTS",
    "Callback",
    "ClassifierConfig",
    "DataName",
    "GANConfig",
    "GANLoss",
    "History",
    "TrainOptions",
    "TrainingDiverged",
    "VAEConfig",
    "accuracy",
    "autocast_for",
    "build_gan",
    "build_optimizer",
    "build_vae",
    "classifier_step",
    "gan_critic_step",
    "gan_generator_step",
    "generator_gradient_norm",
    "generator_loss",
    "latent_noise",
    "generate",
    "load_checkpoint",
    "load_training_data",
    "lr_multiplier",
    "sample_gan",
    "save_checkpoint",
    "train_classifier",
    "train_classifier_models",
    "train_gan",
    "train_gan_models",
    "train_vae",
    "train_vae_models",
    "vae_step",
]
