"""The lesson's generative models: an autoencoder, a VAE and a GAN, small enough for a laptop CPU.

Every model here that can make images offers the same three things, so notebooks and the web
gallery can treat them alike:

- ``latent_dim``: the size of the code ``z`` the model decodes;
- ``codes(n, seed=None, temperature=1.0, labels=None)``: ``n`` codes drawn from the model's own
  prior (a fitted Gaussian, N(0, I), a learned mixture, or noise plus a class code);
- ``decode(z)``: codes ``(n, latent_dim)`` to images ``(n, 1, 28, 28)`` with values in [0, 1];
- ``sample(n, seed=None, temperature=1.0, labels=None)``: ``decode(codes(...))``, ``n`` new
  images, reproducible when ``seed`` is given.

Whatever draws random images (the widgets, the gallery, the style studio, the CLI) goes through
``codes``/``sample``, so a learned prior or a class label is honoured everywhere at once.

``encode`` and ``forward`` accept a batch of images ``(n, 1, 28, 28)`` or flattened ``(n, 784)``.
"""

from __future__ import annotations

import math
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from .runtime import device_of

__all__ = [
    "AutoencoderModel",
    "VariationalAutoencoder",
    "MixturePriorVAE",
    "Generator",
    "Discriminator",
    "ConvGenerator",
    "ConvDiscriminator",
    "balanced_labels",
    "critic_for",
    "DigitClassifier",
    "StyleVAE",
    "StyleAutoencoder",
    "vae_loss",
    "vae_loss_terms",
    "MODEL_CLASSES",
]


# --- small shared helpers -------------------------------------------------------------------


