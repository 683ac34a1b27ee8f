"""The locale catalogue: banner texts per language, and which language a visitor gets.

Every locale is one TOML file of flat tables (``[banner]``, ``[categories.analytics]``, ...).
English is the reference: every shipped locale has exactly its keys and, in each text, the
same ``{placeholders}``. Operators add or override texts in their own TOML files or in the
configuration; whatever they leave out falls back to the shipped text of that locale, then to
the default locale.
"""

from __future__ import annotations

import hashlib
import json
import re
import string
import tomllib
from collections import Counter
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from types import MappingProxyType

from consent.errors import ConsentError

__all__ = [
    "Locale",
    "LocaleCatalogue",
    "LocaleError",
    "canonical_tag",
    "parse_accept_language",
    "placeholders",
    "shipped_locales_dir",
]

REFERENCE_TAG = "en"
DIRECTIONS = frozenset({"ltr", "rtl"})

# Bounds on what a visitor's header can cost us: it is parsed on every request.
MAX_HEADER_CHARS = 4096
MAX_ENTRIES = 32
MAX_TAG_CHARS = 64

_TAG_RE = re.compile(r"[a-z]{1,8}(?:-[a-z0-9]{1,8})*")
_Q_RE = re.compile(r"[qQ][ \t]*=[ \t]*(0(?:\.[0-9]{0,3})?|1(?:\.0{0,3})?)")
_CATEGORY_KEY_RE = re.compile(r"categories\.[a-z0-9][a-z0-9_-]*\.(?:title|description)")
_IDENTIFIER_RE = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")

# Tags a browser or page may send that our files spell differently. Region and script
# subtags not listed here fall away one by one (``de-AT`` -> ``de``), so only the cases where
# that would pick the wrong locale, or find none, need an entry.
_ALIASES: Mapping[str, str] = {
    "zh": "zh-Hans",
    "zh-cn": "zh-Hans",
    "zh-sg": "zh-Hans",
    "zh-my": "zh-Hans",
    "zh-tw": "zh-Hant",
    "zh-hk": "zh-Hant",
    "zh-mo": "zh-Hant",
    "no": "nb",
    "nn": "nb",
    "iw": "he",  # withdrawn ISO 639 codes still sent by old systems
    "in": "id",
    "mo": "ro",
}


class LocaleError(ConsentError, ValueError):
    """A locale file, override or text request that cannot be honoured."""


def shipped_locales_dir() -> Path:
    """The directory of the locale files that come with the package."""
    return Path(__file__).parent / "locales"


def canonical_tag(tag: str) -> str:
    """Spell a language tag the usual way: ``pt_br`` -> ``pt-BR``, ``ZH-hant`` -> ``zh-Hant``."""
    parts = tag.strip().replace("_", "-").split("-")
    out = [parts[0].lower()]
    for part in parts[1:]:
        if len(part) == 4 and part.isalpha():
            out.append(part.title())
        elif (len(part) == 2 and part.isalpha()) or (len(part) == 3 and part.isdigit()):
            out.append(part.upper())
        else:
            out.append(part.lower())
    return "-".join(out)


def _normalise(tag: str, *, posix: bool = False) -> str | None:
    """Lower-cased, hyphenated form of a tag, or None when it is not a plausible tag.

    With ``posix``, a POSIX locale name's codeset and modifier are dropped first
    (``de_AT.UTF-8`` -> ``de-at``): such names reach ``match`` from operators' resolvers.
    """
    if len(tag) > MAX_TAG_CHARS:
        return None
    if posix:
        tag = re.split(r"[.@]", tag, maxsplit=1)[0]
    norm = tag.strip().replace("_", "-").lower()
    return norm if _TAG_RE.fullmatch(norm) else None


# --- texts and placeholders -------------------------------------------------------------


def _pieces(text: str) -> list[tuple[str, str | None]]:
    """(literal text, placeholder name or None) pairs; LocaleError for a malformed field.

    Only plain names are fields: no attribute access, indexing, conversion or format spec,
    because texts come from configuration and must not reach into the values given.
    """
    try:
        parsed = list(string.Formatter().parse(text))
    except ValueError as exc:
        raise LocaleError(f"malformed placeholder ({exc})") from exc
    pieces: list[tuple[str, str | None]] = []
    for literal, name, spec, conversion in parsed:
        if name is not None and (not _IDENTIFIER_RE.fullmatch(name) or spec or conversion):
            raise LocaleError(f"malformed placeholder {{{name}}}")
        pieces.append((literal, name))
    return pieces


def placeholders(text: str) -> Counter[str]:
    """The placeholder names in a text, with how often each occurs (LocaleError if malformed)."""
    return Counter(name for _literal, name in _pieces(text) if name is not None)


