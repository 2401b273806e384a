"""Server-rendered HTML pages in English and Japanese, shared by the seller's web app and the sandbox's buyer
console: a Jinja2 environment per template package, the page's language (?lang=, then a remembered choice, then
Accept-Language), its gettext catalog, the security headers, and the remembered language cookie.

Each side keeps its own templates and catalog and says which headers its pages carry; this module imports only
Jinja2, Babel (through ``mplink.i18n``) and Starlette, so the sandbox can use it without the seller's code.
"""

from __future__ import annotations

import secrets
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlencode

from jinja2 import Environment, PackageLoader, StrictUndefined, pass_context, select_autoescape
from jinja2.runtime import Context
from markupsafe import Markup, escape
from starlette.requests import Request
from starlette.responses import HTMLResponse

from mplink.i18n import LANG_COOKIE, SUPPORTED, choose_language, local_time, translations

#: a language chosen once with ?lang= sticks for a year, across POST-redirect-GET and new tabs
COOKIE_MAX_AGE = 365 * 24 * 3600

Gettext = Callable[[str], str]


def N_(message: str) -> str:
    """Mark a message for translation where it is defined (gettext's N_); it is translated when rendered."""
    return message


def time_element(at: datetime | None, lang: str) -> Markup:
    """``<time>`` showing ``at`` in the viewer's time zone, with UTC on hover; "" for none."""
    if at is None:
        return Markup("")
    utc = (at if at.tzinfo is not None else at.replace(tzinfo=UTC)).astimezone(UTC)
    return Markup('<time datetime="{}" title="{}">{}</time>').format(
        utc.strftime("%Y-%m-%dT%H:%M:%SZ"), local_time(utc, "en"), escape(local_time(utc, lang))
    )


@pass_context
def _time_filter(context: Context, value: object) -> Markup:
    """``{{ moment|time }}``: a datetime, or anything with an ``at`` datetime, as a ``<time>`` element."""
    at = value if isinstance(value, datetime) or value is None else getattr(value, "at", None)
    return time_element(at, context.get("lang", "en"))


def template_environment(package: str) -> Environment:
    """``package``'s ``templates/`` folder, autoescaped, failing loudly on a missing variable; ``|time`` shows a
    time in the page's language's time zone."""
    env = Environment(
        loader=PackageLoader(package, "templates"),
        autoescape=select_autoescape(default=True, default_for_string=True),
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters["time"] = _time_filter
    return env


def language_urls(request: Request) -> dict[str, str]:
    """This page in each language: the same path and query, with ``lang`` set."""
    query = [(k, v) for k, v in request.query_params.multi_items() if k != "lang"]
    return {code: f"{request.url.path}?{urlencode([*query, ('lang', code)])}" for code in SUPPORTED}


@dataclass(frozen=True)
class Renderer:
    """Renders one side's templates in the visitor's language, with that side's headers.

    ``headers`` gets the page's fresh nonce (for a Content-Security-Policy that allows only the page's own
    scripts and styles) and answers the response headers. With ``session_language`` the language is also
    remembered in (and read from) the session, when the app has one.
    """

    package: str
    locale_dir: str
    domain: str
    headers: Callable[[str], Mapping[str, str]]
    session_language: bool = False
    env: Environment = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "env", template_environment(self.package))

    def _has_session(self, request: Request) -> bool:
        return self.session_language and "session" in request.scope

    def language(self, request: Request) -> tuple[str, bool]:
        """The page's language, and whether ?lang= chose it (then it is remembered)."""
        asked = request.query_params.get("lang")
        remembered = request.cookies.get(LANG_COOKIE)
        if remembered is None and self._has_session(request):
            remembered = request.session.get("lang")
        lang = choose_language(asked, remembered, request.headers.get("accept-language"))
        return lang, asked in SUPPORTED

    def gettext(self, request: Request) -> Gettext:
        """The catalog's gettext for the page's language."""
        return translations(self.locale_dir, self.domain, self.language(request)[0]).gettext

    def render(self, request: Request, template: str, *, status: int = 200, **context: Any) -> HTMLResponse:
        """The template with ``_``, ``lang``, ``lang_urls`` and ``nonce`` besides ``context``."""
        lang, explicit = self.language(request)
        nonce = secrets.token_urlsafe(18)
        html = self.env.get_template(template).render(
            _=translations(self.locale_dir, self.domain, lang).gettext,
            lang=lang,
            lang_urls=language_urls(request),
            nonce=nonce,
            **context,
        )
        response = HTMLResponse(html, status_code=status, headers=dict(self.headers(nonce)))
        if explicit:
            response.set_cookie(LANG_COOKIE, lang, max_age=COOKIE_MAX_AGE, path="/", samesite="lax", httponly=True)
            if self._has_session(request):
                request.session["lang"] = lang
        return response
