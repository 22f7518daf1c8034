"""The lesson's request path as a tiny WSGI app: the baseline the gallery's requests are timed
against (``make bench``, section 2). Never serve it for anything else.

Per request it does what the lesson's ``generate_image`` view did: build the generator, read its
weights back from the checkpoint file, sample one image, draw it on a pyplot figure, save the
figure as PNG and answer an HTML page with the image inlined as base64. The gallery does the
same job with a model loaded once per process and a Pillow encoder.

Run under gunicorn with ``LESSON_CHECKPOINT`` set to a GAN checkpoint (``gan_mnist5k.pt``):
``GET /`` answers a small form, ``POST /`` generates.
"""

from __future__ import annotations

import base64
import io
import os

import matplotlib
import torch

from course_lib.models import MODEL_CLASSES
from course_lib.runtime import use_threads

matplotlib.use("Agg")  # no display in a server; pyplot picks this backend up below
import matplotlib.pyplot as plt  # noqa: E402  (the backend has to be chosen first)

# One thread per worker, as the gallery uses: the comparison is per-request work, not threads.
use_threads(1)

FORM = b'<form method="post"><button>Generate</button></form>'


def generate_page(checkpoint: str) -> bytes:
    """One lesson-style generation: reload the weights, sample, pyplot, PNG, base64 HTML."""
    payload = torch.load(checkpoint, map_location="cpu", weights_only=True)
    generator = MODEL_CLASSES[payload["class"]](**payload["config"])  # whichever the gallery uses
    generator.load_state_dict(payload["state_dict"])
    generator.eval()
    with torch.no_grad():
        noise = torch.randn(1, generator.latent_dim)
        image = generator.decode(noise).reshape(28, 28).numpy()
    plt.figure(figsize=(5, 5))
    plt.imshow(image, cmap="gray")
    plt.axis("off")
    buffer = io.BytesIO()
    plt.savefig(buffer, format="png", bbox_inches="tight", pad_inches=0)
    plt.close()
    encoded = base64.b64encode(buffer.getvalue())
    return b'<img src="data:image/png;base64,' + encoded + b'" alt="generated digit">'


def application(environ, start_response):
    """WSGI entry point: ``GET /`` the form, ``POST /`` a freshly generated image."""
    if environ["REQUEST_METHOD"] == "POST":
        length = int(environ.get("CONTENT_LENGTH") or 0)
        environ["wsgi.input"].read(length)  # the lesson's form carried nothing else
        body = generate_page(os.environ["LESSON_CHECKPOINT"])
    else:
        body = FORM
    start_response(
        "200 OK", [("Content-Type", "text/html; charset=utf-8"), ("Content-Length", str(len(body)))]
    )
    return [body]
