"""Rendering of the banner, the preferences page, the cookie policy and embed placeholders.

The only module that knows Jinja. Operators override any template file by file: their
directories come first in a ChoiceLoader, the shipped templates last.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from functools import lru_cache
from pathlib import Path
from typing import Any

from jinja2 import ChoiceLoader, Environment, FileSystemLoader, StrictUndefined, select_autoescape
from markupsafe import Markup

from consent import names
from consent.i18n import Locale

# Markers replaced per request in a cached rendering: a cache per locale and state is cheap,
# a Jinja render per request is not.
CSRF_MARKER = "__consent_csrf_token__"
NEXT_MARKER = "__consent_next_path__"
NONCE_MARKER = "__consent_csp_nonce__"
HELD_MARKER = "__consent_held_marker__"
CONSENT_ID_MARKER = "__consent_id_marker__"


def shipped_templates_dir() -> Path:
    """Inside an installed wheel the templates sit in the package; in a checkout, beside it."""
    package_dir = Path(__file__).resolve().parent
    for candidate in (package_dir / "templates", package_dir.parent / "templates"):
        if (candidate / "consent" / "banner.html").is_file():
            return candidate
    raise FileNotFoundError("the consent templates are missing from this installation")


class Templates:
    def __init__(self, operator_dirs: Sequence[Path] = ()) -> None:
        loaders = [FileSystemLoader(str(d)) for d in operator_dirs]
        loaders.append(FileSystemLoader(str(shipped_templates_dir())))
        self._env = Environment(
            loader=ChoiceLoader(loaders),
            autoescape=select_autoescape(default=True, default_for_string=True),
            undefined=StrictUndefined,
            trim_blocks=True,
            lstrip_blocks=True,
            auto_reload=False,
        )
        self._env.globals["names"] = names
        self._env.filters["tojson_attr"] = _json_attribute

    def render(self, name: str, **context: Any) -> str:
        return self._env.get_template(name).render(**context)


def _json_attribute(value: object) -> Markup:
    # Autoescaping turns the quotes into &#34;, which is what an HTML attribute needs.
    return Markup.escape(json.dumps(value, separators=(",", ":"), ensure_ascii=False))


class TextLookup:
    """`t("banner.title")` in templates, with placeholders filled and missing keys loud."""

    def __init__(
        self, locale: Locale, category_texts: Mapping[str, Mapping[str, Mapping[str, str]]]
    ):
        self._locale = locale
        self._category_texts = category_texts

    def __call__(self, key: str, **params: str) -> str:
        return self._locale.text(key, **params)

    def category(self, category_id: str, field: str) -> str:
        own = self._category_texts.get(category_id, {})
        for tag in (self._locale.tag, self._locale.tag.split("-")[0], "en"):
            if tag in own and field in own[tag]:
                return own[tag][field]
        return self._locale.text(f"categories.{category_id}.{field}")


@lru_cache(maxsize=16)
def css_custom_properties(theme: tuple[tuple[str, str], ...]) -> str:
    return "".join(f"{prop}:{value};" for prop, value in theme)
