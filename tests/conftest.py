"""Shared fixtures for the course_lib tests: small real datasets that keep training fast."""

import pytest

from course_lib.data import ImageDataset, load_dataset


@pytest.fixture(scope="session")
def mnist5k_train() -> ImageDataset:
    """The 4,000 training digits of mnist5k (loaded once per session)."""
    return load_dataset("mnist5k", "train")


@pytest.fixture(scope="session")
def small_mnist(mnist5k_train: ImageDataset) -> ImageDataset:
    """256 real MNIST digits: enough for a loss to move, small enough for a CPU test."""
    return ImageDataset(
        mnist5k_train.images[:256].clone(),
        mnist5k_train.labels[:256].clone(),
        mnist5k_train.classes,
        "mnist5k/small",
    )


@pytest.fixture(scope="session")
def tiny_val(mnist5k_train: ImageDataset) -> ImageDataset:
    """64 other digits from the training split, used as a validation set."""
    return ImageDataset(
        mnist5k_train.images[256:320].clone(),
        mnist5k_train.labels[256:320].clone(),
        mnist5k_train.classes,
        "mnist5k/val",
    )
