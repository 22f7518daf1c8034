"""Gallery pages: each view parses its input with a form, calls the service, renders."""

from __future__ import annotations

import logging
from dataclasses import dataclass

from django.core.exceptions import ValidationError
from django.db import DatabaseError, transaction
from django.db.models import Count, F, Q, QuerySet
from django.forms import Form
from django.http import FileResponse, Http404, HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import redirect, render
from django.utils.text import slugify

from gallery_site.guards import allow, error_response

from . import generation, records
from .forms import (
    MODEL_ERROR,
    CreateArtworkForm,
    ExploreForm,
    InterpolatePickForm,
    PreviewForm,
    different_models_message,
    style_artwork_message,
)
from .generation import latent_size
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


def _create_page(request: HttpRequest) -> HttpResponse:
    """The creation page; ``?model=<id>`` (a card's link on /models/) preselects that model."""
    wanted = request.GET.get("model")
    if wanted is None:
        return render(request, "gallery/create.html", {"form": CreateArtworkForm()})
    form = CreateArtworkForm()
    try:
        record = form.fields["model"].clean(wanted)
    except ValidationError:
        record = None
    if record is None:
        context = {"form": form, "error": f"{MODEL_ERROR} (asked for {wanted[:20]!r})"}
        return render(request, "gallery/create.html", context, status=404)
    form = CreateArtworkForm(initial={"method": record.gallery_method, "model": record.pk})
    return render(request, "gallery/create.html", {"form": form})


@allow("GET", "POST", json=True)
def create(request: HttpRequest) -> HttpResponse:
    """GET: the creation page. POST: generate an artwork with the chosen (or default) model,
    store it with a link to that model's record, answer JSON."""
    if request.method == "GET":
        return _create_page(request)

    form = CreateArtworkForm(request.POST)
    if not form.is_valid():
        return JsonResponse({"success": False, "errors": _form_errors(form)}, status=400)
    method, data = form.cleaned_data["method"], form.cleaned_data
    try:
        source, record = records.source_for(method, data["model"])
        image = generation.generate(
            method, data["creativity"], seed=data["seed"], digit=data["digit"], source=source
        )
        record = record or records.record_of(source)
    except generation.ModelUnavailable as error:
        return JsonResponse({"success": False, "error": str(error)}, status=503)
    except generation.NoDigitChoice as error:
        return JsonResponse({"success": False, "errors": {"digit": [str(error)]}}, status=400)
    try:
        artwork = GeneratedArtwork.objects.create_with_image(
            title=data["title"] or GeneratedArtwork.default_title(),
            generation_method=method,
            png_bytes=image.png_bytes,
            latent_vector=image.latent_vector,
            checkpoint_name=image.checkpoint_name,
            checkpoint_fingerprint=image.checkpoint_fingerprint,
            model_record=record,
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
            "digit": image.digit,
            "model_id": record.pk if record else None,
            "model_name": record.name if record else image.checkpoint_name,
        }
    )


@allow("GET", json=True)
def preview(request: HttpRequest, method: str) -> HttpResponse:
    """``GET /generate/<METHOD>.png``: a new image at the model's own 28x28 pixels, nothing
    stored. ``?creativity=`` (0.1 to 2.0), ``?seed=`` (the same seed, the same image, and
    ``POST /create/`` with that seed keeps it), ``?digit=`` (0-9, class-conditional models)
    and ``?model=`` (a model record's id). Refusals are JSON with a message."""
    if method not in generation.CHECKPOINTS:
        message = (
            f"{method[:40]!r} is not a generation method; use {', '.join(generation.CHECKPOINTS)}."
        )
        return JsonResponse({"success": False, "error": message}, status=404)
    form = PreviewForm(request.GET, method)
    if not form.is_valid():
        message = " ".join(sum(_form_errors(form).values(), []))
        return JsonResponse({"success": False, "error": message}, status=400)
    data = form.cleaned_data
    try:
        source, _ = records.source_for(method, data["model"])
        png = generation.preview_png(
            method, data["creativity"], data["seed"], digit=data["digit"], source=source
        )
    except generation.ModelUnavailable as error:
        return JsonResponse({"success": False, "error": str(error)}, status=503)
    except generation.NoDigitChoice as error:
        return JsonResponse({"success": False, "error": str(error)}, status=400)
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
    try:
        refusal, source = _morph_refusal(first, second)
        if refusal:
            context["error"] = refusal.message
            return render(request, "gallery/interpolate.html", context, status=refusal.status)
        frames = generation.interpolate(
            first.generation_method, first.latent_vector, second.latent_vector, source=source
        )
    except generation.ModelUnavailable as error:
        return _unavailable(request, error)
    except generation.LatentMismatch as error:
        context["error"] = f"These artworks cannot be morphed with the current model: {error}."
        return render(request, "gallery/interpolate.html", context, status=409)
    context["frames"] = [generation.png_data_url(png) for png in frames]
    return render(request, "gallery/interpolate.html", context)


@dataclass(frozen=True)
class _Refusal:
    """Why a request cannot be served: the status to answer and the message to show."""

    status: int
    message: str


def _morph_refusal(
    first: GeneratedArtwork, second: GeneratedArtwork
) -> tuple[_Refusal | None, generation.Served | None]:
    """Why these two artworks cannot be morphed into each other (the strip and the GIF share
    the rules), or None with the model that decodes both. May raise ModelUnavailable (finding
    that model loads it)."""
    if message := style_artwork_message(first, second):
        return _Refusal(409, message), None
    if first.generation_method != second.generation_method:
        return _Refusal(
            400,
            f"These artworks come from different models ({first.get_generation_method_display()}"
            f" and {second.get_generation_method_display()}); each model has its own latent "
            "space, so only artworks made by the same method can be morphed.",
        ), None
    if message := different_models_message(first, second):
        # Same method, yet codes of different sizes: made by a model with another latent size.
        return _Refusal(409, message), None
    if message := _different_records_message(first, second):
        return _Refusal(409, message), None
    source = _source_of(first, second)
    if message := _retrained_message(first, second, source):
        return _Refusal(409, message), None
    return None, source


