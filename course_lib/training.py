"""Training loops for the autoencoder, the VAE and the GAN.

All three share one loop (:func:`fit`): shuffle the data with a seeded generator, run a step
function on every mini-batch, stop after ``epochs`` full passes or once ``time_budget`` seconds
have gone by (whichever comes first), show a ``tqdm`` progress bar, and return a history: one
dict per epoch with the mean losses and the seconds it took. Each ``train_*`` function only
says what one step is.
"""

from __future__ import annotations

import copy
import math
import random
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn
from torch.utils.data import DataLoader, Dataset

from .data import ImageDataset, stack_images
from .flow import LatentFlowModel, flow_matching_loss
from .models import (
    AutoencoderModel,
    ConvDiscriminator,
    ConvGenerator,
    Discriminator,
    Generator,
    MixturePriorVAE,
    VariationalAutoencoder,
)
from .pixel_flow import PixelFlow
from .progress import progress_bar
from .runtime import adam

__all__ = [
    "set_seed",
    "resolve_device",
    "fit",
    "progress_bar",
    "vae_step",
    "train_autoencoder",
    "autoencoder_step",
    "train_vae",
    "free_bits_kl",
    "train_gan",
    "discriminator_step",
    "generator_step",
    "generator_loss",
    "train_conv_gan",
    "train_flow",
    "train_pixel_flow",
    "steps_per_second",
    "update_average",
    "frozen",
    "translate",
]

History = list[dict[str, Any]]
EpochCallback = Callable[[dict[str, Any]], None]


def set_seed(seed: int) -> None:
    """Seed Python, NumPy and PyTorch so that a run can be repeated exactly."""
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)


def resolve_device(device: str | torch.device | None = "cpu") -> torch.device:
    """``"cpu"`` (default), ``"cuda"``, ``"mps"``, or ``"auto"``: the best one present."""
    if device is None:
        return torch.device("cpu")
    if isinstance(device, torch.device):
        return device
    if device == "auto":
        if torch.cuda.is_available():
            return torch.device("cuda")
        if getattr(torch.backends, "mps", None) and torch.backends.mps.is_available():
            return torch.device("mps")
        return torch.device("cpu")
    if device.startswith("cuda") and not torch.cuda.is_available():
        raise ValueError("device 'cuda' was asked for but no CUDA GPU is available; use 'cpu'")
    if device == "mps" and not (
        getattr(torch.backends, "mps", None) and torch.backends.mps.is_available()
    ):
        raise ValueError("device 'mps' was asked for but Apple's MPS is not available; use 'cpu'")
    try:
        return torch.device(device)
    except RuntimeError:
        raise ValueError(f"unknown device {device!r}: use cpu, cuda, mps or auto") from None


def _check_budget(epochs: int | None, time_budget: float | None, steps: int | None = None) -> None:
    if epochs is None and time_budget is None and steps is None:
        raise ValueError("give epochs, time_budget or both (or steps) to say how long to train")
    for name, count in (("epochs", epochs), ("steps", steps)):
        if count is not None and (
            isinstance(count, bool) or not isinstance(count, int) or count < 1
        ):
            raise ValueError(f"{name} must be a positive integer, got {count!r}")
    if time_budget is not None and not (
        isinstance(time_budget, (int, float))
        and not isinstance(time_budget, bool)
        and math.isfinite(time_budget)
        and time_budget > 0
    ):
        raise ValueError(f"time_budget must be a positive number of seconds, got {time_budget!r}")


def _batches(
    data: Dataset | torch.Tensor, batch_size: int, generator: torch.Generator
) -> Iterator[tuple[torch.Tensor, torch.Tensor | None]]:
    """Shuffled mini-batches. In-memory datasets are sliced as tensors (fast on a CPU)."""
    images = data if isinstance(data, torch.Tensor) else getattr(data, "images", None)
    if isinstance(images, torch.Tensor):
        labels = getattr(data, "labels", None)
        order = torch.randperm(images.shape[0], generator=generator)
        for start in range(0, len(order), batch_size):
            index = order[start : start + batch_size]
            yield images[index], (labels[index] if labels is not None else None)
        return
    loader = DataLoader(data, batch_size=batch_size, shuffle=True, generator=generator)
    for batch in loader:
        if isinstance(batch, (list, tuple)):
            yield batch[0], (batch[1] if len(batch) > 1 else None)
        else:
            yield batch, None


