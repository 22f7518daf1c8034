"""Gallery pages: each view parses its input with a form, calls the service, renders."""

from __future__ import annotations

import logging

from django.db import DatabaseError, transaction
from django.db.models import Count, F, Q
from django.forms import Form
from django.http import Http404, HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import redirect, render

from gallery_site.guards import allow

from . import generation
from .forms import (
    CreateArtworkForm,
    ExploreForm,
    InterpolatePickForm,
    PreviewForm,
    different_models_message,
    style_artwork_message,
)
from .models import GeneratedArtwork, GenerationMethod

logger = logging.getLogger(__name__)

LATEST = 50  # artworks on the front page
EXPLORE_MAX_ARTWORKS = 200  # newest VAE artworks marked on the latent map
LIKED_SESSION_KEY = "liked_artworks"  # ids of the artworks this visitor has liked


def _form_errors(form: Form) -> dict[str, list[str]]:
    """A form's errors as plain JSON: field name -> messages ("__all__" for the whole form)."""
    return {
        field: [error["message"] for error in errors]
        for field, errors in form.errors.get_json_data().items()
    }


def _liked_ids(request: HttpRequest) -> set[int]:
    """The artworks this visitor (browser session) has already liked."""
    return set(request.session.get(LIKED_SESSION_KEY, []))


def _unavailable(request: HttpRequest, error: generation.ModelUnavailable) -> HttpResponse:
    """The 503 page that tells the visitor how to train the missing model."""
    return render(request, "gallery/unavailable.html", {"message": str(error)}, status=503)


@allow("GET")
def index(request: HttpRequest) -> HttpResponse:
    """The latest artworks in a grid, with how many each method has made."""
    counts = GeneratedArtwork.objects.aggregate(
        total=Count("id"),
        **{code: Count("id", filter=Q(generation_method=code)) for code in GenerationMethod.values},
    )
    stats = [(code, label, counts[code]) for code, label in GenerationMethod.choices]
    context = {
        "artworks": GeneratedArtwork.objects.all()[:LATEST],
        "stats": stats,
        "total": counts["total"],
        "latest": LATEST,
        "liked": _liked_ids(request),
    }
    return render(request, "gallery/index.html", context)


@allow("GET", "POST", json=True)
def create(request: HttpRequest) -> HttpResponse:
    """GET: the creation page. POST: generate an artwork, store it, answer JSON."""
    if request.method == "GET":
        return render(request, "gallery/create.html", {"form": CreateArtworkForm()})

    form = CreateArtworkForm(request.POST)
    if not form.is_valid():
        return JsonResponse({"success": False, "errors": _form_errors(form)}, status=400)
    method = form.cleaned_data["method"]
    try:
        image = generation.generate(
            method, form.cleaned_data["creativity"], seed=form.cleaned_data["seed"]
        )
    except generation.ModelUnavailable as error:
        return JsonResponse({"success": False, "error": str(error)}, status=503)
    try:
        artwork = GeneratedArtwork.objects.create_with_image(
            title=form.cleaned_data["title"] or GeneratedArtwork.default_title(),
            generation_method=method,
            png_bytes=image.png_bytes,
            latent_vector=image.latent_vector,
            checkpoint_name=image.checkpoint_name,
            checkpoint_fingerprint=image.checkpoint_fingerprint,
        )
    except (DatabaseError, OSError):
        logger.exception("could not store a new %s artwork", method)
        return JsonResponse(
            {"success": False, "error": "The artwork could not be saved; please try again."},
            status=503,
        )
    return JsonResponse(
        {
            "success": True,
            "artwork_id": artwork.pk,
            "image_url": artwork.image_file.url,
            "title": artwork.title,
            "method": artwork.generation_method,
            "method_label": artwork.get_generation_method_display(),
            "likes": artwork.likes,
        }
    )


@allow("GET", json=True)
def preview(request: HttpRequest, method: str) -> HttpResponse:
    """``GET /generate/<METHOD>.png``: a new image at the model's own 28x28 pixels, nothing
    stored. ``?creativity=`` (0.1 to 2.0) and ``?seed=`` (the same seed, the same image, and
    ``POST /create/`` with that seed keeps it). Refusals are JSON with a message."""
    if method not in generation.CHECKPOINTS:
        message = f"{method[:40]!r} is not a generation method; use VAE, GAN or AUTOENCODER."
        return JsonResponse({"success": False, "error": message}, status=404)
    form = PreviewForm(request.GET)
    if not form.is_valid():
        message = " ".join(sum(_form_errors(form).values(), []))
        return JsonResponse({"success": False, "error": message}, status=400)
    try:
        png = generation.preview_png(
            method, form.cleaned_data["creativity"], form.cleaned_data["seed"]
        )
    except generation.ModelUnavailable as error:
        return JsonResponse({"success": False, "error": str(error)}, status=503)
    response = HttpResponse(png, content_type="image/png")
    # A seeded image is the same until the model is retrained; a random one never repeats.
    seeded = form.cleaned_data["seed"] is not None
    response["Cache-Control"] = "private, max-age=60" if seeded else "no-store"
    return response


