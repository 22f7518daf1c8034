"""Tests for the sample-quality metrics (classifier score, Fréchet distance, memorisation) and
the convolutional GAN they judge."""

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from scipy import linalg

from course_lib import checkpoints, metrics
from course_lib.data import load_dataset
from course_lib.models import ConvDiscriminator, ConvGenerator, DigitClassifier
from course_lib.training import train_conv_gan, translate


@pytest.fixture(scope="module")
def judge_dir(tmp_path_factory):
    """Train the judge once for this module, in a private data folder."""
    folder = tmp_path_factory.mktemp("judge-data")
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("COURSE_DATA_DIR", str(folder))
        metrics._JUDGES.clear()
        metrics.digit_classifier()
        yield folder
        metrics._JUDGES.clear()


@pytest.fixture
def judge(judge_dir, monkeypatch):
    monkeypatch.setenv("COURSE_DATA_DIR", str(judge_dir))
    return metrics.digit_classifier()


@pytest.fixture(scope="module")
def test_digits():
    return load_dataset("mnist5k", "test")


@pytest.fixture(scope="module")
def train_digits():
    return load_dataset("mnist5k", "train")


def test_the_judge_reads_held_out_digits_well(judge, test_digits):
    assert isinstance(judge, DigitClassifier)
    assert metrics.classifier_accuracy(judge, test_digits) >= 0.95
    assert judge.metadata["test_accuracy"] >= 0.95


def test_the_judge_is_saved_once_and_loaded_after(judge_dir, judge, monkeypatch):
    path = judge_dir / "checkpoints" / "digit_classifier.pt"
    assert path.is_file()
    metrics._JUDGES.clear()

    def no_training(*args, **kwargs):
        raise AssertionError("the saved judge should have been loaded, not retrained")

    monkeypatch.setattr(metrics, "_train_classifier", no_training)
    loaded = metrics.digit_classifier()
    x = load_dataset("mnist5k", "test").images[:50]
    assert torch.equal(loaded(x), judge(x))


def test_a_judge_from_another_recipe_is_retrained(tmp_path, monkeypatch, judge):
    monkeypatch.setenv("COURSE_DATA_DIR", str(tmp_path))
    checkpoints.save(judge, tmp_path / "checkpoints" / "digit_classifier.pt", recipe={"epochs": 1})
    metrics._JUDGES.clear()
    trained = []
    monkeypatch.setattr(
        metrics, "_train_classifier", lambda *a: trained.append(1) or DigitClassifier().eval()
    )
    metrics.digit_classifier()
    metrics._JUDGES.clear()
    assert trained == [1]


def test_classifier_score_rewards_confident_and_varied_digits(judge, test_digits):
    real = metrics.classifier_score(test_digits.images, judge)
    ones = test_digits.images[test_digits.labels == 1]
    only_ones = metrics.classifier_score(ones, judge)
    noise = torch.rand(500, 1, 28, 28, generator=torch.Generator().manual_seed(0))
    assert 7.0 < real <= 10.0
    assert only_ones < 1.5  # confident, but one class: p(y|x) equals p(y)
    assert metrics.classifier_score(noise, judge) < 3.0


def test_frechet_distance_is_zero_for_one_set_and_grows_with_difference(judge, test_digits):
    real = test_digits.images[:500]
    other_real = test_digits.images[500:]
    blurred = F.avg_pool2d(real, 3, stride=1, padding=1)
    same = metrics.frechet_distance(real, real, judge)
    near = metrics.frechet_distance(real, other_real, judge)
    far = metrics.frechet_distance(real, blurred, judge)
    assert same == pytest.approx(0.0, abs=1e-6)
    assert near == pytest.approx(metrics.frechet_distance(other_real, real, judge), rel=1e-6)
    assert 0 < near < far