def fit(
    step: Callable[[torch.Tensor], dict[str, float]],
    data: Dataset | torch.Tensor,
    *,
    epochs: int | None = None,
    time_budget: float | None = None,
    steps: int | None = None,
    batch_size: int = 128,
    seed: int = 0,
    device: torch.device | None = None,
    desc: str = "training",
    progress: bool = True,
    callback: EpochCallback | None = None,
    end_of_epoch: Callable[[], dict[str, float]] | None = None,
    optimizers: Sequence[torch.optim.Optimizer] = (),
    lr_schedule: str = "constant",
    with_labels: bool = False,
) -> History:
    """Run ``step(batch)`` over shuffled mini-batches until the epoch count, the time budget or
    the count of ``steps`` (batches) ends, whichever comes first.

    ``step`` returns the batch's mean losses; the history averages them over each epoch and
    counts its ``steps``.
    ``end_of_epoch`` may add entries (validation metrics); ``callback`` sees every record
    (the live training monitor in the notebooks uses it). With ``lr_schedule="cosine"`` the
    learning rate of ``optimizers`` falls from its initial value to zero along a half cosine
    over the run (Loshchilov & Hutter, 2017), measured in epochs, steps or, under a time budget,
    in seconds, so a short run still ends with small, careful steps. With ``with_labels`` the
    step is called as ``step(images, labels)`` (class-conditional models), and data without
    labels is refused.
    """
    if lr_schedule not in ("constant", "cosine"):
        raise ValueError(f"lr_schedule must be 'constant' or 'cosine', got {lr_schedule!r}")
    base_lrs = [[group["lr"] for group in opt.param_groups] for opt in optimizers]
    _check_budget(epochs, time_budget, steps)
    if isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size < 1:
        raise ValueError(f"batch_size must be a positive integer, got {batch_size!r}")
    if len(data) == 0:
        raise ValueError("the training data is empty")
    if with_labels and isinstance(data, torch.Tensor):
        raise ValueError("this model learns from labelled images; a bare tensor has no labels")
    device = device or torch.device("cpu")
    generator = torch.Generator().manual_seed(seed)
    history: History = []
    start = time.perf_counter()
    by_time = epochs is None and time_budget is not None
    by_steps = epochs is None and time_budget is None
    bar = progress_bar(
        total=round(time_budget) if by_time else steps if by_steps else epochs,
        desc=desc,
        unit="s" if by_time else "step" if by_steps else "epoch",
        bar_format="{l_bar}{bar}| {n}/{total} s [{elapsed}{postfix}]" if by_time else None,
        disable=not progress,
        leave=True,
    )
    out_of_time = False
    epoch = done_steps = 0
    try:
        while not out_of_time and (epochs is None or epoch < epochs):
            epoch += 1
            epoch_start = time.perf_counter()
            sums: dict[str, float] = {}
            seen = epoch_steps = 0
            for images, labels in _batches(data, batch_size, generator):
                if lr_schedule == "cosine":
                    if by_time:
                        done = (time.perf_counter() - start) / time_budget
                    elif by_steps:
                        done = done_steps / steps
                    else:
                        done = (epoch - 1 + seen / len(data)) / epochs
                    factor = 0.5 * (1 + math.cos(math.pi * min(done, 1.0)))
                    for opt, lrs in zip(optimizers, base_lrs, strict=True):
                        for group, lr0 in zip(opt.param_groups, lrs, strict=True):
                            group["lr"] = lr0 * factor
                if with_labels:
                    if labels is None:
                        raise ValueError("this model learns from labelled images; these have none")
                    losses = step(images.to(device), torch.as_tensor(labels).long().to(device))
                else:
                    losses = step(images.to(device, non_blocking=True))
                n = images.shape[0]
                for key, value in losses.items():
                    sums[key] = sums.get(key, 0.0) + value * n
                seen += n
                epoch_steps += 1
                done_steps += 1
                if by_steps:
                    bar.update(1)
                if (time_budget is not None and time.perf_counter() - start >= time_budget) or (
                    steps is not None and done_steps >= steps
                ):
                    out_of_time = True
                    break
            record: dict[str, Any] = {"epoch": epoch}
            record.update({key: total / seen for key, total in sums.items()})
            if end_of_epoch is not None:
                record.update(end_of_epoch())
            now = time.perf_counter()
            record.update(
                seconds=now - epoch_start,
                elapsed=now - start,
                images=seen,
                steps=epoch_steps,
                complete=seen == len(data),
            )
            history.append(record)
            if callback is not None:
                callback(record)
            if by_time:
                bar.update(min(round(now - start), bar.total) - bar.n)
            elif not by_steps:  # a bar of steps moves with every batch, above
                bar.update(1)
            first_key = next(iter(sums), None)
            if first_key is not None:
                bar.set_postfix({first_key: f"{record[first_key]:.4g}"}, refresh=False)
    finally:
        bar.close()
    return history


