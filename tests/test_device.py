"""course_utils.device: device choice, seeding and the quick/full experiment profile."""

from __future__ import annotations

import random

import numpy as np
import pytest
import torch

from course_utils import device as device_module
from course_utils.device import FULL, QUICK, get_device, run_profile, seed_everything

NO_ACCELERATOR = not torch.cuda.is_available() and not device_module.mps_available()


@pytest.fixture(autouse=True)
def clean_environment(monkeypatch):
    """Every test starts without the COURSE_DEVICE / COURSE_PROFILE overrides."""
    monkeypatch.delenv("COURSE_DEVICE", raising=False)
    monkeypatch.delenv("COURSE_PROFILE", raising=False)


# --------------------------------------------------------------------------- get_device
@pytest.mark.skipif(not NO_ACCELERATOR, reason="this machine has an accelerator")
def test_auto_is_cpu_without_accelerator():
    """Does get_device('auto') pick the CPU on a machine without CUDA or MPS?"""
    assert get_device("auto") == torch.device("cpu")
    assert get_device() == torch.device("cpu")


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")
def test_auto_is_cuda_where_a_gpu_exists():
    """Does get_device('auto') pick CUDA on a machine that has a GPU, and can a tensor live there?"""
    chosen = get_device("auto")
    assert chosen.type == "cuda"
    assert torch.ones(2, device=chosen).sum().item() == 2.0
    assert get_device("cuda").type == "cuda"


def test_auto_prefers_cuda_when_torch_reports_it(monkeypatch):
    """Does 'auto' choose CUDA over MPS and the CPU whenever torch reports a CUDA GPU?"""
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(device_module, "mps_available", lambda: True)
    assert get_device("auto") == torch.device("cuda")


def test_auto_falls_back_to_mps_then_cpu(monkeypatch):
    """Without CUDA, does 'auto' choose MPS when available and the CPU otherwise?"""
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    monkeypatch.setattr(device_module, "mps_available", lambda: True)
    assert get_device("auto") == torch.device("mps")
    monkeypatch.setattr(device_module, "mps_available", lambda: False)
    assert get_device("auto") == torch.device("cpu")


def test_explicit_cpu_and_device_objects():
    """Are 'cpu', 'CPU' and torch.device('cpu') all accepted as the CPU?"""
    assert get_device("cpu") == torch.device("cpu")
    assert get_device("CPU") == torch.device("cpu")
    assert get_device(torch.device("cpu")) == torch.device("cpu")


def test_unavailable_cuda_raises_with_the_fix(monkeypatch):
    """Does asking for CUDA without a GPU raise ValueError that tells the user to use 'auto' or 'cpu'?"""
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    with pytest.raises(ValueError, match="no CUDA GPU; use 'auto' or 'cpu'"):
        get_device("cuda")


def test_unavailable_mps_raises_with_the_fix(monkeypatch):
    """Does asking for MPS where it is missing raise ValueError naming the alternatives?"""
    monkeypatch.setattr(device_module, "mps_available", lambda: False)
    with pytest.raises(ValueError, match="MPS.*use 'auto' or 'cpu'"):
        get_device("mps")


@pytest.mark.parametrize("bad", ["gpu", "tpu", "", "cuda:0"])
def test_unknown_preference_raises_value_error(bad):
    """Is an unknown device name refused with a ValueError listing the valid choices?"""
    with pytest.raises(ValueError, match="preference must be one of auto, cuda, mps, cpu"):
        get_device(bad)


@pytest.mark.parametrize("bad", [0, None, 1.5, ["cpu"]])
def test_non_string_preference_raises_type_error(bad):
    """Is a preference that is neither a str nor a torch.device refused with a TypeError?"""
    with pytest.raises(TypeError, match="preference must be a str"):
        get_device(bad)


def test_course_device_overrides_auto(monkeypatch):
    """Does COURSE_DEVICE=cpu make 'auto' return the CPU even where CUDA is reported?"""
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setenv("COURSE_DEVICE", "cpu")
    assert get_device("auto") == torch.device("cpu")
    monkeypatch.setenv("COURSE_DEVICE", "CUDA")  # case-insensitive
    assert get_device("auto") == torch.device("cuda")


def test_course_device_does_not_override_an_explicit_choice(monkeypatch):
    """Does an explicit preference win over COURSE_DEVICE (the variable only overrides 'auto')?"""
    monkeypatch.setenv("COURSE_DEVICE", "cuda")
    assert get_device("cpu") == torch.device("cpu")


def test_empty_course_device_means_auto(monkeypatch):
    """Is an empty COURSE_DEVICE treated as unset?"""
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    monkeypatch.setattr(device_module, "mps_available", lambda: False)
    monkeypatch.setenv("COURSE_DEVICE", "")
    assert get_device("auto") == torch.device("cpu")


def test_bad_course_device_names_the_variable(monkeypatch):
    """Does a misspelt COURSE_DEVICE raise ValueError that names the variable and its bad value?"""
    monkeypatch.setenv("COURSE_DEVICE", "gpu")
    with pytest.raises(ValueError, match="COURSE_DEVICE.*'gpu'"):
        get_device("auto")


def test_course_device_cuda_without_gpu_names_the_variable(monkeypatch):
    """Does COURSE_DEVICE=cuda on a machine without CUDA raise ValueError that names the variable?"""
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    monkeypatch.setenv("COURSE_DEVICE", "cuda")
    with pytest.raises(ValueError, match="COURSE_DEVICE='cuda'.*no CUDA GPU"):
        get_device("auto")


