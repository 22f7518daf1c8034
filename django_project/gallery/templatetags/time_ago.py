"""``{{ moment|ago }}``: "just now" or "5 minutes ago", for every app's lists of recent things.

Django's ``timesince`` says "0 minutes" for anything under a minute, which reads like a bug
next to a thing the visitor has just made.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from django import template
from django.utils import timezone
from django.utils.timesince import timesince

register = template.Library()

JUST_NOW = timedelta(minutes=1)


@register.filter
def ago(moment: datetime | None, now: datetime | None = None) -> str:
    """How long ago ``moment`` was, in words; under a minute (or in the future) is "just now"."""
    if moment is None:
        return ""
    now = now or timezone.now()
    if now - moment < JUST_NOW:
        return "just now"
    return f"{timesince(moment, now)} ago"