def _prepare(model: nn.Module, seed: int, device: str | torch.device | None) -> torch.device:
    torch.manual_seed(seed)  # the noise inside steps (VAE sampling, GAN codes) is seeded too
    resolved = resolve_device(device)
    model.to(resolved).train()
    return resolved


def autoencoder_step(
    model: nn.Module, x: torch.Tensor, optimizer: torch.optim.Optimizer
) -> dict[str, float]:
    """One autoencoder update on the batch ``x``: the reconstruction's binary cross-entropy,
    summed over pixels and averaged over images (nats per image), then one optimizer step.
    ``model(x)`` returns ``(reconstructed, code)``, as every course autoencoder does."""
    reconstructed, _ = model(x)
    loss = F.binary_cross_entropy(reconstructed, x, reduction="sum") / x.shape[0]
    optimizer.zero_grad(set_to_none=True)
    loss.backward()
    optimizer.step()
    return {"loss": loss.item()}


def train_autoencoder(
    model: AutoencoderModel,
    data: Dataset | torch.Tensor,
    *,
    epochs: int | None = None,
    time_budget: float | None = None,
    batch_size: int = 128,
    lr: float = 1e-3,
    seed: int = 0,
    device: str | torch.device | None = "cpu",
    progress: bool = True,
    callback: EpochCallback | None = None,
    lr_schedule: str = "cosine",
) -> History:
    """Train to reconstruct; loss = binary cross-entropy summed over pixels, mean per image.

    The learning rate decays along a cosine by default (see :func:`fit`). Afterwards the
    Gaussian that ``model.sample`` draws from is fitted to the training codes.
    """
    if not isinstance(model, AutoencoderModel):
        raise ValueError(f"train_autoencoder needs an AutoencoderModel, got {type(model).__name__}")
    dev = _prepare(model, seed, device)
    optimizer = adam(model.parameters(), lr=lr)

    def step(x: torch.Tensor) -> dict[str, float]:
        return autoencoder_step(model, x, optimizer)

    history = fit(
        step,
        data,
        epochs=epochs,
        time_budget=time_budget,
        batch_size=batch_size,
        seed=seed,
        device=dev,
        desc="autoencoder",
        progress=progress,
        callback=callback,
        optimizers=[optimizer],
        lr_schedule=lr_schedule,
    )
    model.eval()
    with torch.no_grad():
        images = stack_images(data)
        model.fit_latent_prior(torch.cat([model.encode(b.to(dev)) for b in images.split(1024)]))
    return history


def free_bits_kl(mu: torch.Tensor, logvar: torch.Tensor, free_bits: float) -> torch.Tensor:
    """The KL term with free bits: each dimension's mean KL over the batch, charged as at least
    ``free_bits`` nats, summed over dimensions (what :func:`train_vae` minimises per image)."""
    kl_per_dim = (0.5 * (mu.pow(2) + logvar.exp() - 1 - logvar)).mean(0)
    return kl_per_dim.clamp(min=free_bits).sum()


def vae_step(
    model: VariationalAutoencoder,
    optimizer: torch.optim.Optimizer,
    x: torch.Tensor,
    free_bits: float = 0.0,
) -> dict[str, float]:
    """One VAE training step on a batch: encode, reparameterize, decode, reconstruction + KL,
    backward, step. Returns the batch's mean ``loss``, ``recon`` and ``kl`` per image.

    With ``free_bits`` the step minimises the KL of :func:`free_bits_kl` instead (the history
    still reports the true loss). Notebook 02 writes these lines out by hand, and a test
    checks that both agree.
    """
    mu, logvar = model.encode(x)
    z = model.reparameterize(mu, logvar)
    flat = x.reshape(x.shape[0], -1)
    recon = F.binary_cross_entropy(model.decoder(z), flat, reduction="sum")
    kl = model.kl_divergence(z, mu, logvar)  # each VAE knows its own prior's KL
    n = x.shape[0]
    loss = (recon + kl) / n
    objective = recon / n + free_bits_kl(mu, logvar, free_bits) if free_bits else loss
    optimizer.zero_grad(set_to_none=True)
    objective.backward()
    optimizer.step()
    return {"loss": loss.item(), "recon": recon.item() / n, "kl": kl.item() / n}