def image_shape_for(input_dim: int) -> tuple[int, ...]:
    """Guess the image layout of a flat vector: 784 -> (1, 28, 28), 3*32*32 -> (3, 32, 32)."""
    for channels in (1, 3):
        side = math.isqrt(input_dim // channels)
        if channels * side * side == input_dim:
            return (channels, side, side)
    return (input_dim,)


def _check_dims(**dims: int) -> None:
    for name, value in dims.items():
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise ValueError(f"{name} must be a positive integer, got {value!r}")


def _flatten_batch(x: torch.Tensor, input_dim: int) -> torch.Tensor:
    """Accept (n, C, H, W) or (n, input_dim) and return (n, input_dim), with a clear error."""
    if not isinstance(x, torch.Tensor):
        raise ValueError(f"expected a torch.Tensor batch, got {type(x).__name__}")
    if x.dim() < 2:
        raise ValueError(
            f"expected a batch shaped (n, {input_dim}) or (n, C, H, W), got shape {tuple(x.shape)}"
            " (add a batch dimension with x.unsqueeze(0))"
        )
    per_item = x.shape[1:].numel()
    if x.shape[0] == 0:
        raise ValueError(f"the batch is empty (shape {tuple(x.shape)})")
    if per_item != input_dim:
        raise ValueError(
            f"each item has {per_item} values but the model expects {input_dim} "
            f"(batch shape {tuple(x.shape)})"
        )
    return x.reshape(x.shape[0], input_dim)


def _check_latent(z: torch.Tensor, latent_dim: int) -> torch.Tensor:
    if not isinstance(z, torch.Tensor) or z.dim() != 2 or z.shape[1] != latent_dim:
        shape = tuple(z.shape) if isinstance(z, torch.Tensor) else type(z).__name__
        raise ValueError(f"expected latent codes shaped (n, {latent_dim}), got {shape}")
    return z


def _standard_normal(
    n: int, dim: int, seed: int | None, device: torch.device, temperature: float = 1.0
) -> torch.Tensor:
    """Draw N(0, temperature^2) codes; drawn on the CPU so a seed gives the same codes anywhere."""
    if isinstance(n, bool) or not isinstance(n, int) or n < 1:
        raise ValueError(f"n must be a positive integer, got {n!r}")
    if not math.isfinite(temperature) or temperature < 0:
        raise ValueError(f"temperature must be a finite number >= 0, got {temperature!r}")
    generator = torch.Generator().manual_seed(seed) if seed is not None else None
    z = torch.randn(n, dim, generator=generator) * temperature
    return z.to(device)


def _no_labels(model: nn.Module, labels: Any) -> None:
    """Refuse ``labels`` for a model that does not draw classes."""
    if labels is not None:
        raise ValueError(
            f"{type(model).__name__} is unconditional: it draws no classes, so it takes no labels"
        )


def sample_gaussian(mu: torch.Tensor, logvar: torch.Tensor) -> torch.Tensor:
    """Draw z ~ N(mu, exp(logvar)) as mu + sigma * eps: the reparameterization trick."""
    std = torch.exp(0.5 * logvar)
    return mu + torch.randn_like(std) * std


def gaussian_kl(mu: torch.Tensor, logvar: torch.Tensor) -> torch.Tensor:
    """KL(N(mu, sigma^2) || N(0, I)) in closed form, summed over the batch (Kingma & Welling,
    2013, Appendix B): -1/2 * sum(1 + log sigma^2 - mu^2 - sigma^2)."""
    return -0.5 * torch.sum(1 + logvar - mu.pow(2) - logvar.exp())


# --- autoencoder ----------------------------------------------------------------------------


class AutoencoderModel(nn.Module):
    """Compress an image to ``latent_dim`` numbers and rebuild it from them."""

    def __init__(self, input_dim: int = 784, hidden_dim: int = 128, latent_dim: int = 32):
        super().__init__()
        _check_dims(input_dim=input_dim, hidden_dim=hidden_dim, latent_dim=latent_dim)
        self.config = {"input_dim": input_dim, "hidden_dim": hidden_dim, "latent_dim": latent_dim}
        self.input_dim, self.latent_dim = input_dim, latent_dim
        self.image_shape = image_shape_for(input_dim)

        self.encoder = nn.Sequential(
            nn.Linear(input_dim, hidden_dim),
            nn.ReLU(inplace=True),
            nn.Linear(hidden_dim, latent_dim),
        )
        self.decoder = nn.Sequential(
            nn.Linear(latent_dim, hidden_dim),
            nn.ReLU(inplace=True),
            nn.Linear(hidden_dim, input_dim),
            nn.Sigmoid(),  # pixel intensities live in [0, 1]
        )
        # A plain autoencoder has no prior to sample from. After training we fit a Gaussian to
        # the training codes (see fit_latent_prior) so that sample() lands where real codes are.
        self.register_buffer("latent_mean", torch.zeros(latent_dim))
        # the identity, built without torch.eye: on the "meta" device of a checkpoint's shape
        # check (checkpoints.check_weights_fit), eye costs a second of PyTorch imports
        self.register_buffer(
            "latent_scale_tril", torch.zeros(latent_dim, latent_dim).fill_diagonal_(1)
        )

    def encode(self, x: torch.Tensor) -> torch.Tensor:
        """Images -> latent codes ``(n, latent_dim)``."""
        return self.encoder(_flatten_batch(x, self.input_dim))

    def decode(self, z: torch.Tensor) -> torch.Tensor:
        """Latent codes -> images ``(n, *image_shape)`` in [0, 1]."""
        z = _check_latent(z, self.latent_dim)
        return self.decoder(z).reshape(z.shape[0], *self.image_shape)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Return ``(reconstructed, latent)``; the reconstruction has the input's shape."""
        latent = self.encode(x)
        reconstructed = self.decoder(latent).reshape(x.shape)
        return reconstructed, latent

    @torch.no_grad()
    def fit_latent_prior(self, latents: torch.Tensor) -> None:
        """Fit the Gaussian that ``sample`` draws from to a set of training codes."""
        latents = _check_latent(latents, self.latent_dim).to(self.latent_mean)
        if latents.shape[0] < 2:
            raise ValueError("need at least 2 latent codes to fit a Gaussian")
        mean = latents.mean(0)
        centered = latents - mean
        cov = centered.T @ centered / (latents.shape[0] - 1)
        cov += 1e-4 * torch.eye(self.latent_dim, device=cov.device)  # keep it positive definite
        self.latent_mean.copy_(mean)
        self.latent_scale_tril.copy_(torch.linalg.cholesky(cov))

    @torch.no_grad()
    def codes(
        self, n: int, seed: int | None = None, temperature: float = 1.0, labels: Any = None
    ) -> torch.Tensor:
        """``n`` codes from the Gaussian fitted to the training codes; temperature scales the
        spread around their mean."""
        _no_labels(self, labels)
        eps = _standard_normal(n, self.latent_dim, seed, device_of(self), temperature)
        return self.latent_mean + eps @ self.latent_scale_tril.T

    @torch.no_grad()
    def sample(
        self, n: int, seed: int | None = None, temperature: float = 1.0, labels: Any = None
    ) -> torch.Tensor:
        """Decode ``n`` codes drawn by :meth:`codes`."""
        return self.decode(self.codes(n, seed, temperature, labels))


# --- variational autoencoder ----------------------------------------------------------------


class VariationalAutoencoder(nn.Module):
    """An autoencoder whose encoder outputs a Gaussian over codes (Kingma & Welling, 2013)."""

    def __init__(self, input_dim: int = 784, hidden_dim: int = 128, latent_dim: int = 32):
        super().__init__()
        _check_dims(input_dim=input_dim, hidden_dim=hidden_dim, latent_dim=latent_dim)
        self.config = {"input_dim": input_dim, "hidden_dim": hidden_dim, "latent_dim": latent_dim}
        self.input_dim, self.latent_dim = input_dim, latent_dim
        self.image_shape = image_shape_for(input_dim)

        self.encoder_hidden = nn.Linear(input_dim, hidden_dim)
        self.encoder_mu = nn.Linear(hidden_dim, latent_dim)  # mean of q(z | x)
        self.encoder_logvar = nn.Linear(hidden_dim, latent_dim)  # log-variance of q(z | x)
        self.decoder = nn.Sequential(
            nn.Linear(latent_dim, hidden_dim),
            nn.ReLU(inplace=True),
            nn.Linear(hidden_dim, input_dim),
            nn.Sigmoid(),
        )

    def encode(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Images -> ``(mu, logvar)`` of the Gaussian q(z | x)."""
        hidden = F.relu(self.encoder_hidden(_flatten_batch(x, self.input_dim)))
        return self.encoder_mu(hidden), self.encoder_logvar(hidden)

    def reparameterize(self, mu: torch.Tensor, logvar: torch.Tensor) -> torch.Tensor:
        """z = mu + sigma * eps while training (so gradients reach mu and sigma); mu in eval."""
        return sample_gaussian(mu, logvar) if self.training else mu

    def decode(self, z: torch.Tensor) -> torch.Tensor:
        """Latent codes -> images ``(n, *image_shape)`` in [0, 1]."""
        z = _check_latent(z, self.latent_dim)
        return self.decoder(z).reshape(z.shape[0], *self.image_shape)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """Return ``(reconstructed, mu, logvar)``; the reconstruction has the input's shape."""
        mu, logvar = self.encode(x)
        z = self.reparameterize(mu, logvar)
        return self.decoder(z).reshape(x.shape), mu, logvar

    def kl_divergence(
        self, z: torch.Tensor, mu: torch.Tensor, logvar: torch.Tensor
    ) -> torch.Tensor:
        """KL(q(z|x) || N(0, I)) summed over the batch, in closed form (``z`` is not needed;
        it is taken so every VAE's KL is called the same way)."""
        return gaussian_kl(mu, logvar)

    @torch.no_grad()
    def codes(
        self, n: int, seed: int | None = None, temperature: float = 1.0, labels: Any = None
    ) -> torch.Tensor:
        """``n`` codes from the prior N(0, I); temperature scales them ("creativity")."""
        _no_labels(self, labels)
        return _standard_normal(n, self.latent_dim, seed, device_of(self), temperature)

    @torch.no_grad()
    def sample(
        self, n: int, seed: int | None = None, temperature: float = 1.0, labels: Any = None
    ) -> torch.Tensor:
        """Decode ``n`` codes drawn by :meth:`codes`."""
        return self.decode(self.codes(n, seed, temperature, labels))


_LOG_2PI = math.log(2 * math.pi)


class MixturePriorVAE(VariationalAutoencoder):
    """The lesson's VAE with a learned prior: a mixture of ``n_components`` Gaussians instead of
    one standard normal (a simple relative of the VampPrior, Tomczak & Welling, 2018).

    With N(0, I) as the prior, every digit's code is pulled towards the same single blob, and
    the KL term charges each image for the distance. A learned mixture can put one blob where
    the 3s live and another where the 7s do, so the same codes cost fewer nats. On mnist5k this
    gains about two nats of held-out negative ELBO in the same 30 seconds of training. The KL
    no longer has a closed form: it is estimated with the sampled code,
    ``log q(z|x) - log p(z)`` (:meth:`kl_divergence`).
    """

    def __init__(
        self,
        input_dim: int = 784,
        hidden_dim: int = 400,
        latent_dim: int = 32,
        n_components: int = 30,
    ):
        super().__init__(input_dim, hidden_dim, latent_dim)
        _check_dims(n_components=n_components)
        self.config["n_components"] = n_components
        self.prior_means = nn.Parameter(torch.empty(n_components, latent_dim))
        self.prior_logvars = nn.Parameter(torch.zeros(n_components, latent_dim))
        self.prior_logits = nn.Parameter(torch.zeros(n_components))
        # Spread the blobs a little at the start so they can specialise. A shape-only skeleton on
        # the "meta" device (checkpoints.check_weights_fit) skips the draw: a random draw there
        # costs a second of PyTorch imports in every process that loads this model.
        if not self.prior_means.is_meta:
            with torch.no_grad():
                self.prior_means.copy_(torch.randn(n_components, latent_dim) * 0.5)

    def prior_log_prob(self, z: torch.Tensor) -> torch.Tensor:
        """log p(z) under the mixture, one number per code ``(n,)``."""
        diff = z[:, None, :] - self.prior_means[None]
        per_component = -0.5 * (
            _LOG_2PI + self.prior_logvars + diff.pow(2) / self.prior_logvars.exp()
        ).sum(-1)
        return torch.logsumexp(per_component + F.log_softmax(self.prior_logits, 0), dim=1)

    def kl_divergence(self, z: torch.Tensor, mu: torch.Tensor, logvar: torch.Tensor):
        """Single-sample estimate of KL(q(z|x) || p(z)), summed over the batch."""
        log_q = -0.5 * (_LOG_2PI + logvar + (z - mu).pow(2) / logvar.exp()).sum(-1)
        return (log_q - self.prior_log_prob(z)).sum()

    @torch.no_grad()
    def codes(
        self, n: int, seed: int | None = None, temperature: float = 1.0, labels: Any = None
    ) -> torch.Tensor:
        """Pick a mixture component per code, then draw the code from it; temperature scales
        the spread around the component's centre."""
        _no_labels(self, labels)
        eps = _standard_normal(n, self.latent_dim, seed, device_of(self), temperature)
        generator = torch.Generator().manual_seed(seed + 1) if seed is not None else None
        weights = F.softmax(self.prior_logits.detach().cpu(), 0)
        component = torch.multinomial(weights, n, replacement=True, generator=generator)
        component = component.to(eps.device)
        std = (0.5 * self.prior_logvars[component]).exp()
        return self.prior_means[component] + eps * std


def vae_loss_terms(
    reconstructed: torch.Tensor, original: torch.Tensor, mu: torch.Tensor, logvar: torch.Tensor
) -> tuple[torch.Tensor, torch.Tensor]:
    """The two parts of the VAE loss, each summed over the batch: (reconstruction, KL).

    Reconstruction is the binary cross-entropy of the pixels, i.e. -log p(x | z) under a
    Bernoulli decoder. KL is the closed form of KL(N(mu, sigma^2) || N(0, I)) from Appendix B
    of Kingma & Welling (2013): -1/2 * sum(1 + log sigma^2 - mu^2 - sigma^2).
    """
    if reconstructed.numel() != original.numel():
        raise ValueError(
            f"reconstruction has shape {tuple(reconstructed.shape)} but the original has "
            f"{tuple(original.shape)}"
        )
    recon = F.binary_cross_entropy(reconstructed.reshape(original.shape), original, reduction="sum")
    return recon, gaussian_kl(mu, logvar)


def vae_loss(
    reconstructed: torch.Tensor, original: torch.Tensor, mu: torch.Tensor, logvar: torch.Tensor
) -> torch.Tensor:
    """Summed binary cross-entropy plus KL divergence: the negative ELBO of the whole batch."""
    recon, kl = vae_loss_terms(reconstructed, original, mu, logvar)
    return recon + kl


# --- generative adversarial network ---------------------------------------------------------


class Generator(nn.Module):
    """Turn random noise into an image; ``forward`` gives flat images in [-1, 1] (tanh)."""

    def __init__(self, noise_dim: int = 100, hidden_dim: int = 128, output_dim: int = 784):
        super().__init__()
        _check_dims(noise_dim=noise_dim, hidden_dim=hidden_dim, output_dim=output_dim)
        self.config = {"noise_dim": noise_dim, "hidden_dim": hidden_dim, "output_dim": output_dim}
        self.noise_dim = self.latent_dim = noise_dim
        self.image_shape = image_shape_for(output_dim)

        self.network = nn.Sequential(
            nn.Linear(noise_dim, hidden_dim),
            nn.ReLU(inplace=True),
            nn.Linear(hidden_dim, hidden_dim),
            nn.ReLU(inplace=True),
            nn.Linear(hidden_dim, output_dim),
            nn.Tanh(),  # the training data is scaled to [-1, 1] to match
        )

    def forward(self, noise: torch.Tensor) -> torch.Tensor:
        return self.network(_check_latent(noise, self.noise_dim))

    def decode(self, z: torch.Tensor) -> torch.Tensor:
        """Noise -> images ``(n, *image_shape)`` rescaled from [-1, 1] to [0, 1]."""
        return ((self(z) + 1) / 2).reshape(z.shape[0], *self.image_shape)

    @torch.no_grad()
    def codes(
        self, n: int, seed: int | None = None, temperature: float = 1.0, labels: Any = None
    ) -> torch.Tensor:
        """``n`` noise codes from N(0, I) (temperature scales them)."""
        _no_labels(self, labels)
        return _standard_normal(n, self.noise_dim, seed, device_of(self), temperature)

    @torch.no_grad()
    def sample(
        self, n: int, seed: int | None = None, temperature: float = 1.0, labels: Any = None
    ) -> torch.Tensor:
        """``n`` new images: :meth:`decode` of :meth:`codes`."""
        return self.decode(self.codes(n, seed, temperature, labels))


class Discriminator(nn.Module):
    """Score how likely an image is real: ``forward`` gives a probability shaped ``(n, 1)``."""

    def __init__(self, input_dim: int = 784, hidden_dim: int = 128):
        super().__init__()
        _check_dims(input_dim=input_dim, hidden_dim=hidden_dim)
        self.config = {"input_dim": input_dim, "hidden_dim": hidden_dim}
        self.input_dim = input_dim

        # The final sigmoid is applied in forward(); training uses logits() with
        # BCEWithLogitsLoss, which is the same loss computed without overflow.
        self.network = nn.Sequential(
            nn.Linear(input_dim, hidden_dim),
            nn.LeakyReLU(0.2),
            nn.Linear(hidden_dim, hidden_dim),
            nn.LeakyReLU(0.2),
            nn.Linear(hidden_dim, 1),
        )

    def logits(self, x: torch.Tensor) -> torch.Tensor:
        """Unnormalised real-vs-fake scores ``(n, 1)``."""
        return self.network(_flatten_batch(x, self.input_dim))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.sigmoid(self.logits(x))


def _check_labels(labels, n: int, n_classes: int, device: torch.device) -> torch.Tensor:
    """Digit labels for a conditional model as a long tensor ``(n,)``, or a clear ValueError.

    ``labels`` may be one whole number (every image the same digit) or ``n`` of them.
    """
    if labels is None:
        raise ValueError(
            f"this generator draws the digit you ask for: pass labels (0..{n_classes - 1}), "
            "one per image or one for all"
        )
    if isinstance(labels, bool):
        raise ValueError(f"labels must be whole numbers in 0..{n_classes - 1}, got {labels!r}")
    if isinstance(labels, int):
        labels = torch.full((n,), labels, dtype=torch.long)
    else:
        try:
            labels = torch.as_tensor(labels)
        except (TypeError, ValueError, RuntimeError) as err:
            raise ValueError(f"labels must be whole numbers, got {labels!r}") from err
        if labels.dtype.is_floating_point or labels.dtype == torch.bool or labels.dim() != 1:
            raise ValueError(
                f"labels must be a 1-D sequence of whole numbers, got {labels.dtype} "
                f"shaped {tuple(labels.shape)}"
            )
        if labels.shape[0] != n:
            raise ValueError(f"got {labels.shape[0]} labels for {n} images")
    if labels.numel() and (labels.min() < 0 or labels.max() >= n_classes):
        raise ValueError(f"labels must be in 0..{n_classes - 1}, got {labels.tolist()[:10]}")
    return labels.long().to(device)


def balanced_labels(n: int, n_classes: int = 10) -> torch.Tensor:
    """``0, 1, ..., n_classes - 1, 0, 1, ...``: every class equally often (``n`` labels)."""
    _check_dims(n=n, n_classes=n_classes)
    return torch.arange(n) % n_classes


class ConvGenerator(nn.Module):
    """A small DCGAN-style generator (Radford et al., 2016): noise -> 7x7 maps -> 14x14 -> 28x28.

    Transposed convolutions double the resolution twice; batch normalisation keeps each layer's
    activations in range, which is what lets a GAN train at a brisk learning rate on a CPU.
    ``forward`` gives images ``(n, 1, 28, 28)`` in [-1, 1] (tanh), like the lesson's Generator.

    With ``n_classes`` > 0 it is **class-conditional** (Mirza & Osindero, 2014): each class
    (digit) has a learned code of ``n_classes`` numbers that is appended to the noise, so you
    ask for a digit with ``labels`` and the noise only decides how it is drawn (slant, stroke
    width, style). The code the model decodes *carries* the class: ``z = [noise, class code]``,
    so ``latent_dim = noise_dim + n_classes``, ``decode(z)`` needs no labels, and walking from a
    3's code to a 7's morphs one digit into the other. ``codes``/``sample`` draw every digit
    equally often unless told otherwise.
    """

    def __init__(self, noise_dim: int = 32, width: int = 32, n_classes: int = 0):
        super().__init__()
        _check_dims(noise_dim=noise_dim, width=width)
        if isinstance(n_classes, bool) or not isinstance(n_classes, int) or n_classes < 0:
            raise ValueError(f"n_classes must be 0 (unconditional) or more, got {n_classes!r}")
        self.config = {"noise_dim": noise_dim, "width": width, "n_classes": n_classes}
        self.noise_dim = noise_dim
        self.n_classes = n_classes
        self.latent_dim = noise_dim + n_classes  # the class code rides along in z
        self.image_shape = (1, 28, 28)
        self.width = width
        if n_classes:
            self.class_codes = nn.Embedding(n_classes, n_classes)
        self.project = nn.Sequential(
            nn.Linear(self.latent_dim, 2 * width * 7 * 7),
            nn.BatchNorm1d(2 * width * 7 * 7),
            nn.ReLU(inplace=True),
        )
        self.upsample = nn.Sequential(
            nn.ConvTranspose2d(2 * width, width, 4, stride=2, padding=1),  # 7 -> 14
            nn.BatchNorm2d(width),
            nn.ReLU(inplace=True),
            nn.ConvTranspose2d(width, 1, 4, stride=2, padding=1),  # 14 -> 28
            nn.Tanh(),
        )

    def code_for(self, noise: torch.Tensor, labels: Any = None) -> torch.Tensor:
        """The code ``z`` of noise ``(n, noise_dim)`` drawn as ``labels``: the noise with each
        label's class code appended (a conditional model), or the noise itself."""
        noise = _check_latent(noise, self.noise_dim)
        if not self.n_classes:
            if labels is not None:
                raise ValueError("this generator is unconditional: it takes no labels")
            return noise
        labels = _check_labels(labels, noise.shape[0], self.n_classes, noise.device)
        return torch.cat([noise, self.class_codes(labels)], dim=1)

    def forward(self, noise: torch.Tensor, labels: Any = None) -> torch.Tensor:
        """Noise (and, if conditional, labels) -> images in [-1, 1]: what training calls."""
        return self._draw(self.code_for(noise, labels))

    def _draw(self, z: torch.Tensor) -> torch.Tensor:
        hidden = self.project(_check_latent(z, self.latent_dim))
        return self.upsample(hidden.reshape(z.shape[0], 2 * self.width, 7, 7))

    def decode(self, z: torch.Tensor) -> torch.Tensor:
        """Codes ``(n, latent_dim)`` (noise, plus the class code if conditional) -> images
        ``(n, 1, 28, 28)`` in [0, 1]."""
        return (self._draw(z) + 1) / 2

    @torch.no_grad()
    def codes(
        self, n: int, seed: int | None = None, temperature: float = 1.0, labels: Any = None
    ) -> torch.Tensor:
        """``n`` codes: N(0, I) noise (temperature scales it), for a conditional generator with
        the class code of ``labels`` (one digit, or one per code) appended, by default every
        digit in turn: ``0, 1, ..., 9, 0, 1, ...``."""
        noise = _standard_normal(n, self.noise_dim, seed, device_of(self), temperature)
        if self.n_classes and labels is None:
            labels = balanced_labels(n, self.n_classes)
        return self.code_for(noise, labels)

    @torch.no_grad()
    def sample(
        self, n: int, seed: int | None = None, temperature: float = 1.0, labels: Any = None
    ) -> torch.Tensor:
        """``n`` new images: :meth:`decode` of :meth:`codes`, in eval mode."""
        was_training = self.training
        self.eval()  # batch norm uses its running statistics, so one image does not depend on
        try:  # the others drawn with it
            return self.decode(self.codes(n, seed, temperature, labels))
        finally:
            self.train(was_training)


class ConvDiscriminator(nn.Module):
    """A convolutional critic with spectral normalisation (Miyato et al., 2018).

    Spectral normalisation caps how fast each layer's output can change with its input, so the
    critic cannot become arbitrarily sharp and its gradients stay useful to the generator.
    ``logits`` gives raw scores ``(n, 1)`` (the hinge loss uses them); ``forward`` a
    probability, like the lesson's Discriminator. ``depth`` 3 adds a third convolution
    (7x7 -> 4x4, ``4 * width`` channels): a stronger critic for about a third more time a step.

    With ``n_classes`` > 0 it judges an image *as the digit it claims to be*, with the
    projection of Miyato & Koyama (2018): score = w . h + e_y . h, where h are the critic's
    features and e_y a learned vector per class. A perfect "3" labelled as a 7 scores low, so
    the generator has to draw the digit it was asked for.
    """

    def __init__(
        self, width: int = 32, spectral_norm: bool = True, n_classes: int = 0, depth: int = 2
    ):
        super().__init__()
        _check_dims(width=width)
        if isinstance(n_classes, bool) or not isinstance(n_classes, int) or n_classes < 0:
            raise ValueError(f"n_classes must be 0 (unconditional) or more, got {n_classes!r}")
        if depth not in (2, 3) or isinstance(depth, bool):
            raise ValueError(f"depth must be 2 or 3 convolutions, got {depth!r}")
        self.config = {
            "width": width,
            "spectral_norm": bool(spectral_norm),
            "n_classes": n_classes,
            "depth": depth,
        }
        self.input_dim = 784
        self.n_classes = n_classes
        norm = nn.utils.parametrizations.spectral_norm if spectral_norm else (lambda layer: layer)
        layers = [
            norm(nn.Conv2d(1, width, 4, stride=2, padding=1)),  # 28 -> 14
            nn.LeakyReLU(0.2, inplace=True),
            norm(nn.Conv2d(width, 2 * width, 4, stride=2, padding=1)),  # 14 -> 7
            nn.LeakyReLU(0.2, inplace=True),
        ]
        features = 2 * width * 7 * 7
        if depth == 3:
            layers += [
                norm(nn.Conv2d(2 * width, 4 * width, 3, stride=2, padding=1)),  # 7 -> 4
                nn.LeakyReLU(0.2, inplace=True),
            ]
            features = 4 * width * 4 * 4
        self.features = nn.Sequential(*layers, nn.Flatten())
        self.head = norm(nn.Linear(features, 1))
        if n_classes:
            self.class_directions = norm(nn.Embedding(n_classes, features))

    def logits(self, x: torch.Tensor, labels=None) -> torch.Tensor:
        """Images in [-1, 1], ``(n, 1, 28, 28)`` or ``(n, 784)`` -> scores ``(n, 1)``; a
        conditional critic also needs the labels the images claim."""
        x = _flatten_batch(x, 784).reshape(-1, 1, 28, 28)
        hidden = self.features(x)
        scores = self.head(hidden)
        if self.n_classes:
            labels = _check_labels(labels, x.shape[0], self.n_classes, x.device)
            scores = scores + (self.class_directions(labels) * hidden).sum(1, keepdim=True)
        elif labels is not None:
            raise ValueError("this critic is unconditional: it takes no labels")
        return scores

    def forward(self, x: torch.Tensor, labels=None) -> torch.Tensor:
        return torch.sigmoid(self.logits(x, labels))


def critic_for(generator: ConvGenerator, spectral_norm: bool = True) -> ConvDiscriminator:
    """The critic the course trains ``generator`` against: as wide, judging the same classes.

    A conditional critic gets the third convolution (``depth=3``): with only two, the
    conditional GAN's quality peaked after about a minute of training and then slid back
    (Fréchet ratio 7.8 at 3,000 steps, 10.1 at 7,700), while the deeper one kept improving
    (2.4 after three minutes). For the unconditional GAN the extra layer cost more time per
    step than it gave back.
    """
    if not isinstance(generator, ConvGenerator):
        raise ValueError(f"critic_for needs a ConvGenerator, got {type(generator).__name__}")
    return ConvDiscriminator(
        generator.width,
        spectral_norm=spectral_norm,
        n_classes=generator.n_classes,
        depth=3 if generator.n_classes else 2,
    )


# --- the style studio's model: a small conv VAE for 32x32 colour images -----------------


class StyleVAE(nn.Module):
    """A small convolutional VAE for RGB images of 32x32 pixels.

    Convolutions suit a style better than the lesson's fully connected VAE: the same stroke,
    petal or texture anywhere in the picture is recognised by the same filter.
    """

    def __init__(self, latent_dim: int = 16, width: int = 32):
        super().__init__()
        _check_dims(latent_dim=latent_dim, width=width)
        self.config = {"latent_dim": latent_dim, "width": width}
        self.latent_dim = latent_dim
        self.image_shape = (3, 32, 32)
        features = 2 * width * 8 * 8  # the encoder's output: 2*width channels of 8x8

        # Batch normalisation (Ioffe & Szegedy, 2015) lets this short training converge faster:
        # +1.5 dB reconstruction PSNR after the same 40 epochs on the sample styles.
        self.encoder = nn.Sequential(
            nn.Conv2d(3, width, 4, stride=2, padding=1),  # 32x32 -> 16x16
            nn.BatchNorm2d(width),
            nn.LeakyReLU(0.2, inplace=True),
            nn.Conv2d(width, 2 * width, 4, stride=2, padding=1),  # 16x16 -> 8x8
            nn.BatchNorm2d(2 * width),
            nn.LeakyReLU(0.2, inplace=True),
            nn.Flatten(),
        )
        self.encoder_mu = nn.Linear(features, latent_dim)  # mean of q(z | x)
        self.encoder_logvar = nn.Linear(features, latent_dim)  # log-variance of q(z | x)
        self.decoder = nn.Sequential(
            nn.Linear(latent_dim, features),
            nn.ReLU(inplace=True),
            nn.Unflatten(1, (2 * width, 8, 8)),
            nn.ConvTranspose2d(2 * width, width, 4, stride=2, padding=1),  # 8x8 -> 16x16
            nn.BatchNorm2d(width),
            nn.ReLU(inplace=True),
            nn.ConvTranspose2d(width, 3, 4, stride=2, padding=1),  # 16x16 -> 32x32
            nn.Sigmoid(),  # colour values live in [0, 1]
        )
        # How much each latent dimension is used: its mean KL over the style's own images,
        # filled in by train_style. latent_traversal walks along the most used one.
        self.register_buffer("dimension_kl", torch.zeros(latent_dim))

    def encode(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Images ``(n, 3, 32, 32)`` -> ``(mu, logvar)`` of the Gaussian q(z | x)."""
        if not isinstance(x, torch.Tensor) or x.dim() != 4 or tuple(x.shape[1:]) != (3, 32, 32):
            shape = tuple(x.shape) if isinstance(x, torch.Tensor) else type(x).__name__
            raise ValueError(f"expected RGB images shaped (n, 3, 32, 32), got {shape}")
        hidden = self.encoder(x)
        return self.encoder_mu(hidden), self.encoder_logvar(hidden)

    def decode(self, z: torch.Tensor) -> torch.Tensor:
        """Latent codes ``(n, latent_dim)`` -> images ``(n, 3, 32, 32)`` in [0, 1]."""
        return self.decoder(_check_latent(z, self.latent_dim))

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """Return ``(reconstructed, mu, logvar)``."""
        mu, logvar = self.encode(x)
        return self.decode(self.reparameterize(mu, logvar)), mu, logvar

    # The same prior N(0, I) as the lesson's VAE, so the same sampling, reparameterization and
    # KL: borrowed, not written twice.
    reparameterize = VariationalAutoencoder.reparameterize
    kl_divergence = VariationalAutoencoder.kl_divergence
    codes = VariationalAutoencoder.codes
    sample = VariationalAutoencoder.sample


class StyleAutoencoder(nn.Module):
    """:class:`StyleVAE`'s encoder and decoder without the noise: a plain autoencoder for
    32x32 colour images, whose codes a latent flow learns to draw (``course_lib.styles``).

    Without the KL term pulling every code towards N(0, I), the decoder need not blend
    neighbouring pictures, so reconstructions keep their edges; the flow supplies the prior.
    """

    def __init__(self, latent_dim: int = 16, width: int = 32):
        super().__init__()
        _check_dims(latent_dim=latent_dim, width=width)
        self.config = {"latent_dim": latent_dim, "width": width}
        self.latent_dim = latent_dim
        self.image_shape = (3, 32, 32)
        layers = StyleVAE(latent_dim, width)  # the same layers, built once, not written twice
        self.encoder = nn.Sequential(*layers.encoder, nn.Linear(2 * width * 8 * 8, latent_dim))
        self.decoder = layers.decoder

    def encode(self, x: torch.Tensor) -> torch.Tensor:
        """Images ``(n, 3, 32, 32)`` -> codes ``(n, latent_dim)``."""
        if not isinstance(x, torch.Tensor) or x.dim() != 4 or tuple(x.shape[1:]) != (3, 32, 32):
            shape = tuple(x.shape) if isinstance(x, torch.Tensor) else type(x).__name__
            raise ValueError(f"expected RGB images shaped (n, 3, 32, 32), got {shape}")
        return self.encoder(x)

    def decode(self, z: torch.Tensor) -> torch.Tensor:
        """Codes ``(n, latent_dim)`` -> images ``(n, 3, 32, 32)`` in [0, 1]."""
        return self.decoder(_check_latent(z, self.latent_dim))

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Return ``(reconstructed, latent)``, as :class:`AutoencoderModel` does."""
        latent = self.encode(x)
        return self.decode(latent), latent


# --- the judge: a small digit classifier for sample-quality metrics --------------------------


class DigitClassifier(nn.Module):
    """A small convolutional digit classifier whose only job is to judge generated digits.

    ``course_lib.metrics`` trains it once, deterministically, on the training split and caches
    it. Its class probabilities give the classifier score and its ``features`` (the 128 numbers
    before the last layer) the Fréchet distance, the way Inception-v3 does for photos.
    """

    def __init__(self, features: int = 128, channels: int = 32):
        super().__init__()
        _check_dims(features=features, channels=channels)
        # ``channels`` in the first convolution, twice that in the second; the course's judge
        # uses 16 (``metrics.CLASSIFIER_RECIPE``). Max-pooling matters to the Fréchet distance:
        # a judge with stride-2 convolutions instead trained in 3.4 s rather than 4.8 s, as
        # accurate, but its real-vs-real floor doubled and blurred digits sat 5.5 floors away
        # instead of 47, so it could barely tell the course's models apart (2026-11-30).
        self.config = {"features": features, "channels": channels}
        self.body = nn.Sequential(
            nn.Conv2d(1, channels, 3, padding=1),
            nn.ReLU(inplace=True),
            nn.MaxPool2d(2),
            nn.Conv2d(channels, 2 * channels, 3, padding=1),
            nn.ReLU(inplace=True),
            nn.MaxPool2d(2),
            nn.Flatten(),
            nn.Linear(2 * channels * 7 * 7, features),
            nn.ReLU(inplace=True),
        )
        self.head = nn.Linear(features, 10)

    def features(self, x: torch.Tensor) -> torch.Tensor:
        """Images ``(n, 1, 28, 28)`` or ``(n, 784)`` in [0, 1] -> features ``(n, features)``."""
        return self.body(_flatten_batch(x, 784).reshape(-1, 1, 28, 28))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Class logits ``(n, 10)``."""
        return self.head(self.features(x))


#: The classes a checkpoint may name; anything else is refused when loading.
MODEL_CLASSES: dict[str, type[nn.Module]] = {
    cls.__name__: cls
    for cls in (
        AutoencoderModel,
        VariationalAutoencoder,
        MixturePriorVAE,
        Generator,
        Discriminator,
        ConvGenerator,
        ConvDiscriminator,
        DigitClassifier,
        StyleVAE,
    )
}