def _fill(text: str, params: Mapping[str, str]) -> str:
    out: list[str] = []
    for literal, name in _pieces(text):
        out.append(literal)
        if name is None:
            continue
        if name not in params:
            raise LocaleError(f"missing value for placeholder {{{name}}}")
        out.append(str(params[name]))
    return "".join(out)


@dataclass(frozen=True)
class Locale:
    """The complete texts of one language, as shown to a visitor."""

    tag: str
    name: str
    dir: str
    texts: Mapping[str, str] = field(hash=False)

    def text(self, key: str, **params: str) -> str:
        """The text for ``key`` with its ``{placeholders}`` filled from ``params``.

        Returns plain text: escaping for HTML is the template's job.
        """
        try:
            raw = self.texts[key]
        except KeyError:
            raise LocaleError(f"no text {key!r} in locale {self.tag!r}") from None
        try:
            return _fill(raw, params)
        except LocaleError as exc:
            raise LocaleError(f"{self.tag}: {key}: {exc}") from None

    def texts_hash(self) -> str:
        """SHA-256 (hex) of exactly the texts this locale shows, independent of load order."""
        cached: str | None = self.__dict__.get("_texts_hash")
        if cached is None:
            canonical = json.dumps(
                sorted(self.texts.items()), ensure_ascii=False, separators=(",", ":")
            )
            cached = hashlib.sha256(canonical.encode("utf-8")).hexdigest()
            # Frozen: the digest is derived data, so it may be stored behind the dataclass.
            object.__setattr__(self, "_texts_hash", cached)
        return cached


# --- reading files and overrides --------------------------------------------------------


@dataclass
class _Layer:
    """What one source (a file or the overrides) says about one tag."""

    source: str
    meta: dict[str, str]
    texts: dict[str, str]


def _flatten(data: Mapping[str, object], source: str, prefix: str = "") -> dict[str, str]:
    flat: dict[str, str] = {}
    for key, value in data.items():
        if not isinstance(key, str) or not key:
            raise LocaleError(f"{source}: keys must be non-empty strings, got {key!r}")
        dotted = f"{prefix}{key}"
        if isinstance(value, Mapping):
            flat.update(_flatten(value, source, f"{dotted}."))
        elif isinstance(value, str):
            flat[dotted] = value
        else:
            raise LocaleError(f"{source}: {dotted} must be a string, got {type(value).__name__}")
    return flat


def _layer(data: Mapping[str, object], source: str) -> _Layer:
    flat = _flatten(data, source)
    meta = {k.removeprefix("meta."): v for k, v in flat.items() if k.startswith("meta.")}
    texts = {k: v for k, v in flat.items() if not k.startswith("meta.")}
    return _Layer(source, meta, texts)


def _read_file(path: Path, source: str) -> _Layer:
    try:
        with path.open("rb") as fh:
            data = tomllib.load(fh)
    except (OSError, tomllib.TOMLDecodeError) as exc:
        raise LocaleError(f"{source}: cannot read locale file: {exc}") from exc
    return _layer(data, source)


def _tag_of(name: str, source: str) -> str:
    if _normalise(name) is None:
        raise LocaleError(f"{source}: {name!r} is not a language tag")
    return canonical_tag(name)


def _read_dir(directory: Path) -> dict[str, _Layer]:
    if not directory.is_dir():
        raise LocaleError(f"locale directory {directory} does not exist")
    layers: dict[str, _Layer] = {}
    for path in sorted(directory.glob("*.toml")):
        tag = _tag_of(path.stem, path.name)
        if tag in layers:
            raise LocaleError(f"{directory}: two files for locale {tag!r}")
        layers[tag] = _read_file(path, path.name)
    return layers


@lru_cache(maxsize=1)
def _shipped() -> Mapping[str, _Layer]:
    # Package data never changes while the process runs; parse it once.
    return MappingProxyType(_read_dir(shipped_locales_dir()))


# --- Accept-Language --------------------------------------------------------------------


@lru_cache(maxsize=256)
def _parse(header: str) -> tuple[tuple[tuple[str, float], ...], tuple[str, ...]]:
    """(accepted ranges by preference, ranges refused with q=0) of a bounded header."""
    pieces = header.split(",")
    if len(header) >= MAX_HEADER_CHARS:
        pieces = pieces[:-1]  # the last entry may have been cut in half
    accepted: list[tuple[str, float]] = []
    refused: list[str] = []
    seen: set[str] = set()
    entries = 0
    for piece in pieces:
        if not piece.strip():
            continue
        entries += 1
        if entries > MAX_ENTRIES:
            break
        lang, *params = piece.split(";")
        lang = lang.strip()
        if lang == "*":
            tag = "*"
        elif _normalise(lang) is not None:
            tag = canonical_tag(lang)
        else:
            continue
        q = 1.0
        if params:
            if len(params) > 1:
                continue
            match = _Q_RE.fullmatch(params[0].strip())
            if match is None:
                continue
            q = float(match.group(1))
        if tag.lower() in seen:
            continue
        seen.add(tag.lower())
        if q == 0:
            refused.append(tag)
        else:
            accepted.append((tag, q))
    accepted.sort(key=lambda entry: -entry[1])  # stable: ties keep the header's order
    return tuple(accepted), tuple(refused)