def train_vae(
    model: VariationalAutoencoder,
    data: Dataset | torch.Tensor,
    *,
    epochs: int | None = None,
    time_budget: float | None = None,
    batch_size: int = 128,
    lr: float = 1e-3,
    seed: int = 0,
    device: str | torch.device | None = "cpu",
    progress: bool = True,
    callback: EpochCallback | None = None,
    val_data: Dataset | None = None,
    lr_schedule: str = "cosine",
    free_bits: float = 0.0,
) -> History:
    """Train by minimising the negative ELBO (reconstruction + KL), reported in nats per image.

    With ``val_data`` every epoch also records ``val_neg_elbo`` on the held-out images.
    The learning rate decays along a cosine by default (see :func:`fit`).

    ``free_bits`` (nats per latent dimension) fights posterior collapse, where the KL term
    pushes the codes onto the prior and the decoder learns to ignore them: the batch's KL of
    each dimension is charged as at least ``free_bits``, so a dimension below that allowance
    costs nothing extra and is free to carry information (Kingma et al., 2016, "free bits").
    The history still records the true ``recon``, ``kl`` and ``loss`` (= recon + kl).
    """
    if not isinstance(model, VariationalAutoencoder):
        raise ValueError(f"train_vae needs a VariationalAutoencoder, got {type(model).__name__}")
    if not (
        isinstance(free_bits, (int, float))
        and not isinstance(free_bits, bool)
        and math.isfinite(free_bits)
        and free_bits >= 0
    ):
        raise ValueError(f"free_bits must be a number of nats >= 0, got {free_bits!r}")
    if free_bits and isinstance(model, MixturePriorVAE):
        raise ValueError("free_bits needs the closed-form KL per dimension of a N(0, I) prior")
    dev = _prepare(model, seed, device)
    optimizer = adam(model.parameters(), lr=lr)

    def step(x: torch.Tensor) -> dict[str, float]:
        return vae_step(model, optimizer, x, free_bits)

    end_of_epoch = None
    if val_data is not None:
        from .metrics import negative_elbo

        def end_of_epoch() -> dict[str, float]:
            value = negative_elbo(model, val_data, device=dev)
            model.train()
            return {"val_neg_elbo": value}

    history = fit(
        step,
        data,
        epochs=epochs,
        time_budget=time_budget,
        batch_size=batch_size,
        seed=seed,
        device=dev,
        desc="VAE",
        progress=progress,
        callback=callback,
        end_of_epoch=end_of_epoch,
        optimizers=[optimizer],
        lr_schedule=lr_schedule,
    )
    model.eval()
    return history


@contextmanager
def frozen(module: nn.Module) -> Iterator[nn.Module]:
    """Inside, ``module``'s weights do not require gradients, so a backward pass through it
    computes only the gradients that flow on to its input, not its own.

    A GAN's generator step needs the discriminator's verdict and the gradient through it, but
    not the discriminator's weight gradients (its next step zeroes them first). Skipping them
    saves about a tenth of a conv GAN's step on a CPU. What was trainable before is again after.
    """
    trainable = [parameter.requires_grad for parameter in module.parameters()]
    module.requires_grad_(False)
    try:
        yield module
    finally:
        for parameter, flag in zip(module.parameters(), trainable, strict=True):
            parameter.requires_grad_(flag)


def discriminator_step(
    discriminator: nn.Module,
    real: torch.Tensor,
    fake: torch.Tensor,
    optimizer: torch.optim.Optimizer,
    real_label: float = 0.9,
) -> dict[str, float]:
    """One discriminator update of :func:`train_gan`: push real up, fake down.

    Loss = BCE(D(real), ``real_label``) + BCE(D(fake), 0), on logits. The fakes are detached, so
    this step leaves the generator alone. Returns ``d_loss`` and the mean verdicts ``d_real`` =
    D(x) and ``d_fake`` = D(G(z)) before the update.
    """
    bce = F.binary_cross_entropy_with_logits
    real_logits = discriminator.logits(real)
    fake_logits = discriminator.logits(fake.detach())  # detach: this step leaves G alone
    d_loss = bce(real_logits, torch.full_like(real_logits, real_label)) + bce(
        fake_logits, torch.zeros_like(fake_logits)
    )
    optimizer.zero_grad(set_to_none=True)
    d_loss.backward()
    optimizer.step()
    return {
        "d_loss": d_loss.item(),
        "d_real": torch.sigmoid(real_logits).mean().item(),
        "d_fake": torch.sigmoid(fake_logits).mean().item(),
    }


