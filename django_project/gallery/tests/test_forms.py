"""Form validation: only the three methods and a finite creativity from 0.1 to 2.0 get through."""

from __future__ import annotations

import pytest

from gallery.forms import CreateArtworkForm, ExploreForm, InterpolatePickForm


@pytest.mark.parametrize("method", ["VAE", "GAN", "AUTOENCODER"])
@pytest.mark.parametrize("creativity", ["0.1", "1", "1.0", "2.0", " 1.5 "])
def test_valid_create_input(method, creativity):
    form = CreateArtworkForm({"method": method, "creativity": creativity})
    assert form.is_valid(), form.errors
    assert form.cleaned_data["creativity"] == pytest.approx(float(creativity))
    assert form.cleaned_data["title"] == ""


@pytest.mark.parametrize(
    "creativity",
    ["nan", "NaN", "inf", "-inf", "Infinity", "abc", "", "1,5", "0.09", "0", "-1", "2.01", "1e9"],
)
def test_invalid_creativity(creativity):
    form = CreateArtworkForm({"method": "VAE", "creativity": creativity})
    assert not form.is_valid()
    assert form.errors["creativity"] == ["Creativity must be a number from 0.1 to 2.0."]


@pytest.mark.parametrize("method", ["", "vae", "DIFFUSION", "VAE ", "<script>"])
def test_invalid_method(method):
    form = CreateArtworkForm({"method": method, "creativity": "1.0"})
    assert not form.is_valid()
    assert "method" in form.errors and "creativity" not in form.errors
    assert "VAE, GAN, AUTOENCODER, FLOW" in form.errors["method"][0]


def test_title_is_limited_to_200_characters():
    form = CreateArtworkForm({"method": "GAN", "creativity": "1", "title": "x" * 201})
    assert not form.is_valid() and "title" in form.errors


def test_creativity_widget_is_a_documented_range():
    html = str(CreateArtworkForm()["creativity"])
    for attribute in ('type="range"', 'min="0.1"', 'max="2.0"', 'step="0.1"', 'value="1.0"'):
        assert attribute in html


@pytest.mark.parametrize(("query", "expected"), [({}, "pca"), ({"method": "tsne"}, "tsne")])
def test_explore_form_defaults_to_pca(query, expected):
    form = ExploreForm(query)
    assert form.is_valid() and form.cleaned_data["method"] == expected


def test_explore_form_rejects_unknown_projection():
    form = ExploreForm({"method": "umap"})
    assert not form.is_valid() and "pca" in form.errors["method"][0]


@pytest.mark.django_db
def test_pick_form_needs_the_same_method(make_artwork):
    vae_a, vae_b, gan = make_artwork("VAE"), make_artwork("VAE", seed=1), make_artwork("GAN")
    assert InterpolatePickForm({"first": vae_a.pk, "second": vae_b.pk}).is_valid()
    mixed = InterpolatePickForm({"first": vae_a.pk, "second": gan.pk})
    assert not mixed.is_valid()
    assert "same method" in mixed.non_field_errors()[0]
    missing = InterpolatePickForm({"first": vae_a.pk, "second": 999_999})
    assert not missing.is_valid() and "does not exist" in missing.errors["second"][0]