def _source_of(first: GeneratedArtwork, second: GeneratedArtwork) -> generation.Served:
    """The model that decodes both artworks' codes: the record that made them (either's, if
    only one has a link), else the method's default now."""
    record_id = first.model_record_id or second.model_record_id
    record = records.finished_records().filter(pk=record_id).first() if record_id else None
    source, _ = records.source_for(first.generation_method, record)
    return source


def _different_records_message(first: GeneratedArtwork, second: GeneratedArtwork) -> str | None:
    """Why two artworks made by two different model records cannot be morphed, or None."""
    ids = first.model_record_id, second.model_record_id
    if None in ids or ids[0] == ids[1]:
        return None
    return (
        f"#{first.pk} and #{second.pk} were made by different models (#{ids[0]} and #{ids[1]} "
        "on the models page); each model has its own latent space, so only artworks of one "
        "model can be morphed."
    )


def _retrained_message(
    first: GeneratedArtwork, second: GeneratedArtwork, source: generation.Served
) -> str | None:
    """Why the artworks' codes no longer fit the weights that would decode them (the model was
    retrained since they were made), or None. Rows made before fingerprints were recorded
    (blank) pass."""
    name, current = source.checkpoint_name, source.checkpoint_fingerprint
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


# --- one artwork: its page, its PNG, and the morph as an animated GIF -------------------------

NEIGHBOURS = 6  # "more like this" on an artwork page
NEIGHBOUR_POOL = 1000  # newest same-model artworks searched for them (keeps the page fast)
MORPH_PARTNERS = 12  # newest same-model artworks offered to "morph from here"


def _same_model(artwork: GeneratedArtwork) -> QuerySet[GeneratedArtwork]:
    """Other artworks whose codes live in the same latent space as this one's: same method and
    weights (fingerprint), and for a style-studio variation the same style."""
    others = GeneratedArtwork.objects.filter(
        generation_method=artwork.generation_method,
        checkpoint_fingerprint=artwork.checkpoint_fingerprint,
    ).exclude(pk=artwork.pk)
    if artwork.generation_method == GenerationMethod.STYLE:
        others = others.filter(style_id=artwork.style_id)
    return others


def _neighbours(artwork: GeneratedArtwork) -> list[tuple[GeneratedArtwork, float]]:
    """The artwork's nearest same-model artworks in latent space, with their distances."""
    pool = _same_model(artwork).values_list("pk", "latent_vector")[:NEIGHBOUR_POOL]
    nearest = generation.nearest_codes(artwork.latent_vector, list(pool), NEIGHBOURS)
    found = GeneratedArtwork.objects.in_bulk([pk for pk, _ in nearest])
    return [(found[pk], distance) for pk, distance in nearest if pk in found]


@allow("GET")
def artwork_page(request: HttpRequest, artwork_id: int) -> HttpResponse:
    """One artwork large, with its like button, a download, morph partners and neighbours."""
    artwork = _artwork_or_404(artwork_id)
    partners = []
    if artwork.generation_method != GenerationMethod.STYLE:
        size = latent_size(artwork.latent_vector)
        newest = _same_model(artwork)[: MORPH_PARTNERS * 2]
        partners = [a for a in newest if latent_size(a.latent_vector) == size][:MORPH_PARTNERS]
    context = {
        "artwork": artwork,
        "liked": _liked_ids(request),
        "partners": partners,
        "neighbours": _neighbours(artwork),
    }
    return render(request, "gallery/artwork.html", context)


@allow("GET")
def download(request: HttpRequest, artwork_id: int) -> HttpResponse:
    """The stored PNG as a download named after the artwork (``Content-Disposition:
    attachment``), so "Download PNG" saves a file instead of opening the image."""
    artwork = _artwork_or_404(artwork_id)
    try:
        handle = artwork.image_file.open("rb")
    except (OSError, ValueError):
        raise Http404(
            f"The image of artwork #{artwork_id} is missing from the media folder."
        ) from None
    name = f"{slugify(artwork.title) or 'artwork'}-{artwork.pk}.png"
    return FileResponse(handle, as_attachment=True, filename=name, content_type="image/png")


@allow("GET")
def morph_gif(request: HttpRequest, first_id: int, second_id: int) -> HttpResponse:
    """The morph between two artworks and back as a looping animated GIF download, made on
    request and never stored; the same rules as the strip refuse the same pairs."""
    first, second = _artwork_or_404(first_id), _artwork_or_404(second_id)
    try:
        refusal, source = _morph_refusal(first, second)
        if refusal:
            return error_response(
                request, refusal.message, refusal.status, json=False, title="Cannot morph these"
            )
        gif = generation.morph_gif(
            first.generation_method, first.latent_vector, second.latent_vector, source=source
        )
    except generation.ModelUnavailable as error:
        return _unavailable(request, error)
    except generation.LatentMismatch as error:
        message = f"These artworks cannot be morphed with the current model: {error}."
        return error_response(request, message, 409, json=False, title="Cannot morph these")
    response = HttpResponse(gif, content_type="image/gif")
    response["Content-Disposition"] = f'attachment; filename="morph-{first.pk}-{second.pk}.gif"'
    return response
