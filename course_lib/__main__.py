"""Command line: ``python -m course_lib train|download|info``.

Examples::

    python -m course_lib train vae --dataset mnist5k --time-budget 30 --out checkpoints/vae.pt
    python -m course_lib train gan --time-budget 180
    python -m course_lib train gan --arch conv --time-budget 180
    python -m course_lib train gan --arch mlp --epochs 60
    python -m course_lib train flow --time-budget 180
    python -m course_lib info checkpoints/vae.pt
    python -m course_lib download mnist

Without --out, train writes data/checkpoints/cli/KIND_ARCH_DATASET.pt (the second example:
data/checkpoints/cli/gan_conditional_mnist5k.pt), never a checkpoint that the notebooks or the
web gallery use.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from .recipes import Recipe

KINDS = ("ae", "vae", "gan", "flow")
ARCHS = ("conditional", "conv", "mixture", "mlp")
#: The default architecture of each kind: the best measured one (see `make bench`).
DEFAULT_ARCH = {"ae": "mlp", "vae": "mixture", "gan": "conditional", "flow": "mlp"}
#: The kinds each architecture exists for.
ARCH_KINDS = {"conditional": ("gan",), "conv": ("gan",), "mixture": ("vae",), "mlp": KINDS}
#: Datasets of 28x28 digits, where the digit classifier can judge a GAN's samples.
DIGIT_DATASETS = ("mnist5k", "mnist", "digits")
DEFAULT_EPOCHS = 20
#: `train flow`: the share of --time-budget spent on its autoencoder first, that autoencoder's
#: size (512 wide, 64 numbers: its reconstructions are 1.3x the real-vs-real Frechet distance),
#: and the flow's batch size and learning rate.
FLOW_AE_SHARE = 0.25
FLOW_AE = {"hidden_dim": 512, "latent_dim": 64}
FLOW_BATCH, FLOW_LR = 256, 2e-3
#: The guidance scale a `train flow` model samples with. Measured on a 180 s CLI flow with 1,000
#: samples of a seed the bench does not judge (seed 11): guidance 1.0 / 1.1 / 1.25 / 1.5 / 2 gave
#: Frechet ratios 2.7 / 1.9 / 1.36 / 2.2 / 4.9 (stronger guidance trades variety for sharpness).
#: The notebook's shorter-trained recipe flow keeps the model default (1.5).
FLOW_GUIDANCE = 1.25


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
        help="ae: autoencoder, vae: variational autoencoder, gan: generator + discriminator",
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
        help="checkpoint file to write (default: data/checkpoints/cli/"
        "KIND_ARCH_DATASET.pt, e.g. cli/gan_conditional_mnist5k.pt: a folder of the command "
        "line's own, so it never overwrites a model the notebooks or the gallery use)",
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
        "with a learned mixture prior) or mlp (the lesson's); ae: mlp",
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
        help="CPU threads for PyTorch (default: 1, as the notebooks and the web app train: on "
        "an idle 2-core machine 2 threads are about 1.3x faster, with any other load several "
        "times slower)",
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


#: The recipe kind that trains each (kind, --arch) pair.
RECIPE_KINDS = {
    ("ae", "mlp"): "ae",
    ("vae", "mlp"): "vae",
    ("vae", "mixture"): "mixture_vae",
    ("gan", "mlp"): "gan",
    ("gan", "conv"): "conv_gan",
    ("gan", "conditional"): "conv_gan",
}


def default_out(kind: str, arch: str, dataset: str) -> Path:
    """Where ``train`` writes without ``--out``: ``data/checkpoints/cli/KIND_ARCH_DATASET.pt``.

    A folder of its own, so the command line never overwrites a checkpoint that the notebooks
    or the gallery use (``data/checkpoints/gan_mnist5k.pt`` is the lesson's MLP GAN).
    """
    from .paths import checkpoint_dir

    stem = Path(dataset).name if Path(dataset).is_dir() else dataset
    return checkpoint_dir() / "cli" / f"{kind}_{arch}_{stem}.pt"


def _recipe_for(args: argparse.Namespace, arch: str, train_data: object) -> Recipe:
    """The command line's arguments as a recipe (the one place that builds and trains models)."""
    import torch

    from . import recipes

    kind = RECIPE_KINDS[(args.kind, arch)]
    if kind in ("ae", "vae", "mixture_vae"):
        config = {"hidden_dim": args.hidden_dim or 400, "latent_dim": args.latent_dim or 32}
    elif kind == "gan":
        config = {"noise_dim": args.latent_dim or 100, "hidden_dim": args.hidden_dim or 256}
    else:
        n_classes = 0
        if arch == "conditional":
            labels = getattr(train_data, "labels", None)
            if labels is None or len(labels) == 0:
                raise ValueError(
                    f"--arch conditional learns from labels and {args.dataset} has none "
                    "(use --arch conv)"
                )
            n_classes = int(torch.as_tensor(labels).max()) + 1
        config = {
            "noise_dim": args.latent_dim or 32,
            "width": args.hidden_dim or 32,
            "n_classes": n_classes,
        }
    epochs = args.epochs
    if epochs is None and args.time_budget is None:
        epochs = DEFAULT_EPOCHS
    return recipes.Recipe(
        kind,
        str(args.dataset),
        config,
        epochs=epochs,
        time_budget=args.time_budget,
        batch_size=args.batch_size or 64,
        lr=args.lr or (3e-3 if kind == "conv_gan" else 1e-3),
        seed=args.seed,
    )


def _train(args: argparse.Namespace) -> int:
    import torch

    from . import checkpoints, recipes
    from .data import load_dataset
    from .metrics import negative_elbo, reconstruction_bce, sample_quality
    from .runtime import DEFAULT_THREADS, use_threads
    from .training import resolve_device

    use_threads(args.threads or DEFAULT_THREADS)
    arch = args.arch or DEFAULT_ARCH[args.kind]
    if args.kind not in ARCH_KINDS[arch]:
        raise ValueError(
            f"--arch {arch} is only for {' and '.join(ARCH_KINDS[arch])}; "
            f"{args.kind} comes as {DEFAULT_ARCH[args.kind]}"
        )
    if args.autoencoder is not None and args.kind != "flow":
        raise ValueError("--autoencoder is only for `train flow`")
    device = resolve_device(args.device)
    dataset_name = str(args.dataset)
    train_data = load_dataset(dataset_name, "train")
    test_data = load_dataset(dataset_name, "test")
    input_dim = int(train_data.images[0].numel())
    out = args.out or default_out(args.kind, arch, dataset_name)
    print(
        f"Training {args.kind} on {train_data!r}; held out: {len(test_data)} images; "
        f"device {device}",
        flush=True,
    )

    started = time.perf_counter()
    metrics: dict[str, float] = {}
    if args.kind == "flow":
        model, history = _fit_flow(args, train_data, device, started)
        critic = None
    else:
        recipe = _recipe_for(args, arch, train_data)
        model = recipes.build_model(recipe, input_dim)
        history, critic = recipes.train_model(recipe, model, train_data, device=device)
    if args.kind == "flow":
        metrics["autoencoder_test_recon_bce_nats"] = round(
            reconstruction_bce(model.autoencoder, test_data), 3
        )
        if dataset_name in DIGIT_DATASETS:
            print("Judging 1,000 samples with the digit classifier ...", flush=True)
            for prefix, guidance in (("classifier", None), ("uncond_classifier", 0.0)):
                samples = model.sample(1000, seed=args.seed, guidance=guidance).cpu()
                quality = sample_quality(samples)
                metrics.update({f"{prefix}_{k}": round(v, 3) for k, v in quality.items()})
    elif args.kind in ("ae", "vae"):
        if args.kind == "vae":
            metrics["test_neg_elbo_nats"] = round(negative_elbo(model, test_data), 3)
        metrics["test_recon_bce_nats"] = round(reconstruction_bce(model, test_data), 3)
    else:
        with torch.no_grad():
            n_test = len(test_data)
            real_images = test_data.images.to(device) * 2 - 1
            if getattr(model, "n_classes", 0):  # a conditional critic judges image and label
                # The codes carry the labels they were drawn for (every digit in turn).
                labels = torch.arange(n_test) % model.n_classes
                fakes = model.sample(n_test, seed=args.seed, labels=labels) * 2 - 1
                real = critic(real_images, torch.as_tensor(test_data.labels).long().to(device))
                fake = critic(fakes, labels.to(device))
            else:
                fakes = model.sample(n_test, seed=args.seed) * 2 - 1
                real, fake = critic(real_images), critic(fakes)
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


def _fit_flow(args: argparse.Namespace, train_data, device, started: float):
    """`train flow`: the autoencoder first (or the one given), then the latent flow on its
    codes in the rest of the time budget, both through the recipes' one build/train path.
    Returns ``(model, history of the flow)``."""
    import torch

    from . import checkpoints, recipes
    from .models import AutoencoderModel

    input_dim = int(train_data.images[0].numel())
    epochs = args.epochs
    if epochs is None and args.time_budget is None:
        epochs = DEFAULT_EPOCHS
    if args.autoencoder is not None:
        autoencoder = checkpoints.load(args.autoencoder, device)
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
        ae_recipe = recipes.Recipe(
            "ae",
            str(args.dataset),
            {**FLOW_AE, "latent_dim": args.latent_dim or FLOW_AE["latent_dim"]},
            epochs=epochs,
            time_budget=args.time_budget and args.time_budget * FLOW_AE_SHARE,
            # Batches of 256: in 45 s its reconstructions reach a Frechet ratio of 0.3 on 2
            # cores; batches of 64 left them at 17 (94 nats), which capped the flow at 5x.
            batch_size=args.batch_size or FLOW_BATCH,
            lr=3e-3,
            seed=args.seed,
        )
        autoencoder = recipes.build_model(ae_recipe, input_dim)
        recipes.train_model(ae_recipe, autoencoder, train_data, device=device)
    labels = getattr(train_data, "labels", None)
    n_classes = int(torch.as_tensor(labels).max()) + 1 if labels is not None and len(labels) else 0
    width = {"width": args.hidden_dim} if args.hidden_dim else {}
    left = args.time_budget and max(args.time_budget - (time.perf_counter() - started), 1)
    flow_recipe = recipes.Recipe(
        "flow",
        str(args.dataset),
        {"n_classes": n_classes, "guidance": FLOW_GUIDANCE, **width},
        epochs=epochs,
        time_budget=left,
        batch_size=args.batch_size or FLOW_BATCH,
        lr=args.lr or FLOW_LR,
        seed=args.seed,
    )
    model = recipes.build_model(flow_recipe, input_dim, autoencoder=autoencoder)
    history, _ = recipes.train_model(flow_recipe, model, train_data, device=device)
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