def generator_loss(g_logits: torch.Tensor) -> torch.Tensor:
    """The non-saturating generator loss -log D(G(z)) (Goodfellow et al., 2014, section 3):
    BCE of the discriminator's logits on fakes against the label "real" (1)."""
    bce = F.binary_cross_entropy_with_logits
    g_loss = bce(g_logits, torch.ones_like(g_logits))
    return g_loss


def generator_step(
    discriminator: nn.Module, fake: torch.Tensor, optimizer: torch.optim.Optimizer
) -> float:
    """One generator update of :func:`train_gan`: make the (just updated) discriminator call
    ``fake`` (still attached to the generator's graph) real; only ``optimizer`` steps."""
    with frozen(discriminator):  # its own gradients here would be thrown away: skip them
        g_loss = generator_loss(discriminator.logits(fake))
    optimizer.zero_grad(set_to_none=True)
    g_loss.backward()
    optimizer.step()
    return g_loss.item()


def train_gan(
    generator: Generator,
    discriminator: Discriminator,
    data: Dataset | torch.Tensor,
    *,
    epochs: int | None = None,
    time_budget: float | None = None,
    batch_size: int = 64,
    lr: float = 1e-3,
    betas: tuple[float, float] = (0.5, 0.999),
    real_label: float = 0.9,
    seed: int = 0,
    device: str | torch.device | None = "cpu",
    progress: bool = True,
    callback: EpochCallback | None = None,
    desc: str = "MLP GAN",
) -> History:
    """Alternate one discriminator step and one generator step on every mini-batch.

    An epoch is a full pass over the data. The learning rate 1e-3 is higher than the 2e-4 usual
    for convolutional GANs: for these small MLPs it gave the most varied, cleanest digits in
    60 epochs (2e-4 left speckled, partly collapsed samples; see notebook 03). The
    discriminator learns real -> ``real_label`` (0.9: one-sided label smoothing keeps it from
    growing over-confident) and fake -> 0; the
    generator uses the non-saturating loss -log D(G(z)) (Goodfellow et al., 2014, section 3).
    History entries: ``d_loss``, ``g_loss`` and the mean scores ``d_real`` = D(x), ``d_fake`` =
    D(G(z)). ``desc`` names the run on its progress bar (useful when a notebook trains several).
    """
    if not isinstance(generator, Generator) or not isinstance(discriminator, Discriminator):
        raise ValueError("train_gan needs a Generator and a Discriminator")
    if generator.config["output_dim"] != discriminator.config["input_dim"]:
        raise ValueError(
            f"the generator makes {generator.config['output_dim']} values per image but the "
            f"discriminator reads {discriminator.config['input_dim']}"
        )
    dev = _prepare(generator, seed, device)
    discriminator.to(dev).train()
    # The plain Adam, not runtime.adam's fused one: notebook 03 checks this loop weight for
    # weight against its hand-written copy, and the fused kernel only agrees to rounding.
    opt_g = torch.optim.Adam(generator.parameters(), lr=lr, betas=betas)
    opt_d = torch.optim.Adam(discriminator.parameters(), lr=lr, betas=betas)

    def step(x: torch.Tensor) -> dict[str, float]:
        n = x.shape[0]
        real = x.reshape(n, -1) * 2 - 1  # [0, 1] -> [-1, 1], the range of the tanh output
        fake = generator(torch.randn(n, generator.noise_dim, device=dev))
        d = discriminator_step(discriminator, real, fake, opt_d, real_label=real_label)
        return {**d, "g_loss": generator_step(discriminator, fake, opt_g)}

    history = fit(
        step,
        data,
        epochs=epochs,
        time_budget=time_budget,
        batch_size=batch_size,
        seed=seed,
        device=dev,
        desc=desc,
        progress=progress,
        callback=callback,
    )
    generator.eval()
    discriminator.eval()
    return history


@torch.no_grad()
def update_average(average: nn.Module, model: nn.Module, decay: float) -> None:
    """One step of an exponential moving average of ``model``'s weights into ``average``
    (same architecture): avg <- decay * avg + (1 - decay) * current. Buffers (batch-norm
    statistics, the flow's code statistics) are copied: they follow the live model."""
    for avg, current in zip(average.parameters(), model.parameters(), strict=True):
        avg.lerp_(current, 1 - decay)
    for avg, current in zip(average.buffers(), model.buffers(), strict=True):
        avg.copy_(current)


