"""Forms that validate every input the gallery accepts."""

from __future__ import annotations

from django import forms

from .generation import (
    CREATIVITY_DEFAULT,
    CREATIVITY_MAX,
    CREATIVITY_MIN,
    PROJECTIONS,
    latent_size,
)
from .models import DIGIT_METHODS, GeneratedArtwork, GenerationMethod
from .records import finished_records

CREATIVITY_ERROR = f"Creativity must be a number from {CREATIVITY_MIN} to {CREATIVITY_MAX}."
CREATIVITY_HELP = (
    f"How far from the model's most typical drawings to wander: {CREATIVITY_MIN} gives the "
    f"plainest, most typical digits, {CREATIVITY_DEFAULT} draws as the model learned to, "
    f"{CREATIVITY_MAX} gives wild ones that may not be digits at all."
)
METHOD_NAMES = ", ".join(str(code) for code in DIGIT_METHODS)
DIGIT_ERROR = "The digit must be one of 0 to 9 (or empty for any digit)."
MODEL_ERROR = "There is no finished model with that id; pick one listed on /models/."
#: Seeds are what ``torch.Generator.manual_seed`` takes reproducibly everywhere: 0 to 2**32 - 1.
SEED_MAX = 2**32 - 1
SEED_ERROR = f"The seed must be a whole number from 0 to {SEED_MAX}."


class SeedField(forms.IntegerField):
    """A seed from 0 to :data:`SEED_MAX` written in ASCII digits only.

    ``int()`` (and so Django's IntegerField) would also take ``" 3"``, ``"3.0"`` or an
    Arabic-Indic digit; a seed in a URL is meant to be copied exactly, so those are refused.
    """

    def __init__(self, **kwargs: object) -> None:
        messages = dict.fromkeys(("required", "invalid", "min_value", "max_value"), SEED_ERROR)
        super().__init__(min_value=0, max_value=SEED_MAX, error_messages=messages, **kwargs)

    def to_python(self, value: object) -> int | None:
        if value in self.empty_values:
            return None
        text = str(value)
        if not (text.isascii() and text.isdigit() and len(text) <= len(str(SEED_MAX))):
            raise forms.ValidationError(self.error_messages["invalid"], code="invalid")
        return int(text)


class DigitField(forms.TypedChoiceField):
    """ "Which digit?": empty for any digit, else 0 to 9 (class-conditional models only)."""

    def __init__(self, **kwargs: object) -> None:
        super().__init__(
            choices=[("", "Any digit")] + [(str(d), str(d)) for d in range(10)],
            coerce=int,
            empty_value=None,
            required=False,
            error_messages={"invalid_choice": DIGIT_ERROR},
            **kwargs,
        )


class RecordSelect(forms.Select):
    """A select of model records whose options name their method (``data-method``), so the
    page can offer only the models of the chosen method."""

    def create_option(self, name, value, label, selected, index, subindex=None, attrs=None):
        option = super().create_option(name, value, label, selected, index, subindex, attrs)
        record = getattr(value, "instance", None)
        if record is not None:
            option["attrs"]["data-method"] = record.gallery_method
        return option


class RecordField(forms.ModelChoiceField):
    """A finished model record (``workshop.ModelRecord``) to draw with; empty: the default."""

    def __init__(self, **kwargs: object) -> None:
        kwargs.setdefault("widget", RecordSelect(attrs={"class": "form-select"}))
        super().__init__(
            queryset=finished_records(),
            required=False,
            empty_label="The gallery's default",
            error_messages={"invalid_choice": MODEL_ERROR},
            **kwargs,
        )

    def label_from_instance(self, obj) -> str:
        default = ", the default" if obj.is_default else ""
        return f"{obj.name} ({obj.architecture}{default})"


def check_record_method(form: forms.Form) -> None:
    """A chosen model must be of the chosen method's family (an error on ``model``)."""
    method, record = form.cleaned_data.get("method"), form.cleaned_data.get("model")
    if method and record and record.gallery_method != method:
        form.add_error(
            "model",
            f"Model #{record.pk} ({record.name}) is a {record.get_kind_display()}; it cannot "
            f"draw for {method}. Pick one of the {method} models, or the default.",
        )


