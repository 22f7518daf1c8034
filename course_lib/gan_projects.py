"""Notebook 03b's two projects: the experiments as functions (the revealable solutions) and the
checks that say whether a conclusion follows from the measured numbers.

Each experiment takes minutes of CPU at full size, so the notebook does not run it for you: the
learner runs it (or their own version), then asks the check whether their answer is what their
numbers say. A GAN run depends on the machine and the seed, so the checks judge the reasoning
against the learner's own measurements, never against numbers written down in advance.
"""

from __future__ import annotations

from typing import Any

from torch.utils.data import Dataset

from .checks import check
from .metrics import DigitClassifier, sample_quality
from .models import ConvDiscriminator, ConvGenerator, critic_for
from .recipes import EPOCHS_CGAN, RECIPES
from .training import set_seed, train_conv_gan

__all__ = [
    "STABILISER_RUNS",
    "check_critic_depth",
    "check_most_important_stabiliser",
    "critic_depth_study",
    "stabiliser_ablation",
]

#: Project A's runs: the full recipe, then each stabiliser taken away (train_conv_gan settings).
STABILISER_RUNS: dict[str, dict[str, Any]] = {
    "all four": {},
    "no average": {"ema_decay": 0.0},
    "no shift": {"max_shift": 0},
    "bce loss": {"loss": "bce"},
}
#: The course's conditional conv GAN (recipe ``cgan_mnist5k``): its sizes and learning rate.
CONFIG = RECIPES["cgan_mnist5k"].config
LR = RECIPES["cgan_mnist5k"].lr


def _fd_ratio(
    generator: ConvGenerator, n_samples: int, classifier: DigitClassifier | None
) -> float:
    samples = generator.sample(n_samples, seed=1)
    return sample_quality(samples, n_reference=n_samples, classifier=classifier)["fd_ratio"]


def stabiliser_ablation(
    data: Dataset,
    *,
    epochs: int = EPOCHS_CGAN,
    seed: int = 0,
    n_samples: int = 1000,
    classifier: DigitClassifier | None = None,
    progress: bool = True,
) -> dict[str, float]:
    """Project A's solution: train the conditional conv GAN once with all four stabilisers and
    once without each, for ``epochs`` epochs from the same seed; the Fréchet ratio of each run
    (lower is better). About 4 x 30 s at the course's 8 epochs."""
    ratios = {}
    for name, settings in STABILISER_RUNS.items():
        set_seed(seed)
        generator = ConvGenerator(**CONFIG)
        train_conv_gan(
            generator, critic_for(generator), data, epochs=epochs, lr=LR, seed=seed,
            progress=progress, **settings,
        )  # fmt: skip
        ratios[name] = _fd_ratio(generator, n_samples, classifier)
    return ratios


def check_most_important_stabiliser(answer: object, fd_ratios: dict[str, float] | None) -> bool:
    """Right when ``answer`` names the run (of ``STABILISER_RUNS`` but "all four") whose missing
    stabiliser raised the Fréchet ratio the most in ``fd_ratios``, the learner's measurements."""
    if answer is None or fd_ratios is None:
        print("Not answered yet: measure fd_ratios, name the run that lost most, run the cell.")
        return False
    missing = sorted(set(STABILISER_RUNS) - set(fd_ratios))
    if missing:
        raise ValueError(f"fd_ratios needs a Fréchet ratio for every run; missing {missing}")
    ablations = [name for name in STABILISER_RUNS if name != "all four"]
    if answer not in ablations:
        raise ValueError(f"answer must be one of {ablations}, got {answer!r}")
    worst = max(ablations, key=lambda name: fd_ratios[name])
    numbers = ", ".join(f"{name} {fd_ratios[name]:.1f}" for name in STABILISER_RUNS)
    right = answer == worst
    hint = "" if right else f"; the largest Fréchet ratio is {worst!r}'s"
    return check(f"the run that lost most is {answer!r}", right, f"Fréchet ratios: {numbers}{hint}")


def critic_depth_study(
    data: Dataset,
    *,
    lengths: tuple[int, int] = (8, 60),
    seed: int = 0,
    n_samples: int = 1000,
    classifier: DigitClassifier | None = None,
    progress: bool = True,
) -> dict[tuple[int, int], float]:
    """Project B's solution: the conditional conv GAN against a two-layer and the course's
    three-layer critic, each trained for every length in ``lengths`` (epochs); the Fréchet
    ratio keyed by ``(depth, epochs)``. At (8, 60) epochs: several minutes of CPU."""
    ratios = {}
    for epochs in lengths:
        for depth in (2, 3):
            set_seed(seed)
            generator = ConvGenerator(**CONFIG)
            critic = ConvDiscriminator(CONFIG["width"], n_classes=CONFIG["n_classes"], depth=depth)
            train_conv_gan(
                generator, critic, data, epochs=epochs, lr=LR, seed=seed, progress=progress
            )
            ratios[(depth, epochs)] = _fd_ratio(generator, n_samples, classifier)
    return ratios


def check_critic_depth(answer: object, fd_ratios: dict[tuple[int, int], float] | None) -> bool:
    """Right when ``answer`` is the shortest run length (epochs) at which the three-layer critic
    gave a lower Fréchet ratio than the two-layer one in ``fd_ratios``, or ``"never"``."""
    if answer is None or fd_ratios is None:
        print("Not answered yet: measure fd_ratios, give the length (or 'never'), run the cell.")
        return False
    lengths = sorted({epochs for _, epochs in fd_ratios})
    if not lengths or any((depth, n) not in fd_ratios for n in lengths for depth in (2, 3)):
        raise ValueError(
            "fd_ratios needs a ratio for depth 2 and depth 3 at every length, keyed (depth, "
            f"epochs); got {sorted(fd_ratios)}"
        )
    if answer != "never" and answer not in lengths:
        raise ValueError(f"answer must be one of {lengths} or 'never', got {answer!r}")
    better = [n for n in lengths if fd_ratios[(3, n)] < fd_ratios[(2, n)]]
    expected = better[0] if better else "never"
    numbers = ", ".join(
        f"{n} epochs: {fd_ratios[(2, n)]:.1f} vs {fd_ratios[(3, n)]:.1f}" for n in lengths
    )
    right = answer == expected
    hint = "" if right else f"; the numbers say {expected!r}"
    return check(
        f"the deeper critic starts to matter at {answer!r}",
        right,
        f"Fréchet ratio, depth 2 vs depth 3: {numbers}{hint}",
    )
