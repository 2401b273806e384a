"""Japanese and English for pages: gettext catalogs (.po) read with Babel, and the page's language chosen
from ?lang=, a cookie, or Accept-Language."""

from __future__ import annotations

import io
from datetime import UTC, datetime
from functools import cache
from pathlib import Path
from zoneinfo import ZoneInfo

from babel import Locale, UnknownLocaleError
from babel.core import negotiate_locale
from babel.dates import format_datetime
from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po
from babel.support import NullTranslations, Translations

SUPPORTED = ("en", "ja")
DEFAULT = "en"
LANG_COOKIE = "mplink_lang"
#: the time zone a page shows times in, by its language: a Japanese browser reads Japan's time; anyone else UTC
#: (a browser tells its language, not its zone)
TIME_ZONES = {"ja": "Asia/Tokyo"}
TIME_PATTERN = "yyyy-MM-dd HH:mm zzz"


def local_time(at: datetime, lang: str) -> str:
    """``at`` to the minute in the time zone of ``lang``'s viewers, with the zone's short name (JST, UTC)."""
    aware = at if at.tzinfo is not None else at.replace(tzinfo=UTC)
    zone = ZoneInfo(TIME_ZONES.get(lang, "UTC"))
    return format_datetime(aware, TIME_PATTERN, tzinfo=zone, locale=lang if lang in SUPPORTED else DEFAULT)


@cache
def translations(locale_dir: str, domain: str, lang: str) -> NullTranslations:
    """The catalog ``locale_dir/<lang>/LC_MESSAGES/<domain>.po``, compiled in memory; English is the msgids."""
    po = Path(locale_dir) / lang / "LC_MESSAGES" / f"{domain}.po"
    if lang == DEFAULT or not po.exists():
        return NullTranslations()
    with po.open("rb") as fh:
        catalog = read_po(fh, locale=lang, domain=domain)
    buf = io.BytesIO()
    write_mo(buf, catalog)
    buf.seek(0)
    return Translations(fp=buf, domain=domain)


def parse_accept_language(header: str | None) -> list[str]:
    """Languages in the header, best first (q-values honoured)."""
    items: list[tuple[float, int, str]] = []
    for i, part in enumerate((header or "").split(",")):
        lang, _, params = part.strip().partition(";")
        if not lang or lang == "*":
            continue
        q = 1.0
        if params.strip().startswith("q="):
            try:
                q = float(params.strip()[2:])
            except ValueError:
                q = 0.0
        items.append((-q, i, lang.replace("-", "_")))
    return [lang for _, _, lang in sorted(items)]


def choose_language(query: str | None, cookie: str | None, accept_language: str | None) -> str:
    for explicit in (query, cookie):
        if explicit in SUPPORTED:
            return explicit
    found = negotiate_locale(parse_accept_language(accept_language), list(SUPPORTED), sep="_")
    if found:
        return found.split("_")[0]
    for lang in parse_accept_language(accept_language):
        try:
            base = Locale.parse(lang).language
        except (ValueError, UnknownLocaleError):
            continue
        if base in SUPPORTED:
            return base
    return DEFAULT