class CreateArtworkForm(forms.Form):
    """Which model to draw with, which digit, and how far from typical digits to wander."""

    method = forms.ChoiceField(
        choices=[(code, GenerationMethod(code).label) for code in DIGIT_METHODS],
        initial=GenerationMethod.VAE,
        label="Generation method",
        widget=forms.Select(attrs={"class": "form-select"}),
        error_messages={
            "required": f"Choose a generation method: {METHOD_NAMES}.",
            "invalid_choice": f"%(value)s is not a generation method; choose {METHOD_NAMES}.",
        },
    )
    model = RecordField(
        label="Model",
        help_text="Any finished model of this method from the models page; by default the "
        "one the instructor chose (the course's best).",
    )
    digit = DigitField(
        label="Which digit?",
        widget=forms.Select(attrs={"class": "form-select"}),
        help_text="The GAN and the latent flow draw the digit you ask for; the autoencoders "
        "draw whatever digit their random code gives.",
    )
    # Django's FloatField already refuses "nan" and "inf" (not finite) and non-numbers.
    creativity = forms.FloatField(
        min_value=CREATIVITY_MIN,
        max_value=CREATIVITY_MAX,
        initial=CREATIVITY_DEFAULT,
        label="Creativity",
        help_text=CREATIVITY_HELP,
        widget=forms.NumberInput(
            attrs={
                "type": "range",
                "class": "form-range",
                "min": CREATIVITY_MIN,
                "max": CREATIVITY_MAX,
                "step": 0.1,
            }
        ),
        error_messages={
            "required": CREATIVITY_ERROR,
            "invalid": CREATIVITY_ERROR,
            "min_value": CREATIVITY_ERROR,
            "max_value": CREATIVITY_ERROR,
        },
    )
    seed = SeedField(
        required=False,
        widget=forms.HiddenInput,
        help_text="The preview's seed: the same seed makes the same image (empty: a new one).",
    )
    title = forms.CharField(
        max_length=200,
        required=False,
        strip=True,
        label="Title (optional)",
        widget=forms.TextInput(attrs={"class": "form-control", "placeholder": "AI Creation"}),
        help_text='Left empty, it is called "AI Creation" and the time.',
    )

    def clean(self) -> dict:
        """The chosen model must belong to the chosen method."""
        data = super().clean()
        check_record_method(self)
        return data


def style_artwork_message(first: GeneratedArtwork, second: GeneratedArtwork) -> str | None:
    """Why a style-studio variation cannot be morphed here, or None if neither is one."""
    styled = [a for a in (first, second) if a.generation_method == GenerationMethod.STYLE]
    if not styled:
        return None
    which = " and ".join(f"#{a.pk}" for a in styled)
    return (
        f"{which} {'is a variation' if len(styled) == 1 else 'are variations'} saved from the "
        "style studio, drawn by a style's own small VAE (a 16-number code), not by the "
        "gallery's digit models, so the gallery cannot morph "
        f"{'it' if len(styled) == 1 else 'them'}. Pick two artworks made by one digit model."
    )


def different_models_message(first: GeneratedArtwork, second: GeneratedArtwork) -> str | None:
    """Why two artworks of the same method still cannot be morphed, or None if they can.

    A method's latent codes all have one size; codes of different sizes come from different
    models (one of them trained with another latent size).
    """
    sizes = latent_size(first.latent_vector), latent_size(second.latent_vector)
    if None in sizes or sizes[0] == sizes[1]:
        return None
    return (
        f"These artworks come from different models: #{first.pk}'s latent code has {sizes[0]} "
        f"numbers and #{second.pk}'s has {sizes[1]} numbers, and only codes from one model can "
        "be morphed into each other."
    )


#: What the picker offers: artworks of the gallery's digit models (never style variations).
MORPHABLE = GeneratedArtwork.objects.exclude(generation_method=GenerationMethod.STYLE)
NOT_MORPHABLE = (
    "That artwork does not exist (any more), or is a style-studio variation, which the "
    "gallery cannot morph."
)


class ArtworkChoiceField(forms.ModelChoiceField):
    """A select of stored artworks labelled with id, title and method."""

    def label_from_instance(self, obj: GeneratedArtwork) -> str:
        return f"#{obj.pk} {obj.title} ({obj.generation_method})"