def parse_accept_language(header: str) -> list[tuple[str, float]]:
    """The language ranges of an ``Accept-Language`` header, most preferred first.

    Tags come back canonically spelled (``de-AT``), ``*`` as ``*``. Entries with ``q=0`` are
    refusals and left out, as are malformed entries and those with an invalid weight. Only
    the first 4 KB and 32 entries are looked at. Never raises.
    """
    accepted, _refused = _parse(header[:MAX_HEADER_CHARS])
    return list(accepted)


# --- the catalogue ----------------------------------------------------------------------


class LocaleCatalogue:
    """Every available locale, complete, with the rules for choosing one per request."""

    def __init__(
        self,
        locales: Mapping[str, Locale],
        *,
        default: str,
        problems: Sequence[str] = (),
    ) -> None:
        if default not in locales:
            raise LocaleError(f"default locale {default!r} is not loaded")
        self._locales = dict(locales)
        self.tags: tuple[str, ...] = tuple(sorted(self._locales))
        self.default: str = default
        self._problems = tuple(problems)
        lookup = {alias: target for alias, target in _ALIASES.items() if target in self._locales}
        lookup.update({tag.lower(): tag for tag in self._locales})
        self._lookup = lookup
        # Per request work is a dictionary hit for the headers browsers actually send.
        self._negotiate = lru_cache(maxsize=512)(self._negotiate_uncached)

    @classmethod
    def load(
        cls,
        *,
        overrides: Mapping[str, Mapping[str, object]] | None = None,
        extra_dirs: Sequence[Path] = (),
        default: str = "en",
    ) -> LocaleCatalogue:
        """Shipped locales, then operators' TOML files in ``extra_dirs``, then ``overrides``.

        ``overrides`` maps a tag to texts, nested (``{"banner": {"title": ...}}``) or dotted
        (``{"banner.title": ...}``), with ``meta`` for a new tag's name and direction.
        """
        shipped = _shipped()
        layers: dict[str, list[_Layer]] = {tag: [layer] for tag, layer in shipped.items()}
        for directory in extra_dirs:
            for tag, layer in _read_dir(Path(directory)).items():
                layers.setdefault(tag, []).append(layer)
        for raw_tag, data in (overrides or {}).items():
            tag = _tag_of(str(raw_tag), "overrides")
            if not isinstance(data, Mapping):
                raise LocaleError(f"overrides: texts of {tag!r} must be a table")
            layers.setdefault(tag, []).append(_layer(data, f"overrides[{tag}]"))
        return _build(layers, shipped, default)

    def __contains__(self, tag: object) -> bool:
        return isinstance(tag, str) and canonical_tag(tag) in self._locales

    def __iter__(self) -> Iterator[Locale]:
        return iter(self._locales[tag] for tag in self.tags)

    def __len__(self) -> int:
        return len(self._locales)

    def get(self, tag: str) -> Locale:
        """The locale for ``tag``: exact, else the best match, else the default. Never raises."""
        if isinstance(tag, str):
            exact = self._locales.get(tag)
            if exact is not None:
                return exact
            matched = self.match(tag)
            if matched is not None:
                return self._locales[matched]
        return self._locales[self.default]

    def match(self, tag: str) -> str | None:
        """The loaded tag that best serves one language tag, or None.

        Tries the whole tag, then drops subtags from the end (``de-CH-1996`` -> ``de-CH`` ->
        ``de``), consulting the alias table at each step.
        """
        norm = _normalise(tag, posix=True) if isinstance(tag, str) else None
        while norm:
            found = self._lookup.get(norm)
            if found is not None:
                return found
            norm = norm.rpartition("-")[0]
        return None

    def negotiate(
        self, *, page_lang: str | None = None, accept_language: str | None = None
    ) -> Locale:
        """The page's own language if available, else the visitor's preference, else default."""
        page = page_lang[:MAX_TAG_CHARS] if isinstance(page_lang, str) else ""
        header = accept_language[:MAX_HEADER_CHARS] if isinstance(accept_language, str) else ""
        return self._locales[self._negotiate(page, header)]

    def _negotiate_uncached(self, page_lang: str, accept_language: str) -> str:
        if page_lang:
            matched = self.match(page_lang)
            if matched is not None:
                return matched
        if not accept_language:
            return self.default
        accepted, refused = _parse(accept_language)
        # A refusal excludes what that exact range names, not its relatives by truncation.
        excluded = {self._lookup[r.lower()] for r in refused if r.lower() in self._lookup}
        for lang, _q in accepted:
            if lang == "*":
                return self._any_but(excluded)
            matched = self.match(lang)
            if matched is not None and matched not in excluded:
                return matched
        return self.default

    def _any_but(self, excluded: set[str]) -> str:
        if self.default not in excluded:
            return self.default
        return next((tag for tag in self.tags if tag not in excluded), self.default)

    def check(self) -> list[str]:
        """Problems found while loading, as sentences; empty when every locale is sound."""
        return list(self._problems)


