"""Tests for the notebook helper of notebook 03: measuring how varied generated images are."""

import pytest
import torch

from course_lib.data import ImageDataset
from course_lib.metrics import sample_diversity


@pytest.fixture()
def reference() -> ImageDataset:
    """Three 'classes' of 2x2 images: all black, all white, left column white."""
    images = torch.tensor(
        [[[0.0, 0.0], [0.0, 0.0]], [[1.0, 1.0], [1.0, 1.0]], [[1.0, 0.0], [1.0, 0.0]]]
    ).unsqueeze(1)
    return ImageDataset(images, torch.tensor([0, 1, 2]), ["black", "white", "left"])


def test_identical_samples_have_no_spread_and_one_class(reference):
    samples = torch.full((8, 1, 2, 2), 0.9)
    result = sample_diversity(samples, reference)
    assert result["spread"] == pytest.approx(0.0)
    assert result["classes"] == 1


def test_spread_is_the_mean_rms_distance_and_classes_follow_nearest_images(reference):
    samples = reference.images.clone()  # black, white, left: RMS distances 1, sqrt(.5), sqrt(.5)
    result = sample_diversity(samples, reference)
    expected = (1.0 + 2 * 0.5**0.5) / 3
    assert result["spread"] == pytest.approx(expected)
    assert result["classes"] == 3


def test_a_single_image_is_refused(reference):
    with pytest.raises(ValueError, match="at least 2 images"):
        sample_diversity(torch.zeros(1, 1, 2, 2), reference)
