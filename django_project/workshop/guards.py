"""The site's request guards, imported in one place (they move to gallery_site/ soon)."""

from gallery.guards import allow, error_response

__all__ = ["allow", "error_response"]