def test_frechet_formula_matches_scipy_matrix_square_root():
    rng = np.random.default_rng(0)
    a = rng.normal(size=(300, 6)) @ rng.normal(size=(6, 6))
    b = rng.normal(loc=0.5, size=(300, 6)) @ rng.normal(size=(6, 6))
    cov_a, cov_b = np.cov(a, rowvar=False), np.cov(b, rowvar=False)
    root = linalg.sqrtm(cov_a @ cov_b).real
    expected = ((a.mean(0) - b.mean(0)) ** 2).sum() + np.trace(cov_a + cov_b - 2 * root)
    assert metrics._frechet(a, b) == pytest.approx(expected, rel=1e-6)


def test_sample_quality_puts_real_digits_at_one(judge, train_digits):
    real = metrics.sample_quality(train_digits.images[1000:2000], classifier=judge)
    assert real["score_ratio"] == pytest.approx(1.0, abs=0.1)
    assert 0.5 < real["fd_ratio"] < 2.0
    assert real["real_fd"] > 0
    blurred = F.avg_pool2d(train_digits.images[1000:2000], 5, stride=1, padding=2)
    worse = metrics.sample_quality(blurred, classifier=judge)
    assert worse["fd_ratio"] > 3 * real["fd_ratio"]


def test_memorisation_check_tells_copies_from_new_digits(train_digits, test_digits):
    train = train_digits.images
    copies = metrics.memorisation_check(train[:200], train, test_digits.images)
    new = metrics.memorisation_check(test_digits.images[:200], train, test_digits.images[200:])
    assert copies["copies"] == 1.0 and copies["ratio"] == pytest.approx(0.0, abs=1e-6)
    assert new["copies"] < 0.05
    assert 0.8 < new["ratio"] < 1.25


@pytest.mark.parametrize(
    ("images", "message"),
    [
        (torch.rand(10, 3, 32, 32), "28x28"),
        (torch.rand(0, 1, 28, 28), "non-empty"),
        (torch.full((4, 1, 28, 28), float("nan")), "NaN"),
        (torch.rand(4, 1, 28, 28) * 2 - 1, "[0, 1]"),
        ("not images", "tensor"),
    ],
)
def test_metrics_refuse_what_is_not_a_batch_of_digits(judge, images, message):
    with pytest.raises(ValueError, match=message):
        metrics.classifier_score(images, judge)


def test_memorisation_check_refuses_a_bad_quantile(train_digits):
    with pytest.raises(ValueError, match="copy_quantile"):
        metrics.memorisation_check(
            train_digits.images[:5], train_digits, train_digits, copy_quantile=1
        )


def test_conv_generator_samples_digit_shaped_images_reproducibly():
    torch.manual_seed(0)
    generator = ConvGenerator(noise_dim=8, width=4)
    first = generator.sample(6, seed=3)
    assert first.shape == (6, 1, 28, 28)
    assert first.min() >= 0 and first.max() <= 1
    assert torch.equal(first, generator.sample(6, seed=3))
    assert generator.training  # sample() puts the mode back
    generator.eval()
    z = torch.randn(5, 8)
    assert torch.allclose(generator.decode(z)[:1], generator.decode(z[:1]), atol=1e-6)


def test_translate_moves_digits_and_lets_gradients_through():
    x = -torch.ones(8, 1, 28, 28)
    x[:, :, 10:18, 10:18] = 1.0  # a square well inside the frame
    x.requires_grad_(True)
    shifted = translate(x, 3, torch.Generator().manual_seed(0))
    assert shifted.shape == x.shape
    assert torch.allclose((shifted + 1).sum((1, 2, 3)), (x + 1).sum((1, 2, 3)))
    assert not torch.equal(shifted, x)
    shifted.sum().backward()
    assert x.grad is not None and x.grad.abs().sum() > 0
    assert translate(x, 0) is x