def translate(images: torch.Tensor, max_shift: int, generator: torch.Generator | None = None):
    """Shift every image by its own random offset of up to ``max_shift`` pixels, filling with
    the background value -1. Built from indexing only, so gradients flow through it: this is
    the translation of differentiable augmentation (Zhao et al., 2020)."""
    if max_shift <= 0:
        return images
    n, _, height, width = images.shape
    padded = F.pad(images, (max_shift,) * 4, value=-1.0)
    offsets = torch.randint(0, 2 * max_shift + 1, (2, n), generator=generator)
    offsets = offsets.to(images.device)
    rows = (offsets[0][:, None] + torch.arange(height, device=images.device))[:, :, None]
    cols = (offsets[1][:, None] + torch.arange(width, device=images.device))[:, None, :]
    batch = torch.arange(n, device=images.device)[:, None, None]
    return padded[:, 0][batch, rows, cols].unsqueeze(1)


def train_conv_gan(
    generator: ConvGenerator,
    discriminator: ConvDiscriminator,
    data: Dataset | torch.Tensor,
    *,
    epochs: int | None = None,
    time_budget: float | None = None,
    batch_size: int = 64,
    lr: float = 3e-3,
    betas: tuple[float, float] = (0.5, 0.999),
    ema_decay: float = 0.995,
    max_shift: int = 3,
    loss: str = "hinge",
    seed: int = 0,
    device: str | torch.device | None = "cpu",
    progress: bool = True,
    callback: EpochCallback | None = None,
    lr_schedule: str = "cosine",
) -> History:
    """Train the convolutional GAN with the stabilisers that make it work in minutes on a CPU.

    - **Hinge loss** (Lim & Ye, 2017): the critic only learns from real scores below +1 and fake
      scores above -1, so it stops pushing once it is sure, and the generator maximises the
      critic's score of its fakes.
    - **Spectral normalisation** in the critic (see :class:`ConvDiscriminator`).
    - **Differentiable augmentation** (Zhao et al., 2020): real and fake images are shifted by up
      to ``max_shift`` pixels before the critic sees them, so with only 4,000 training digits
      it cannot simply memorise them; gradients still reach the generator through the shift.
    - **Exponential moving average** of the generator's weights (Karras et al., 2018;
      Yazici et al., 2019): the returned generator holds the average with decay ``ema_decay``,
      which smooths away the last steps' oscillations.
    - A **cosine learning-rate decay** to zero (see :func:`fit`).

    A class-conditional pair (both built with ``n_classes``) learns from the data's labels: the
    critic sees each real digit with its label and each fake with the label it was drawn for
    (uniformly at random), so the generator learns to draw the digit it is asked for.

    History entries: ``d_loss``, ``g_loss``, and the mean critic scores ``d_real`` / ``d_fake``.
    """
    if not isinstance(generator, ConvGenerator) or not isinstance(discriminator, ConvDiscriminator):
        raise ValueError("train_conv_gan needs a ConvGenerator and a ConvDiscriminator")
    if generator.n_classes != discriminator.n_classes:
        raise ValueError(
            f"the generator draws {generator.n_classes} classes but the critic judges "
            f"{discriminator.n_classes} (0 = unconditional); build both with the same n_classes"
        )
    if loss not in ("hinge", "bce"):
        raise ValueError(f"loss must be 'hinge' or 'bce', got {loss!r}")
    if not 0 <= ema_decay < 1:
        raise ValueError(f"ema_decay must be in [0, 1), got {ema_decay!r}")
    if isinstance(max_shift, bool) or not isinstance(max_shift, int) or not 0 <= max_shift < 14:
        raise ValueError(f"max_shift must be a whole number of pixels in 0..13, got {max_shift!r}")
    n_classes = generator.n_classes
    if n_classes:
        labels = getattr(data, "labels", None)
        if isinstance(data, torch.Tensor) or (labels is None and hasattr(data, "images")):
            raise ValueError(
                "a class-conditional GAN learns from labelled digits; this data has no labels"
            )
        if (
            isinstance(labels, torch.Tensor)
            and labels.numel()
            and (labels.min() < 0 or labels.max() >= n_classes)
        ):
            raise ValueError(
                f"the data's labels run {int(labels.min())}..{int(labels.max())}, outside the "
                f"model's 0..{n_classes - 1}"
            )
    dev = _prepare(generator, seed, device)
    discriminator.to(dev).train()
    average = copy.deepcopy(generator).eval()
    for parameter in average.parameters():
        parameter.requires_grad_(False)
    opt_g = adam(generator.parameters(), lr=lr, betas=betas)
    opt_d = adam(discriminator.parameters(), lr=lr, betas=betas)
    shifts = torch.Generator().manual_seed(seed + 1)
    draws = torch.Generator().manual_seed(seed + 2)

    def fake_labels(n: int) -> torch.Tensor | None:
        if not n_classes:
            return None
        return torch.randint(0, n_classes, (n,), generator=draws).to(dev)

    def step(x: torch.Tensor, real_labels: torch.Tensor | None = None) -> dict[str, float]:
        n = x.shape[0]
        real = x.reshape(n, 1, 28, 28) * 2 - 1
        wanted = fake_labels(n)
        fake = generator(torch.randn(n, generator.noise_dim, device=dev), wanted)

        real_scores = discriminator.logits(translate(real, max_shift, shifts), real_labels)
        fake_scores = discriminator.logits(translate(fake.detach(), max_shift, shifts), wanted)
        if loss == "hinge":
            d_loss = F.relu(1 - real_scores).mean() + F.relu(1 + fake_scores).mean()
        else:  # binary cross-entropy on logits: -log D(x) - log(1 - D(G(z)))
            d_loss = F.softplus(-real_scores).mean() + F.softplus(fake_scores).mean()
        opt_d.zero_grad(set_to_none=True)
        d_loss.backward()
        opt_d.step()

        with frozen(discriminator):  # the critic's own gradients would be thrown away
            fake_for_g = discriminator.logits(translate(fake, max_shift, shifts), wanted)
        # hinge: raise the critic's score; bce: the non-saturating -log D(G(z))
        g_loss = -fake_for_g.mean() if loss == "hinge" else F.softplus(-fake_for_g).mean()
        opt_g.zero_grad(set_to_none=True)
        g_loss.backward()
        opt_g.step()

        update_average(average, generator, ema_decay)
        return {
            "d_loss": d_loss.item(),
            "g_loss": g_loss.item(),
            "d_real": real_scores.mean().item(),
            "d_fake": fake_scores.mean().item(),
        }

    history = fit(
        step,
        data,
        epochs=epochs,
        time_budget=time_budget,
        batch_size=batch_size,
        seed=seed,
        device=dev,
        desc="conv GAN",
        progress=progress,
        callback=callback,
        optimizers=[opt_g, opt_d],
        lr_schedule=lr_schedule,
        with_labels=bool(n_classes),
    )
    generator.load_state_dict(average.state_dict())
    generator.eval()
    discriminator.eval()
    return history


