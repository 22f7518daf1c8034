"""Tests for the class-conditional conv GAN: asking for a digit, the projection critic, training
from labels, checkpoints, and that a trained one really draws the digit it is asked for."""

import pytest
import torch

from course_lib import checkpoints, metrics
from course_lib.models import ConvDiscriminator, ConvGenerator, balanced_labels, critic_for
from course_lib.training import train_conv_gan


def _pair(n_classes=10, depth=3):
    torch.manual_seed(0)
    return (
        ConvGenerator(noise_dim=8, width=4, n_classes=n_classes),
        ConvDiscriminator(width=4, n_classes=n_classes, depth=depth),
    )


def test_the_label_changes_the_image_and_the_noise_the_style():
    generator, _ = _pair()
    generator.eval()
    z = torch.randn(1, 8).repeat(10, 1)
    images = generator.decode(generator.code_for(z, torch.arange(10)))
    assert images.shape == (10, 1, 28, 28)
    assert images.min() >= 0 and images.max() <= 1
    # same noise, ten labels: ten different images (the class code reaches the pixels)
    assert torch.pdist(images.reshape(10, -1)).min() > 0
    # one label for all: the same as asking for it per image
    one_for_all = generator.decode(generator.code_for(z, 3))
    assert torch.allclose(one_for_all, generator.decode(generator.code_for(z, [3] * 10)))


def test_sample_draws_every_digit_in_turn_unless_told():
    generator, _ = _pair()
    assert balanced_labels(12).tolist() == [0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 0, 1]
    default = generator.sample(20, seed=1)
    assert torch.equal(default, generator.sample(20, seed=1, labels=balanced_labels(20)))
    sevens = generator.sample(20, seed=1, labels=7)
    assert not torch.equal(default, sevens)
    assert torch.equal(sevens, generator.sample(20, seed=1, labels=torch.full((20,), 7)))
    assert generator.training  # sample() puts the mode back


@pytest.mark.parametrize(
    ("labels", "message"),
    [
        (None, "pass labels"),
        (10, r"0\.\.9"),
        (-1, r"0\.\.9"),
        ([1, 2], "2 labels for 4 images"),
        (torch.tensor([0.5, 1, 2, 3]), "whole numbers"),
        (True, "whole numbers"),
        ("seven", "whole numbers"),
        (torch.zeros(4, 1, dtype=torch.long), "1-D"),
    ],
)
def test_bad_labels_get_a_clear_error(labels, message):
    generator, critic = _pair()
    with pytest.raises(ValueError, match=message):
        generator.code_for(torch.randn(4, 8), labels)
    with pytest.raises(ValueError, match=message):
        critic.logits(torch.rand(4, 1, 28, 28), labels)


def test_unconditional_models_refuse_labels_and_bad_settings_are_refused():
    with pytest.raises(ValueError, match="unconditional"):
        ConvGenerator(8, 4).code_for(torch.randn(2, 8), [1, 2])
    with pytest.raises(ValueError, match="unconditional"):
        ConvDiscriminator(4).logits(torch.rand(2, 784), [1, 2])
    with pytest.raises(ValueError, match="n_classes"):
        ConvGenerator(8, 4, n_classes=-1)
    with pytest.raises(ValueError, match="depth"):
        ConvDiscriminator(4, depth=4)


def test_the_projection_critic_scores_the_claimed_label():
    _, critic = _pair()
    with torch.no_grad():
        critic.class_directions.parametrizations.weight.original.normal_()
    x = torch.rand(1, 1, 28, 28).repeat(10, 1, 1, 1)
    scores = critic.logits(x, torch.arange(10)).squeeze(1)
    assert scores.unique().numel() == 10  # same image, ten claims, ten scores
    assert critic(x, torch.arange(10)).shape == (10, 1)


def test_the_deeper_critic_adds_a_layer_and_weights():
    shallow = ConvDiscriminator(width=4)
    deep = ConvDiscriminator(width=4, depth=3)
    assert sum(p.numel() for p in deep.parameters()) > sum(p.numel() for p in shallow.parameters())
    x = torch.rand(3, 784)
    assert deep.logits(x).shape == shallow.logits(x).shape == (3, 1)


def test_training_learns_from_labels(small_mnist):
    generator, critic = _pair()
    codes = generator.class_codes.weight.detach().clone()
    history = train_conv_gan(generator, critic, small_mnist, epochs=2, progress=False)
    assert [r["epoch"] for r in history] == [1, 2]
    assert not generator.training
    assert not torch.equal(generator.class_codes.weight, codes)  # the class codes learned


def test_training_refuses_unlabelled_or_mismatched_data(small_mnist):
    generator, critic = _pair()
    with pytest.raises(ValueError, match="no labels"):
        train_conv_gan(generator, critic, small_mnist.images, epochs=1, progress=False)
    with pytest.raises(ValueError, match="same n_classes"):
        train_conv_gan(generator, ConvDiscriminator(4), small_mnist, epochs=1, progress=False)
    generator3, critic3 = _pair(n_classes=3)
    with pytest.raises(ValueError, match=r"outside the model's 0\.\.2"):
        train_conv_gan(generator3, critic3, small_mnist, epochs=1, progress=False)


def test_a_conditional_pair_round_trips_through_checkpoints(tmp_path):
    generator, critic = _pair()
    generator.eval()
    critic.eval()
    checkpoints.save(generator, tmp_path / "g.pt")
    checkpoints.save(critic, tmp_path / "d.pt")
    loaded = checkpoints.load(tmp_path / "g.pt")
    assert loaded.config == {"noise_dim": 8, "width": 4, "n_classes": 10}
    assert torch.equal(loaded.sample(10, seed=4), generator.sample(10, seed=4))
    x, y = torch.rand(5, 1, 28, 28), torch.tensor([0, 3, 5, 7, 9])
    assert torch.allclose(checkpoints.load(tmp_path / "d.pt").logits(x, y), critic.logits(x, y))


@pytest.fixture
def judge(tmp_path_factory, monkeypatch):
    monkeypatch.setenv("COURSE_DATA_DIR", str(tmp_path_factory.mktemp("judge")))
    metrics._JUDGES.clear()
    yield metrics.digit_classifier()
    metrics._JUDGES.clear()


def test_a_briefly_trained_conditional_gan_draws_the_digit_it_is_asked_for(mnist5k_train, judge):
    """A few epochs on mnist5k: the judge must read back the asked-for digit far more often
    than chance (10%, what a generator that ignored its labels would get)."""
    torch.manual_seed(0)
    generator = ConvGenerator(noise_dim=32, width=32, n_classes=10)
    critic = ConvDiscriminator(width=32, n_classes=10, depth=3)
    train_conv_gan(generator, critic, mnist5k_train, epochs=4, progress=False)
    asked = balanced_labels(500)
    with torch.no_grad():
        read = judge(generator.sample(500, seed=0, labels=asked)).argmax(1)
    agreement = (read == asked).float().mean().item()
    assert agreement > 0.4, agreement  # measured: 0.54 after 4 epochs


def test_critic_for_matches_the_generator():
    conditional = critic_for(ConvGenerator(8, 6, n_classes=4))
    assert conditional.config == {"width": 6, "spectral_norm": True, "n_classes": 4, "depth": 3}
    plain = critic_for(ConvGenerator(8, 6))
    assert plain.config == {"width": 6, "spectral_norm": True, "n_classes": 0, "depth": 2}
    with pytest.raises(ValueError, match="ConvGenerator"):
        critic_for(ConvDiscriminator(4))
