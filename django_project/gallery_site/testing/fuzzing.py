"""Shared tools for the fuzz tests of the three apps.

Hypothesis profiles, a vocabulary of hostile values, raw request helpers and the checks every
refused request must pass: a 4xx (never a 5xx) whose body says what is wrong, and no new row
in any table and no new file under MEDIA_ROOT (a half-done request would leave one).

The ``fuzz`` profile (the default) keeps the suite fast on a 2-core machine; set
``DJANGO_FUZZ_PROFILE=fuzz-thorough`` for ten times as many examples. Both are derandomized,
so CI tests the same examples on every run, and keep no example database in the repository.
"""

from __future__ import annotations

import html
import json
import os
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlencode

from django.apps import apps
from django.conf import settings as django_settings
from django.http import HttpResponse, QueryDict
from django.test import Client
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st

_COMMON = {
    "deadline": None,  # a first request loads a model or encodes the latent map
    "derandomize": True,  # the same examples on every run: CI is reproducible
    "database": None,  # no .hypothesis/ folder in the repository
    "print_blob": True,
    # The db and media fixtures are per test, not per example: each example checks its own
    # before/after state, so sharing them is intended.
    "suppress_health_check": [
        HealthCheck.function_scoped_fixture,
        HealthCheck.too_slow,
        HealthCheck.data_too_large,
    ],
}
settings.register_profile("fuzz", max_examples=40, **_COMMON)
settings.register_profile("fuzz-thorough", max_examples=400, **_COMMON)
PROFILE = os.environ.get("DJANGO_FUZZ_PROFILE", "fuzz")
SCALE = 10 if PROFILE == "fuzz-thorough" else 1


def fuzz_settings(max_examples: int) -> settings:
    """The active profile with ``max_examples`` (times ten in the thorough profile)."""
    return settings(settings.get_profile(PROFILE), max_examples=max_examples * SCALE)


ALL_METHODS = ("GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS", "TRACE")

#: Text that has broken web apps before: numbers Python parses but JSON cannot hold, numbers
#: too big for any column, markup, SQL, paths, control and unusual Unicode characters.
HOSTILE_STRINGS = (
    "",
    " ",
    "\t\r\n",
    "0",
    "-0",
    "-1",
    "1e309",
    "-1e309",
    "1e-400",
    "nan",
    "NaN",
    "-nan",
    "inf",
    "-Infinity",
    "9" * 30,
    "-" + "9" * 30,
    "9" * 5000,  # past Python's int-from-text digit limit
    "0x1F",
    "1_0",
    "1,5",
    "1.5.5",
    "\uff11",  # fullwidth 1: Python's float() accepts it
    "\u0663",  # Arabic-Indic 3
    "\u00b2",  # superscript 2: isdigit() but not a number
    "None",
    "null",
    "true",
    "[]",
    "{}",
    '{"a": 1}',
    "'; DROP TABLE gallery_generatedartwork; --",
    "<script>alert(1)</script>",
    "{{ 7*7 }}",
    "../../../../etc/passwd",
    "a\x00b",
    "\x00",
    "\u202egnp.exe",
    "\u200b",
    "e\u0301" * 50,
    "\U0001f3a8" * 300,
    "x" * 10_000,
)

hostile_text = st.one_of(
    st.sampled_from(HOSTILE_STRINGS),
    st.text(max_size=60),
    st.floats(allow_nan=True, allow_infinity=True).map(repr),
    st.integers(min_value=-(10**40), max_value=10**40).map(str),
)


def field_value(valid: Sequence[str]) -> st.SearchStrategy[str]:
    """Mostly valid values for one field, often hostile ones."""
    return st.one_of(st.sampled_from(list(valid)), hostile_text)


def form_pairs(
    fields: dict[str, st.SearchStrategy[str]],
    valid: dict[str, st.SearchStrategy[str]] | None = None,
) -> st.SearchStrategy:
    """Form data as (name, value) pairs: each field missing, once, or sent twice (duplicates).

    With ``valid`` (a strategy of good values per field), a third of the examples are a valid
    form and a third a valid form with exactly one field dropped, repeated or made hostile:
    the near misses a fully random form almost never hits.
    """

    def pairs_for(name: str, values: st.SearchStrategy[str]) -> st.SearchStrategy:
        return st.lists(values, min_size=0, max_size=2).map(lambda vs: [(name, v) for v in vs])

    extra = st.lists(st.tuples(st.text(max_size=10), hostile_text), max_size=2)
    parts = [pairs_for(name, values) for name, values in fields.items()] + [extra]
    anything = st.tuples(*parts).map(lambda groups: [pair for group in groups for pair in group])
    if valid is None:
        return anything

    good = st.fixed_dictionaries(valid).map(lambda values: list(values.items()))

    @st.composite
    def near_miss(draw: st.DrawFn) -> list[tuple[str, str]]:
        pairs = draw(good)
        index = draw(st.integers(min_value=0, max_value=len(pairs) - 1))
        name, value = pairs[index]
        change = draw(st.sampled_from(["drop", "repeat", "hostile"]))
        if change == "drop":
            del pairs[index]
        elif change == "repeat":
            pairs.append((name, draw(fields.get(name, hostile_text))))
        else:
            pairs[index] = (name, draw(hostile_text))
        return pairs

    return st.one_of(anything, good, near_miss())