def train_flow(
    model: LatentFlowModel,
    data: Dataset | torch.Tensor,
    *,
    epochs: int | None = None,
    time_budget: float | None = None,
    steps: int | None = None,
    batch_size: int = 256,
    lr: float = 2e-3,
    ema_decay: float = 0.999,
    label_dropout: float = 0.1,
    seed: int = 0,
    device: str | torch.device | None = "cpu",
    progress: bool = True,
    callback: EpochCallback | None = None,
    lr_schedule: str = "cosine",
) -> History:
    """Train the latent flow on the codes of ``model.autoencoder`` (trained already, left as is).

    The training digits are encoded once and standardised (:meth:`LatentFlowModel.fit_code_stats`);
    each step then costs one small MLP on a batch of 32-number codes instead of a network on
    784 pixels. Each label is replaced by "no class" with probability ``label_dropout``, so the
    same network also learns the unconditional flow that classifier-free guidance needs. The
    returned model holds the exponential moving average of the weights (decay ``ema_decay``,
    see :func:`update_average`). History entries: ``loss`` (the flow-matching loss), ``steps``.
    """
    if not isinstance(model, LatentFlowModel):
        raise ValueError(f"train_flow needs a LatentFlowModel, got {type(model).__name__}")
    images, labels = _flow_data(model, data)
    dev = _prepare(model, seed, device)
    autoencoder = model.autoencoder.eval()
    with torch.no_grad():
        codes = torch.cat([autoencoder.encode(b.to(dev)) for b in images.split(1024)])
        model.fit_code_stats(codes)
        # Codes as 1x1 "images" with one channel per number: fit slices them like digits.
        codes = ImageDataset(model.standardise(codes).cpu()[:, :, None, None], labels, [])
    flow_parameters = [
        p for name, p in model.named_parameters() if not name.startswith("autoencoder.")
    ]
    return _train_velocity(
        model, codes, flow_parameters, "latent flow", **_velocity_settings(locals()), device=dev
    )


