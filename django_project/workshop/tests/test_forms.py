"""TrainModelForm: the bounds the page and the API share."""

from __future__ import annotations

import pytest

from workshop.forms import TrainModelForm


def test_a_good_request_is_cleaned_to_numbers_and_the_default_dataset() -> None:
    form = TrainModelForm({"kind": "vae", "epochs": "12", "batch_size": "256"})
    assert form.is_valid(), form.errors
    assert form.cleaned_data == {
        "kind": "vae",
        "epochs": 12,
        "batch_size": 256,
        "dataset": "mnist5k",
        "name": "",
    }


@pytest.mark.parametrize(
    ("field", "value", "says"),
    [
        ("epochs", "51", "at most 50 epochs"),
        ("epochs", "0", "at least 1 epoch"),
        ("batch_size", "8", "not an offered batch size"),
        ("batch_size", "1024", "not an offered batch size"),
        ("kind", "flow", "not a kind of model"),
        ("dataset", "mnist", "not an offered dataset"),
    ],
)
def test_out_of_bounds_values_are_refused_with_a_message(field, value, says) -> None:
    data = {"kind": "gan", "epochs": "10", "batch_size": "64", field: value}
    form = TrainModelForm(data)
    assert not form.is_valid()
    assert says in " ".join(form.errors[field])