def test_describe_cpu():
    """Does describe_device name the CPU and its thread count?"""
    n = torch.get_num_threads()
    assert device_module.describe_device(torch.device("cpu")) == f"cpu ({n} thread{'' if n == 1 else 's'})"


# --------------------------------------------------------------------------- seed_everything
def test_seed_everything_repeats_every_generator():
    """After seed_everything(s), do torch.randn, numpy.random and random give the same numbers again?"""
    seed_everything(123)
    first = (torch.randn(5), np.random.rand(5), [random.random() for _ in range(5)])
    torch.randn(7), np.random.rand(3), random.random()  # disturb all three
    seed_everything(123)
    second = (torch.randn(5), np.random.rand(5), [random.random() for _ in range(5)])
    assert torch.equal(first[0], second[0])
    np.testing.assert_array_equal(first[1], second[1])
    assert first[2] == second[2]
    seed_everything(124)
    assert not torch.equal(torch.randn(5), first[0])


def test_seed_everything_matches_the_libraries_own_seeding():
    """Is seed_everything(s) the same as torch.manual_seed(s), numpy.random.seed(s) and random.seed(s)?"""
    seed_everything(7)
    ours = (torch.rand(4), np.random.rand(4), random.random())
    torch.manual_seed(7)
    np.random.seed(7)
    random.seed(7)
    theirs = (torch.rand(4), np.random.rand(4), random.random())
    assert torch.equal(ours[0], theirs[0])
    np.testing.assert_array_equal(ours[1], theirs[1])
    assert ours[2] == theirs[2]


def test_seed_everything_returns_a_seeded_generator():
    """Does seed_everything return a CPU Generator whose draws equal a fresh one seeded the same?"""
    generator = seed_everything(2024)
    assert isinstance(generator, torch.Generator)
    assert generator.device == torch.device("cpu")
    assert generator.initial_seed() == 2024
    expected = torch.randn(6, generator=torch.Generator().manual_seed(2024))
    assert torch.equal(torch.randn(6, generator=generator), expected)


def test_seed_everything_accepts_seeds_beyond_32_bits():
    """Is a seed of 2**40 accepted (numpy's 32-bit limit is handled)?"""
    generator = seed_everything(2**40)
    assert generator.initial_seed() == 2**40


@pytest.mark.parametrize("bad", [-1, 1.0, "3", True, None])
def test_seed_everything_refuses_bad_seeds(bad):
    """Are negative, non-int and bool seeds refused with a ValueError naming the seed?"""
    with pytest.raises(ValueError, match="seed must be a non-negative int"):
        seed_everything(bad)


# --------------------------------------------------------------------------- run_profile
def test_run_profile_quick_on_cpu():
    """Is the profile on a CPU the quick one, with sizes a laptop runs in about a minute?"""
    profile = run_profile(torch.device("cpu"))
    assert profile == QUICK
    assert profile.name == "quick"
    assert profile.n_samples < FULL.n_samples and profile.train_steps < FULL.train_steps


def test_run_profile_full_on_an_accelerator():
    """Is the profile for a CUDA device the full one?"""
    assert run_profile(torch.device("cuda")) == FULL
    assert run_profile(torch.device("cuda")).name == "full"


@pytest.mark.skipif(not NO_ACCELERATOR, reason="this machine has an accelerator")
def test_run_profile_default_device_is_cpu_here():
    """Without a device argument, does run_profile use get_device() and so give 'quick' on this CPU box?"""
    assert run_profile() == QUICK


def test_course_profile_overrides_the_device(monkeypatch):
    """Does COURSE_PROFILE force the profile whatever the device (case-insensitively)?"""
    monkeypatch.setenv("COURSE_PROFILE", "full")
    assert run_profile(torch.device("cpu")) == FULL
    monkeypatch.setenv("COURSE_PROFILE", "QUICK")
    assert run_profile(torch.device("cuda")) == QUICK


def test_bad_course_profile_raises(monkeypatch):
    """Does an unknown COURSE_PROFILE raise ValueError naming the variable and the valid values?"""
    monkeypatch.setenv("COURSE_PROFILE", "medium")
    with pytest.raises(ValueError, match="COURSE_PROFILE must be 'quick' or 'full'; got 'medium'"):
        run_profile(torch.device("cpu"))


# --------------------------------------------------------------------------- CPU threads
def test_the_cpu_gets_the_courses_thread_count(monkeypatch):
    """Does picking the CPU set torch's threads to CPU_THREADS, and COURSE_CPU_THREADS override it?"""
    from course_utils import device as device_module

    before = torch.get_num_threads()
    try:
        monkeypatch.delenv("COURSE_CPU_THREADS", raising=False)
        torch.set_num_threads(2)
        assert get_device("cpu") == torch.device("cpu")
        assert torch.get_num_threads() == device_module.CPU_THREADS == 1
        monkeypatch.setenv("COURSE_CPU_THREADS", "2")
        get_device("cpu")
        assert torch.get_num_threads() == 2
        monkeypatch.setenv("COURSE_CPU_THREADS", "two")
        with pytest.raises(ValueError, match="COURSE_CPU_THREADS must be a whole number"):
            get_device("cpu")
    finally:
        torch.set_num_threads(before)
