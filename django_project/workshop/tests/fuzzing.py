"""The site's fuzz-test helpers, imported in one place (they move out of the gallery app soon)."""

from gallery.tests.fuzzing import (
    assert_method_not_allowed,
    assert_refused,
    describe,
    fuzz_settings,
    hostile_text,
    snapshot,
)

__all__ = [
    "assert_method_not_allowed",
    "assert_refused",
    "describe",
    "fuzz_settings",
    "hostile_text",
    "snapshot",
]