def _build(
    layers: Mapping[str, list[_Layer]], shipped: Mapping[str, _Layer], default: str
) -> LocaleCatalogue:
    if REFERENCE_TAG not in shipped:
        raise LocaleError(f"the reference locale {REFERENCE_TAG!r} is not shipped")
    reference = shipped[REFERENCE_TAG].texts
    own: dict[str, dict[str, tuple[str, str]]] = {}
    meta: dict[str, dict[str, tuple[str, str]]] = {}
    for tag, stack in layers.items():
        own[tag] = {}
        meta[tag] = {}
        for layer in stack:
            own[tag].update({k: (v, layer.source) for k, v in layer.texts.items()})
            meta[tag].update({k: (v, layer.source) for k, v in layer.meta.items()})

    required = set(reference)
    for own_texts in own.values():
        for key in own_texts:
            if _CATEGORY_KEY_RE.fullmatch(key):
                category = key.rpartition(".")[0]
                required.update({f"{category}.title", f"{category}.description"})
    every_key = required.union(*(own_texts.keys() for own_texts in own.values()))

    default_tag = _default_tag(default, own)
    default_texts = {k: v for k, (v, _src) in own[default_tag].items()}
    # The default itself falls back to the reference for anything it lacks.
    for key in every_key:
        default_texts.setdefault(key, reference.get(key, ""))

    problems: list[str] = []
    locales: dict[str, Locale] = {}
    for tag in sorted(own):
        texts = {k: v for k, (v, _src) in own[tag].items()}
        for key in every_key:
            texts.setdefault(key, default_texts[key])
        name = meta[tag].get("name", (tag, ""))[0]
        direction = meta[tag].get("dir", ("ltr", ""))[0]
        problems.extend(_problems(tag, own[tag], meta[tag], required, reference, default_texts))
        locales[tag] = Locale(
            tag=tag,
            name=name or tag,
            dir=direction if direction in DIRECTIONS else "ltr",
            texts=MappingProxyType(texts),
        )
    return LocaleCatalogue(locales, default=default_tag, problems=problems)


def _default_tag(default: str, own: Mapping[str, object]) -> str:
    if canonical_tag(default) in own:
        return canonical_tag(default)
    norm = _normalise(default)
    while norm:
        for tag in own:
            if tag.lower() == norm:
                return tag
        norm = norm.rpartition("-")[0]
    raise LocaleError(f"default locale {default!r} is not available; have: {sorted(own)}")


def _problems(
    tag: str,
    texts: Mapping[str, tuple[str, str]],
    meta: Mapping[str, tuple[str, str]],
    required: set[str],
    reference: Mapping[str, str],
    default_texts: Mapping[str, str],
) -> list[str]:
    found: list[str] = []
    found.extend(f"{tag}: missing key {key!r}" for key in sorted(required - texts.keys()))
    for key, (text, source) in sorted(texts.items()):
        if key not in reference and not _CATEGORY_KEY_RE.fullmatch(key):
            found.append(f"{tag}: extra key {key!r} ({source})")
            continue
        expected_text = reference.get(key, default_texts[key])
        try:
            got = placeholders(text)
        except LocaleError as exc:
            found.append(f"{tag}: {key}: {exc} ({source})")
            continue
        try:
            expected = placeholders(expected_text)
        except LocaleError:
            continue  # reported against the locale that owns the broken text
        if got != expected:
            found.append(
                f"{tag}: {key}: placeholders {_show(got)} differ from {_show(expected)}"
                f" in {REFERENCE_TAG if key in reference else 'the default locale'} ({source})"
            )
    for key, (_value, source) in sorted(meta.items()):
        if key not in ("name", "dir"):
            found.append(f"{tag}: extra key 'meta.{key}' ({source})")
    if "dir" in meta and meta["dir"][0] not in DIRECTIONS:
        found.append(
            f"{tag}: dir must be 'ltr' or 'rtl', not {meta['dir'][0]!r} ({meta['dir'][1]})"
        )
    if not meta.get("name", ("", ""))[0].strip():
        found.append(f"{tag}: [meta] name is missing")
    return found


def _show(counts: Counter[str]) -> str:
    if not counts:
        return "none"
    return ", ".join(
        f"{{{name}}}" + (f" x{n}" if n > 1 else "") for name, n in sorted(counts.items())
    )
