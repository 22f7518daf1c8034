"""Command line: ``python -m course_lib train|download|info``.

Examples::

    python -m course_lib train vae --dataset mnist5k --time-budget 30 --out checkpoints/vae.pt
    python -m course_lib train gan --time-budget 180
    python -m course_lib train gan --arch conv --time-budget 180
    python -m course_lib train gan --arch mlp --epochs 60
    python -m course_lib train flow --time-budget 180
    python -m course_lib info checkpoints/vae.pt
    python -m course_lib download mnist
"""

from __future__ import annotations

import argparse
import json
import math
import sys
import time
from pathlib import Path

KINDS = ("ae", "vae", "gan", "flow")
ARCHS = ("conditional", "conv", "mixture", "mlp")
#: The default architecture of each kind: the best measured one (see `make bench`).
DEFAULT_ARCH = {"ae": "mlp", "vae": "mixture", "gan": "conditional", "flow": "mlp"}
#: The kinds each architecture exists for.
ARCH_KINDS = {"conditional": ("gan",), "conv": ("gan",), "mixture": ("vae",), "mlp": KINDS}
#: Datasets of 28x28 digits, where the digit classifier can judge a GAN's samples.
DIGIT_DATASETS = ("mnist5k", "mnist", "digits")
DEFAULT_EPOCHS = 20
#: `train flow`: the share of --time-budget spent on its autoencoder (unless --autoencoder is
#: given), the autoencoder's size, and the flow's batch size and learning rate.
FLOW_AE_SHARE = 0.25
FLOW_AE = {"hidden_dim": 512, "latent_dim": 64}
FLOW_BATCH, FLOW_LR = 256, 2e-3