def test_train_conv_gan_returns_the_weight_average(small_mnist):
    torch.manual_seed(0)
    generator, critic = ConvGenerator(noise_dim=8, width=4), ConvDiscriminator(width=4)
    start = {k: v.clone() for k, v in generator.state_dict().items()}
    history = train_conv_gan(generator, critic, small_mnist, epochs=2, progress=False)
    assert [r["epoch"] for r in history] == [1, 2]
    assert {"d_loss", "g_loss", "d_real", "d_fake"} <= set(history[0])
    assert all(np.isfinite(r["d_loss"]) for r in history)
    assert not generator.training
    moved = generator.state_dict()["project.0.weight"] - start["project.0.weight"]
    assert moved.abs().max() > 0
    # with decay 0 the average is simply the last weights: the two runs must differ
    torch.manual_seed(0)
    live, live_critic = ConvGenerator(noise_dim=8, width=4), ConvDiscriminator(width=4)
    train_conv_gan(live, live_critic, small_mnist, epochs=2, progress=False, ema_decay=0.0)
    assert not torch.allclose(
        live.state_dict()["project.0.weight"], generator.state_dict()["project.0.weight"]
    )


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [({"ema_decay": 1.0}, "ema_decay"), ({"max_shift": 20}, "max_shift")],
)
def test_train_conv_gan_refuses_bad_settings(small_mnist, kwargs, message):
    with pytest.raises(ValueError, match=message):
        train_conv_gan(ConvGenerator(8, 4), ConvDiscriminator(4), small_mnist, epochs=1, **kwargs)


def test_conv_gan_round_trips_through_a_checkpoint(tmp_path):
    torch.manual_seed(0)
    generator, critic = ConvGenerator(noise_dim=8, width=4).eval(), ConvDiscriminator(width=4)
    checkpoints.save(generator, tmp_path / "g.pt")
    checkpoints.save(critic, tmp_path / "d.pt")
    assert torch.equal(
        checkpoints.load(tmp_path / "g.pt").sample(3, seed=1), generator.sample(3, seed=1)
    )
    x = torch.rand(3, 1, 28, 28)
    critic.eval()
    assert torch.allclose(checkpoints.load(tmp_path / "d.pt")(x), critic(x))


def test_sample_quality_judges_the_real_digits_once_per_judge(monkeypatch):
    """A sweep (steps, guidance) pays for the real digits' features once, not per call, and a
    judge whose weights change is judged afresh."""
    torch.manual_seed(0)
    judge = DigitClassifier().eval()  # untrained is enough to count the calls
    samples = torch.rand(20, 1, 28, 28)
    calls = []
    real_judge = metrics._judge

    def spy(images, classifier, name):
        calls.append(name)
        return real_judge(images, classifier, name)

    monkeypatch.setattr(metrics, "_judge", spy)
    first = metrics.sample_quality(samples, n_reference=20, classifier=judge)
    second = metrics.sample_quality(samples, n_reference=20, classifier=judge)
    assert first == second
    assert calls.count("held-out digits") == 1 and calls.count("samples") == 2
    metrics.sample_quality(samples, n_reference=30, classifier=judge)
    assert calls.count("held-out digits") == 2  # another reference size: its own entry
    with torch.no_grad():
        judge.head.bias.add_(1.0)
    metrics.sample_quality(samples, n_reference=20, classifier=judge)
    assert calls.count("held-out digits") == 3


def test_a_judge_first_needed_under_no_grad_still_trains(tmp_path, monkeypatch):
    # Judging samples is done under torch.no_grad(); the first call trains the judge there.
    monkeypatch.setenv("COURSE_DATA_DIR", str(tmp_path))
    monkeypatch.setitem(metrics.CLASSIFIER_RECIPE, "epochs", 1)
    metrics._JUDGES.clear()
    try:
        with torch.no_grad():
            judge = metrics.digit_classifier()
        assert (tmp_path / "checkpoints" / "digit_classifier.pt").is_file()
        assert judge.metadata["test_accuracy"] > 0.5  # it learned, in one epoch
    finally:
        metrics._JUDGES.clear()