class InterpolatePickForm(forms.Form):
    """Two stored artworks made by the same method, to morph one into the other."""

    first = ArtworkChoiceField(
        queryset=MORPHABLE,
        label="From",
        widget=forms.Select(attrs={"class": "form-select"}),
        error_messages={
            "required": "Pick the artwork to start from.",
            "invalid_choice": NOT_MORPHABLE,
        },
    )
    second = ArtworkChoiceField(
        queryset=MORPHABLE,
        label="To",
        widget=forms.Select(attrs={"class": "form-select"}),
        error_messages={
            "required": "Pick the artwork to end with.",
            "invalid_choice": NOT_MORPHABLE,
        },
    )

    def clean(self) -> dict:
        """Both ends must come from the same model: their latent spaces differ otherwise."""
        data = super().clean()
        first, second = data.get("first"), data.get("second")
        if first and second and (message := style_artwork_message(first, second)):
            raise forms.ValidationError(message)
        if first and second and first.generation_method != second.generation_method:
            raise forms.ValidationError(
                f"Both artworks must be made by the same method: #{first.pk} is "
                f"{first.generation_method}, #{second.pk} is {second.generation_method}. "
                "Each model has its own latent space."
            )
        if first and second and (message := different_models_message(first, second)):
            raise forms.ValidationError(message)
        return data


class PreviewForm(forms.Form):
    """The query string of ``GET /generate/<METHOD>.png``: ``creativity``, ``seed``, ``digit``
    and ``model``, each optional but never empty or repeated (a URL is a recipe: it must mean
    one thing). ``method`` comes from the path."""

    MAX_FIELDS = 20
    FIELDS = ("creativity", "seed", "digit", "model")

    def __init__(self, data, method: str) -> None:
        super().__init__(data)
        self.method = method

    creativity = forms.FloatField(
        required=False,
        min_value=CREATIVITY_MIN,
        max_value=CREATIVITY_MAX,
        error_messages=dict.fromkeys(("invalid", "min_value", "max_value"), CREATIVITY_ERROR),
    )
    seed = SeedField(required=False)
    digit = DigitField()
    model = RecordField()

    def _given_empty(self, name: str) -> bool:
        return name in self.data and self.cleaned_data.get(name) is None

    def clean_creativity(self) -> float:
        """Absent: the default; present but empty: an error."""
        if self._given_empty("creativity"):
            raise forms.ValidationError(CREATIVITY_ERROR, code="invalid")
        value = self.cleaned_data.get("creativity")
        return CREATIVITY_DEFAULT if value is None else value

    def clean_seed(self) -> int | None:
        """Absent: a new random image; present but empty: an error."""
        if self._given_empty("seed"):
            raise forms.ValidationError(SEED_ERROR, code="invalid")
        return self.cleaned_data.get("seed")

    def clean_digit(self) -> int | None:
        """Absent: any digit; present but empty: an error."""
        if self._given_empty("digit"):
            raise forms.ValidationError(DIGIT_ERROR, code="invalid")
        return self.cleaned_data.get("digit")

    def clean_model(self):
        """Absent: the method's default model; present but empty: an error."""
        if self._given_empty("model"):
            raise forms.ValidationError(MODEL_ERROR, code="invalid")
        return self.cleaned_data.get("model")

    def clean(self) -> dict:
        """Refuse a query string with too many fields, or a field given twice."""
        data = super().clean()
        if sum(len(values) for _, values in self.data.lists()) > self.MAX_FIELDS:
            raise forms.ValidationError("The query string has too many fields.", code="fields")
        self.cleaned_data["method"] = self.method
        check_record_method(self)
        for name in self.FIELDS:
            count = len(self.data.getlist(name))
            if count > 1:
                raise forms.ValidationError(f"Give {name} once, not {count} times.", code="twice")
        return data


class ExploreForm(forms.Form):
    """How to flatten the latent space to 2-D: PCA (fast, linear) or t-SNE (clusters)."""

    method = forms.ChoiceField(
        choices=[("pca", "PCA"), ("tsne", "t-SNE")],
        required=False,
        label="Projection",
        widget=forms.Select(attrs={"class": "form-select"}),
        error_messages={"invalid_choice": "Projection must be 'pca' or 'tsne'."},
    )

    def clean_method(self) -> str:
        """Default to PCA when no projection is asked for."""
        return self.cleaned_data.get("method") or PROJECTIONS[0]
