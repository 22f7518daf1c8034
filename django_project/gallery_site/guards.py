"""Request guards shared by the three apps' views: allowed methods and unreadable bodies.

Django's ``require_http_methods`` answers a wrong method with an empty 405, and a body that
cannot be parsed (too large, too many fields or files, broken multipart) surfaces as a bare
"Bad Request (400)" page. Fetch callers then get no JSON to show and people get no reason.
:func:`allow` answers both in words, as JSON for the endpoints that scripts call.
"""

from __future__ import annotations

import functools
from collections.abc import Callable

from django.conf import settings
from django.core.exceptions import RequestDataTooBig, TooManyFieldsSent, TooManyFilesSent
from django.http import HttpRequest, HttpResponse, JsonResponse, UnreadablePostError
from django.http.multipartparser import MultiPartParserError
from django.shortcuts import render
from django.utils.log import log_response

__all__ = ["allow", "error_response"]

View = Callable[..., HttpResponse]


def error_response(
    request: HttpRequest, message: str, status: int, *, json: bool, title: str = ""
) -> HttpResponse:
    """A 4xx/5xx that says what is wrong: ``{"success": false, "error": ...}`` or a page."""
    if json:
        return JsonResponse({"success": False, "error": message}, status=status)
    context = {"title": title or "That did not work", "message": message}
    return render(request, "error.html", context, status=status)


def _body_error(request: HttpRequest) -> str | None:
    """Parse the POST body now; return why it cannot be read, or None when it is fine."""
    try:
        request.POST  # noqa: B018 (parsing is the point)
        request.FILES  # noqa: B018
    except RequestDataTooBig:
        limit = settings.DATA_UPLOAD_MAX_MEMORY_SIZE / 2**20
        return f"The request is too large: form fields may hold {limit:g} MB at most."
    except TooManyFieldsSent:
        limit = settings.DATA_UPLOAD_MAX_NUMBER_FIELDS
        return f"The request has too many form fields (at most {limit})."
    except TooManyFilesSent:
        limit = settings.DATA_UPLOAD_MAX_NUMBER_FILES
        return f"The request has too many files (at most {limit})."
    except MultiPartParserError as error:
        return f"The upload could not be read ({error}); send it again from the form."
    except UnreadablePostError:
        return "The request body could not be read (was the connection cut?); try again."
    return None


def allow(
    *methods: str, json: bool | Callable[[HttpRequest], bool] = False
) -> Callable[[View], View]:
    """Serve only ``methods`` (GET implies HEAD); refuse others and unreadable bodies in words.

    ``json=True`` makes every refusal a JSON error, for the endpoints that pages call with
    fetch() and read ``error`` from; a function of the request decides per request.
    """
    allowed = list(methods) + (["HEAD"] if "GET" in methods and "HEAD" not in methods else [])

    def decorator(view: View) -> View:
        @functools.wraps(view)
        def guarded(request: HttpRequest, *args: object, **kwargs: object) -> HttpResponse:
            as_json = json(request) if callable(json) else json
            if request.method not in allowed:
                message = (
                    f"{request.method} is not allowed here; this address accepts "
                    f"{' and '.join(allowed)}."
                )
                response = error_response(
                    request, message, 405, json=as_json, title="Method not allowed"
                )
                response["Allow"] = ", ".join(allowed)
                log_response(
                    "Method Not Allowed (%s): %s",
                    request.method,
                    request.path,
                    response=response,
                    request=request,
                )
                return response
            if request.method == "POST" and (problem := _body_error(request)) is not None:
                return error_response(request, problem, 400, json=as_json, title="Bad request")
            return view(request, *args, **kwargs)

        return guarded

    return decorator