def train_pixel_flow(
    model: PixelFlow,
    data: Dataset | torch.Tensor,
    *,
    epochs: int | None = None,
    time_budget: float | None = None,
    steps: int | None = None,
    batch_size: int = 256,
    lr: float = 2e-3,
    ema_decay: float = 0.0,
    label_dropout: float = 0.1,
    seed: int = 0,
    device: str | torch.device | None = "cpu",
    progress: bool = True,
    callback: EpochCallback | None = None,
    lr_schedule: str = "cosine",
) -> History:
    """Train a pixel flow (:mod:`course_lib.pixel_flow`) exactly as :func:`train_flow` trains the
    latent one (the same loss, label dropout, optimizer and loop), on the digits' pixels scaled
    to [-1, 1] instead of the autoencoder's codes. No weight average by default: the short runs
    it is made for have too few steps to average.
    """
    if not isinstance(model, PixelFlow):
        raise ValueError(f"train_pixel_flow needs a pixel flow, got {type(model).__name__}")
    images, labels = _flow_data(model, data)
    dev = _prepare(model, seed, device)
    pixels = ImageDataset(model.standardise(images)[:, :, None, None], labels, [])
    return _train_velocity(
        model,
        pixels,
        list(model.parameters()),
        "pixel flow",
        **_velocity_settings(locals()),
        device=dev,
    )


def steps_per_second(history: History) -> dict[str, float]:
    """How fast a run went: ``steps`` (batches) done, ``seconds`` and ``steps_per_second``."""
    if not history:
        raise ValueError("the history is empty: nothing was trained")
    steps = sum(record["steps"] for record in history)
    seconds = history[-1]["elapsed"]
    return {"steps": steps, "seconds": seconds, "steps_per_second": steps / seconds}


_VELOCITY_SETTINGS = (
    "epochs", "time_budget", "steps", "batch_size", "lr", "ema_decay", "label_dropout", "seed",
    "progress", "callback", "lr_schedule",
)  # fmt: skip


def _velocity_settings(arguments: dict[str, Any]) -> dict[str, Any]:
    return {name: arguments[name] for name in _VELOCITY_SETTINGS}


def _flow_data(model: nn.Module, data: Dataset | torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """The images of ``data`` and the labels a flow learns with: checked against its classes,
    or all "no class" for an unconditional flow."""
    images = stack_images(data)
    if images.shape[0] == 0:
        raise ValueError("the training data is empty")
    labels = getattr(data, "labels", None)
    if not model.n_classes:
        return images, torch.full((images.shape[0],), model.null_label)
    if labels is None or isinstance(data, torch.Tensor):
        raise ValueError("a class-conditional flow learns from labelled digits; these have none")
    labels = torch.as_tensor(labels).long()
    if labels.min() < 0 or labels.max() >= model.n_classes:
        raise ValueError(
            f"the data's labels run {int(labels.min())}..{int(labels.max())}, outside the "
            f"model's 0..{model.n_classes - 1}"
        )
    return images, labels


def _train_velocity(
    model: nn.Module,
    data: ImageDataset,
    parameters: list[nn.Parameter],
    desc: str,
    *,
    ema_decay: float,
    label_dropout: float,
    lr: float,
    seed: int,
    device: torch.device,
    **budget: Any,
) -> History:
    """The one training loop of every flow: flow-matching loss on ``data`` (already in the
    flow's space, one item per row), label dropout, Adam on ``parameters``, a weight average."""
    if not 0 <= ema_decay < 1:
        raise ValueError(f"ema_decay must be in [0, 1), got {ema_decay!r}")
    if not 0 <= label_dropout <= 1:
        raise ValueError(f"label_dropout must be in [0, 1], got {label_dropout!r}")
    optimizer = adam(parameters, lr=lr)
    average = copy.deepcopy(model).eval()
    for parameter in average.parameters():
        parameter.requires_grad_(False)
    drops = torch.Generator().manual_seed(seed + 1)

    def step(x: torch.Tensor, y: torch.Tensor) -> dict[str, float]:
        dropped = torch.rand(y.shape[0], generator=drops).to(device) < label_dropout
        loss = flow_matching_loss(model, x.flatten(1), y.masked_fill(dropped, model.null_label))
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        update_average(average, model, ema_decay)
        return {"loss": loss.item()}

    history = fit(
        step,
        data,
        seed=seed,
        device=device,
        desc=desc,
        optimizers=[optimizer],
        with_labels=True,
        **budget,
    )
    model.load_state_dict(average.state_dict())
    model.eval()
    return history