def _positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number, got {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, got {value}")
    return value


def _positive_float(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number of seconds, got {text!r}") from None
    if not math.isfinite(value) or value <= 0:
        raise argparse.ArgumentTypeError(f"must be a positive number, got {text!r}")
    return value


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m course_lib",
        description="Train the course's generative models and manage their data, offline.",
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog=__doc__.split("Examples::", 1)[1],
    )
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    train = commands.add_parser(
        "train",
        help="train an autoencoder, VAE or GAN and write a checkpoint",
        description="Train one model with a progress bar, evaluate it on the held-out split "
        "and write a checkpoint (weights + JSON metadata). Stops after --epochs full passes "
        "or --time-budget seconds, whichever comes first (default: "
        f"{DEFAULT_EPOCHS} epochs).",
    )
    train.add_argument(
        "kind",
        choices=KINDS,
        help="ae: autoencoder, vae: variational autoencoder, gan: generator + discriminator, "
        "flow: latent flow matching on an autoencoder's codes (the autoencoder included)",
    )
    train.add_argument(
        "--dataset",
        default="mnist5k",
        help="mnist5k (default, offline), digits, mnist (after `download "
        "mnist`), patterns, or a folder of images",
    )
    train.add_argument(
        "--out",
        type=Path,
        default=None,
        help="checkpoint file to write (default: data/checkpoints/"
        "KIND_DATASET.pt, the folder the notebooks and the gallery use; for flow "
        "data/checkpoints/cli/flow_DATASET.pt)",
    )
    train.add_argument(
        "--autoencoder",
        type=Path,
        default=None,
        metavar="PATH",
        help="flow: learn on the codes of this trained autoencoder checkpoint instead of "
        f"training one first (which takes {FLOW_AE_SHARE:.0%} of --time-budget)",
    )
    train.add_argument("--epochs", type=_positive_int, help="number of full passes over the data")
    train.add_argument(
        "--time-budget",
        type=_positive_float,
        metavar="SECONDS",
        help="stop after this many seconds",
    )
    train.add_argument(
        "--arch",
        choices=ARCHS,
        default=None,
        help="gan: conditional (default; the conv GAN told which digit to draw, learning "
        "from the labels), conv (DCGAN with hinge loss, spectral norm, augmentation and "
        "weight averaging) or mlp (the lesson's); vae: mixture (default; the lesson's VAE "
        "with a learned mixture prior) or mlp (the lesson's); ae: mlp; flow: mlp (a residual "
        "MLP on the codes, class-conditional when the data has labels)",
    )
    train.add_argument("--seed", type=int, default=0, help="random seed (default 0)")
    train.add_argument(
        "--latent-dim",
        type=_positive_int,
        default=None,
        help="size of the latent code (default 32; the mlp GAN's noise 100)",
    )
    train.add_argument(
        "--hidden-dim",
        type=_positive_int,
        default=None,
        help="width of the hidden layers (default 400 for ae/vae, 256 for the mlp gan; "
        "channels of the conv gan's 14x14 layer, default 32)",
    )
    train.add_argument(
        "--batch-size", type=_positive_int, default=None, help="mini-batch size (default 64)"
    )
    train.add_argument(
        "--lr",
        type=_positive_float,
        default=None,
        help="learning rate (default 1e-3; 3e-3 for the conv GAN)",
    )
    train.add_argument(
        "--device",
        default="cpu",
        help="cpu (default), cuda, mps, or auto to pick a GPU when present",
    )
    train.add_argument(
        "--threads",
        type=_positive_int,
        default=None,
        help="CPU threads for PyTorch (default: PyTorch's choice)",
    )

    download = commands.add_parser(
        "download",
        help="download full MNIST (the one step that needs a network)",
        description="Download full MNIST (70,000 digits) into data/MNIST so that "
        "`--dataset mnist` works. Everything else in the course is offline.",
    )
    download.add_argument("dataset", choices=["mnist"])
    download.add_argument(
        "--root", type=Path, default=None, help="folder to download into (default: data/)"
    )

    info = commands.add_parser("info", help="show what a checkpoint holds (class, metrics, ...)")
    info.add_argument("path", type=Path)
    return parser


def _train(args: argparse.Namespace) -> int:
    import torch

    from . import checkpoints
    from .data import load_dataset
    from .metrics import negative_elbo, reconstruction_bce, sample_quality
    from .models import (
        AutoencoderModel,
        ConvGenerator,
        Discriminator,
        Generator,
        MixturePriorVAE,
        VariationalAutoencoder,
        balanced_labels,
        critic_for,
    )
    from .paths import checkpoint_dir, checkpoint_path
    from .training import (
        resolve_device,
        set_seed,
        train_autoencoder,
        train_conv_gan,
        train_gan,
        train_vae,
    )

    if args.threads:
        torch.set_num_threads(args.threads)
    arch = args.arch or DEFAULT_ARCH[args.kind]
    if args.kind not in ARCH_KINDS[arch]:
        raise ValueError(
            f"--arch {arch} is only for {' and '.join(ARCH_KINDS[arch])}; "
            f"{args.kind} comes as {DEFAULT_ARCH[args.kind]}"
        )
    if args.autoencoder is not None and args.kind != "flow":
        raise ValueError("--autoencoder is only for `train flow`")
    epochs = args.epochs
    if epochs is None and args.time_budget is None:
        epochs = DEFAULT_EPOCHS
    device = resolve_device(args.device)
    dataset_name = str(args.dataset)
    train_data = load_dataset(dataset_name, "train")
    test_data = load_dataset(dataset_name, "test")
    input_dim = int(train_data.images[0].numel())
    stem = Path(dataset_name).name if Path(dataset_name).is_dir() else dataset_name
    out = args.out or checkpoint_path(f"{args.kind}_{stem}")
    if args.kind == "flow" and args.out is None:  # never a checkpoint the notebooks use
        out = checkpoint_dir() / "cli" / f"flow_{stem}.pt"

    budget = dict(
        epochs=epochs,
        time_budget=args.time_budget,
        seed=args.seed,
        device=device,
        batch_size=args.batch_size or 64,
    )
    print(
        f"Training {args.kind} on {train_data!r}; held out: {len(test_data)} images; "
        f"device {device}",
        flush=True,
    )

    set_seed(args.seed)
    started = time.perf_counter()
    metrics: dict[str, float] = {}
    if args.kind in ("ae", "vae"):
        dims = dict(
            input_dim=input_dim, hidden_dim=args.hidden_dim or 400, latent_dim=args.latent_dim or 32
        )
        if args.kind == "ae":
            model = AutoencoderModel(**dims)
            history = train_autoencoder(model, train_data, lr=args.lr or 1e-3, **budget)
        else:
            model = (MixturePriorVAE if arch == "mixture" else VariationalAutoencoder)(**dims)
            history = train_vae(model, train_data, lr=args.lr or 1e-3, **budget)
            metrics["test_neg_elbo_nats"] = round(negative_elbo(model, test_data), 3)
        metrics["test_recon_bce_nats"] = round(reconstruction_bce(model, test_data), 3)
    elif args.kind == "flow":
        model, history = _fit_flow(args, train_data, budget, started)
        metrics["autoencoder_test_recon_bce_nats"] = round(
            reconstruction_bce(model.autoencoder, test_data), 3
        )
        if dataset_name in DIGIT_DATASETS:
            print("Judging 1,000 samples with the digit classifier ...", flush=True)
            for prefix, guidance in (("classifier", None), ("uncond_classifier", 0.0)):
                samples = model.sample(1000, seed=args.seed, guidance=guidance).cpu()
                quality = sample_quality(samples)
                metrics.update({f"{prefix}_{k}": round(v, 3) for k, v in quality.items()})
    else:
        if arch in ("conv", "conditional"):
            if input_dim != 784:
                raise ValueError(
                    f"the conv GAN draws 28x28 images; {dataset_name} has {input_dim} values "
                    "per image (use --arch mlp)"
                )
            n_classes = 0
            if arch == "conditional":
                labels = getattr(train_data, "labels", None)
                if labels is None or len(labels) == 0:
                    raise ValueError(
                        f"--arch conditional learns from labels and {dataset_name} has none "
                        "(use --arch conv)"
                    )
                n_classes = int(torch.as_tensor(labels).max()) + 1
            model = ConvGenerator(args.latent_dim or 32, args.hidden_dim or 32, n_classes=n_classes)
            critic = critic_for(model)
            history = train_conv_gan(model, critic, train_data, lr=args.lr or 3e-3, **budget)
        else:
            model = Generator(
                noise_dim=args.latent_dim or 100,
                hidden_dim=args.hidden_dim or 256,
                output_dim=input_dim,
            )
            critic = Discriminator(input_dim=input_dim, hidden_dim=args.hidden_dim or 256)
            history = train_gan(model, critic, train_data, lr=args.lr or 1e-3, **budget)
        with torch.no_grad():
            n_test = len(test_data)
            fakes = model.sample(n_test, seed=args.seed) * 2 - 1
            if getattr(model, "n_classes", 0):  # a conditional critic judges image and label
                real_labels = torch.as_tensor(test_data.labels).long().to(device)
                real = critic(test_data.images.to(device) * 2 - 1, real_labels)
                fake = critic(fakes, balanced_labels(n_test, model.n_classes).to(device))
            else:
                real = critic(test_data.images.to(device) * 2 - 1)
                fake = critic(fakes)
            real, fake = real.mean().item(), fake.mean().item()
        metrics.update(test_d_real=round(real, 4), test_d_fake=round(fake, 4))
        if dataset_name in DIGIT_DATASETS:
            print("Judging 1,000 samples with the digit classifier ...", flush=True)
            quality = sample_quality(model.sample(1000, seed=args.seed).cpu())
            metrics.update({f"classifier_{k}": round(v, 3) for k, v in quality.items()})
    seconds = time.perf_counter() - started

    checkpoints.save(
        model,
        out,
        kind=args.kind,
        arch=arch,
        dataset=dataset_name,
        seed=args.seed,
        epochs=len(history),
        seconds=round(seconds, 2),
        metrics=metrics,
        history=[
            {k: (round(v, 5) if isinstance(v, float) else v) for k, v in r.items()} for r in history
        ],
    )
    print(f"Trained {len(history)} epochs in {seconds:.1f} s.")
    for key, value in metrics.items():
        print(f"  {key}: {value}")
    print(f"Wrote {out}")
    return 0


def _fit_flow(args: argparse.Namespace, train_data, budget: dict, started: float):
    """`train flow`: the autoencoder first (or the one given), then the latent flow on its
    codes in the rest of the time budget. Returns ``(model, history of the flow)``."""
    import torch

    from . import checkpoints
    from .flow import LatentFlowModel
    from .models import AutoencoderModel
    from .training import train_autoencoder, train_flow

    input_dim = int(train_data.images[0].numel())
    if args.autoencoder is not None:
        autoencoder = checkpoints.load(args.autoencoder, budget["device"])
        if not isinstance(autoencoder, AutoencoderModel):
            raise ValueError(
                f"--autoencoder {args.autoencoder} holds a {type(autoencoder).__name__}, "
                "not an AutoencoderModel (train one with `train ae`)"
            )
        if autoencoder.input_dim != input_dim:
            raise ValueError(
                f"--autoencoder {args.autoencoder} reads {autoencoder.input_dim} values per "
                f"image; {args.dataset} has {input_dim}"
            )
    else:
        dims = {**FLOW_AE, "latent_dim": args.latent_dim or FLOW_AE["latent_dim"]}
        autoencoder = AutoencoderModel(input_dim=input_dim, **dims)
        share = budget["time_budget"] and budget["time_budget"] * FLOW_AE_SHARE
        train_autoencoder(autoencoder, train_data, lr=3e-3, **{**budget, "time_budget": share})
    labels = getattr(train_data, "labels", None)
    n_classes = int(torch.as_tensor(labels).max()) + 1 if labels is not None and len(labels) else 0
    width = {"width": args.hidden_dim} if args.hidden_dim else {}
    model = LatentFlowModel(autoencoder, n_classes=n_classes, **width)
    left = budget["time_budget"] and max(budget["time_budget"] - (time.perf_counter() - started), 1)
    history = train_flow(
        model,
        train_data,
        lr=args.lr or FLOW_LR,
        **{**budget, "time_budget": left, "batch_size": args.batch_size or FLOW_BATCH},
    )
    return model, history


def _info(args: argparse.Namespace) -> int:
    from .checkpoints import read_metadata

    meta = read_metadata(args.path)
    meta.pop("history", None)
    print(json.dumps(meta, indent=2))
    return 0


def _download(args: argparse.Namespace) -> int:
    from .data import download_mnist

    folder = download_mnist(args.root)
    print(f"Full MNIST is in {folder}; train with --dataset mnist")
    return 0


def main(argv: list[str] | None = None) -> int:
    """Entry point; returns the exit status (2 with a one-line message for bad input)."""
    parser = build_parser()
    args = parser.parse_args(argv)
    handler = {"train": _train, "info": _info, "download": _download}[args.command]
    try:
        return handler(args)
    except (ValueError, FileNotFoundError) as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