def urlencoded(pairs: Iterable[tuple[str, str]]) -> str:
    """A form body exactly as a browser sends it (repeated names kept)."""
    return urlencode(list(pairs))


def post_form(client: Client, url: str, pairs: Iterable[tuple[str, str]], **extra) -> HttpResponse:
    """POST url-encoded pairs; the same bytes the views parse (see :func:`as_querydict`)."""
    return client.generic(
        "POST", url, urlencoded(pairs), content_type="application/x-www-form-urlencoded", **extra
    )


def as_querydict(pairs: Iterable[tuple[str, str]]) -> QueryDict:
    """The QueryDict a view sees for these pairs (the oracle feeds it to the same form)."""
    return QueryDict(urlencoded(pairs))


# --- state before and after a request -------------------------------------------------------

WATCHED_APPS = ("gallery", "patterns", "styles", "workshop", "django_tasks_database")


@dataclass(frozen=True)
class State:
    """Row counts of every model in the project's apps and every file under MEDIA_ROOT."""

    rows: tuple[tuple[str, int], ...]
    files: frozenset[str]

    def row_count(self, label: str) -> int:
        return dict(self.rows)[label]


def snapshot() -> State:
    """What a request could leave behind: rows in any table, files under MEDIA_ROOT."""
    rows = []
    for app in WATCHED_APPS:
        for model in apps.get_app_config(app).get_models():
            rows.append((model._meta.label, model._default_manager.count()))
    root = Path(django_settings.MEDIA_ROOT)
    files = (
        frozenset(str(path.relative_to(root)) for path in root.rglob("*") if path.is_file())
        if root.exists()
        else frozenset()
    )
    return State(rows=tuple(rows), files=files)


def describe(response: HttpResponse) -> str:
    """Status and the start of the body, for assertion messages."""
    body = b"" if getattr(response, "streaming", False) else response.content
    return f"{response.status_code} {body[:400]!r}"


# --- what an error response must look like --------------------------------------------------

_MESSAGE_BLOCKS = re.compile(
    r'<div class="(?:invalid-feedback[^"]*|alert[^"]*)"[^>]*>(.*?)</div>', re.S
)


def json_error_text(response: HttpResponse) -> str:
    """The error message(s) of a JSON error response, flattened to one string."""
    assert response["Content-Type"].startswith("application/json"), describe(response)
    data = response.json()
    assert data.get("success", False) is False, data
    message = data.get("error") or data.get("errors")
    if isinstance(message, dict):
        message = " ".join(m for messages in message.values() for m in messages)
    assert isinstance(message, str) and message.strip(), f"no error message in {data}"
    return message


def html_error_text(response: HttpResponse) -> str:
    """The visible error messages of an HTML error page (Bootstrap alerts, field errors)."""
    assert response["Content-Type"].startswith("text/html"), describe(response)
    blocks = _MESSAGE_BLOCKS.findall(response.content.decode())
    text = " ".join(re.sub(r"<[^>]+>", " ", block) for block in blocks)
    text = html.unescape(" ".join(text.split()))
    assert text, f"no visible error message in {describe(response)}"
    return text


def assert_refused(
    response: HttpResponse,
    before: State,
    *,
    json: bool,
    status: int | Sequence[int] | None = None,
    says: Iterable[str] = (),
) -> str:
    """A 4xx with a message (JSON or HTML), nothing stored; ``says`` must be in the message.

    ``status`` narrows the code; it may name a 503 (a model that cannot be loaded), the one
    5xx the site answers on purpose.
    """
    allowed = (status,) if isinstance(status, int) else status
    if allowed:
        assert response.status_code in allowed, describe(response)
    else:
        assert 400 <= response.status_code < 500, describe(response)
    message = json_error_text(response) if json else html_error_text(response)
    if json:
        for part in says:
            assert part in message, f"{part!r} not in {message!r}"
    else:
        assert_shows(message, says)
    assert snapshot() == before, "a refused request changed the database or MEDIA_ROOT"
    return message


def assert_method_not_allowed(
    client: Client, url: str, allowed: Sequence[str], *, json: bool
) -> list[str]:
    """Every other HTTP method gets a 405 naming the allowed ones (header and body)."""
    refused = []
    for method in ALL_METHODS:
        if method in allowed:
            continue
        before = snapshot()
        response = client.generic(method, url)
        assert response.status_code == 405, f"{method} {url}: {describe(response)}"
        assert set(response["Allow"].replace(" ", "").split(",")) == set(allowed), (
            method,
            response["Allow"],
        )
        if method != "HEAD":  # a HEAD answer has no body by definition
            body = json_error_text(response) if json else response.content.decode()
            assert method in body and all(m in body for m in allowed), body
        assert snapshot() == before
        refused.append(method)
    return refused


def form_messages(form) -> list[str]:
    """Every message a bound, invalid form produced (what the page must show)."""
    return [message for messages in form.errors.values() for message in messages]


def assert_shows(message: str, expected: Iterable[str]) -> None:
    """Each expected message is part of the shown one (HTML collapses runs of whitespace)."""
    for part in expected:
        part = " ".join(part.split())
        assert part in message, f"{part!r} not in {message!r}"


def json_dumps(value: object) -> str:
    return json.dumps(value)
