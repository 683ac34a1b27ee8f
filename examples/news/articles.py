"""Articles are data: one TOML file per story, holding an ``en`` and a ``uk`` edition."""

import tomllib
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Any

from .i18n import LANGS, SECTIONS, Lang

ARTICLES_DIR = Path(__file__).parent / "articles"


class ArticleError(ValueError):
    """An article file is missing a field or holds a value of the wrong kind."""


@dataclass(frozen=True, slots=True)
class Block:
    """One piece of an article body: a paragraph, or a subheading when ``heading`` is true."""

    text: str
    heading: bool = False


@dataclass(frozen=True, slots=True)
class Edition:
    """The words of one article in one language."""

    title: str
    author: str
    lead: str
    image_alt: str
    body: tuple[Block, ...]
    video_title: str | None = None

    @property
    def word_count(self) -> int:
        return sum(len(block.text.split()) for block in self.body)


@dataclass(frozen=True, slots=True)
class Article:
    slug: str
    section: str
    published: date
    illustration: str
    editions: Mapping[Lang, Edition]
    video_id: str | None = None
    source: str | None = None

    def in_lang(self, lang: Lang) -> Edition:
        return self.editions[lang]


class ArticleIndex:
    """All stories, newest first, looked up by slug or section."""

    def __init__(self, articles: list[Article]) -> None:
        self._articles = sorted(articles, key=lambda a: (a.published, a.slug), reverse=True)
        self._by_slug = {article.slug: article for article in self._articles}

    def __iter__(self) -> Iterator[Article]:
        return iter(self._articles)

    def __len__(self) -> int:
        return len(self._articles)

    def get(self, slug: str) -> Article | None:
        return self._by_slug.get(slug)

    def in_section(self, section: str) -> list[Article]:
        return [article for article in self._articles if article.section == section]


def load_articles(directory: Path = ARTICLES_DIR) -> ArticleIndex:
    return ArticleIndex([load_article(path) for path in sorted(directory.glob("*.toml"))])


def load_article(path: Path) -> Article:
    with path.open("rb") as file:
        data = tomllib.load(file)
    where = path.name
    section = _str(data, "section", where)
    if section not in SECTIONS:
        raise ArticleError(f"{where}: unknown section {section!r}")
    published = data.get("date")
    if not isinstance(published, date):
        raise ArticleError(f"{where}: 'date' must be a TOML date")
    video_id = data.get("video_id")
    if video_id is not None and not isinstance(video_id, str):
        raise ArticleError(f"{where}: 'video_id' must be a string")
    illustration = data.get("illustration", section)
    if not isinstance(illustration, str):
        raise ArticleError(f"{where}: 'illustration' must be a string")
    source = data.get("source")
    if source is not None and not isinstance(source, str):
        raise ArticleError(f"{where}: 'source' must be a string")
    editions: dict[Lang, Edition] = {}
    for lang in LANGS:
        table = data.get(lang)
        if not isinstance(table, dict):
            raise ArticleError(f"{where}: missing the [{lang}] table")
        editions[lang] = _edition(table, f"{where} [{lang}]", with_video=video_id is not None)
    return Article(
        slug=path.stem,
        section=section,
        published=published,
        illustration=illustration,
        editions=editions,
        video_id=video_id,
        source=source,
    )


def _edition(table: dict[str, Any], where: str, *, with_video: bool) -> Edition:
    paragraphs = table.get("body")
    if not isinstance(paragraphs, list) or not paragraphs:
        raise ArticleError(f"{where}: 'body' must be a non-empty list of paragraphs")
    body: list[Block] = []
    for paragraph in paragraphs:
        if not isinstance(paragraph, str) or not paragraph.strip():
            raise ArticleError(f"{where}: every paragraph must be non-empty text")
        # A paragraph written as "## Words" is a subheading, as in Markdown.
        if paragraph.startswith("## "):
            body.append(Block(paragraph[3:].strip(), heading=True))
        else:
            body.append(Block(paragraph.strip()))
    return Edition(
        title=_str(table, "title", where),
        author=_str(table, "author", where),
        lead=_str(table, "lead", where),
        image_alt=_str(table, "image_alt", where),
        body=tuple(body),
        video_title=_str(table, "video_title", where) if with_video else None,
    )


def _str(table: Mapping[str, Any], key: str, where: str) -> str:
    value = table.get(key)
    if not isinstance(value, str) or not value.strip():
        raise ArticleError(f"{where}: '{key}' must be non-empty text")
    return value.strip()