@allow("POST", json=True)
def like(request: HttpRequest, artwork_id: int) -> JsonResponse:
    """One like per visitor and artwork, so a class cannot inflate counts by clicking.

    The first like adds one, atomically in the database, and is remembered in the visitor's
    session. A repeat is no error (what it asks for, "I like this", already holds): it answers
    200 with the unchanged count and ``already_liked: true``.
    """
    liked = _liked_ids(request)
    already = artwork_id in liked
    artwork = GeneratedArtwork.objects.filter(pk=artwork_id)
    with transaction.atomic():
        if not already:
            artwork.update(likes=F("likes") + 1)
        likes = artwork.values_list("likes", flat=True).first()
    if likes is None:
        return JsonResponse(
            {"success": False, "error": f"There is no artwork #{artwork_id}."}, status=404
        )
    if not already:
        request.session[LIKED_SESSION_KEY] = sorted(liked | {artwork_id})
    return JsonResponse({"success": True, "likes": likes, "already_liked": already})


@allow("GET")
def interpolate(request: HttpRequest, first_id: int, second_id: int) -> HttpResponse:
    """A strip of images morphing from one artwork's latent vector to another's."""
    first, second = _artwork_or_404(first_id), _artwork_or_404(second_id)
    context = {"first": first, "second": second, "steps": generation.INTERPOLATION_STEPS}
    if message := style_artwork_message(first, second):
        context["error"] = message
        return render(request, "gallery/interpolate.html", context, status=409)
    if first.generation_method != second.generation_method:
        context["error"] = (
            f"These artworks come from different models ({first.get_generation_method_display()}"
            f" and {second.get_generation_method_display()}); each model has its own latent "
            "space, so only artworks made by the same method can be morphed."
        )
        return render(request, "gallery/interpolate.html", context, status=400)
    if message := different_models_message(first, second):
        # Same method, yet codes of different sizes: made by a model with another latent size.
        context["error"] = message
        return render(request, "gallery/interpolate.html", context, status=409)
    try:
        if message := _retrained_message(first, second):
            context["error"] = message
            return render(request, "gallery/interpolate.html", context, status=409)
        frames = generation.interpolate(
            first.generation_method, first.latent_vector, second.latent_vector
        )
    except generation.ModelUnavailable as error:
        return _unavailable(request, error)
    except generation.LatentMismatch as error:
        context["error"] = f"These artworks cannot be morphed with the current model: {error}."
        return render(request, "gallery/interpolate.html", context, status=409)
    context["frames"] = [generation.png_data_url(png) for png in frames]
    return render(request, "gallery/interpolate.html", context)


def _retrained_message(first: GeneratedArtwork, second: GeneratedArtwork) -> str | None:
    """Why the artworks' codes no longer fit the current weights (the model was retrained since
    they were made), or None. Rows made before fingerprints were recorded (blank) pass."""
    name, current = generation.checkpoint_of(first.generation_method)
    stale = [
        artwork
        for artwork in (first, second)
        if artwork.checkpoint_fingerprint and artwork.checkpoint_fingerprint != current
    ]
    if not stale:
        return None
    made = " and ".join(f"#{a.pk} (weights {a.checkpoint_fingerprint})" for a in stale)
    return (
        f"The {first.get_generation_method_display()} was retrained: its checkpoint {name} now "
        f"holds weights {current}, but {made} {'was' if len(stale) == 1 else 'were'} made with "
        "earlier weights. The new weights would decode the stored codes into different images, "
        "so these artworks cannot be morphed; create new ones with the retrained model."
    )


def _artwork_or_404(artwork_id: int) -> GeneratedArtwork:
    """The artwork, or a 404 that names the missing id (the 404 page shows the message)."""
    artwork = GeneratedArtwork.objects.filter(pk=artwork_id).first()
    if artwork is None:
        raise Http404(f"There is no artwork #{artwork_id}.")
    return artwork


@allow("GET")
def interpolate_pick(request: HttpRequest) -> HttpResponse:
    """Choose two artworks to morph; a valid choice redirects to their strip."""
    if not request.GET:
        return render(request, "gallery/interpolate_pick.html", {"form": InterpolatePickForm()})
    form = InterpolatePickForm(request.GET)
    if not form.is_valid():
        return render(request, "gallery/interpolate_pick.html", {"form": form}, status=400)
    return redirect(
        "gallery:interpolate", form.cleaned_data["first"].pk, form.cleaned_data["second"].pk
    )


@allow("GET")
def explore(request: HttpRequest) -> HttpResponse:
    """Interactive map of the digit VAE's latent space with the gallery's VAE artworks on it
    (style-studio variations are STYLE artworks, from other models, and never shown here)."""
    form = ExploreForm(request.GET)
    if not form.is_valid():
        return render(request, "gallery/explore.html", {"form": form}, status=400)
    artworks = GeneratedArtwork.objects.filter(generation_method=GenerationMethod.VAE)
    points = [
        generation.LatentPoint(artwork.pk, artwork.title, artwork.latent_vector)
        for artwork in artworks.only("id", "title", "latent_vector")[:EXPLORE_MAX_ARTWORKS]
    ]
    try:
        latent_map = generation.latent_map(points, form.cleaned_data["method"])
    except generation.ModelUnavailable as error:
        return _unavailable(request, error)
    context = {"form": form, "map": latent_map, "projection": form.cleaned_data["method"]}
    return render(request, "gallery/explore.html", context)
