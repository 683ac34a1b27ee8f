"""The locale catalogue: completeness of the shipped texts, negotiation, overrides, checks."""

from __future__ import annotations

import json
import re
import tomllib
from collections import Counter
from collections.abc import Mapping
from functools import lru_cache
from pathlib import Path
from types import MappingProxyType

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from consent.i18n import (
    Locale,
    LocaleCatalogue,
    LocaleError,
    canonical_tag,
    parse_accept_language,
    shipped_locales_dir,
)

# The languages the package promises: the EU's 24 official languages and 23 more.
EU_TAGS = frozenset(
    {"bg", "cs", "da", "de", "el", "en", "es", "et", "fi", "fr", "ga", "hr"}
    | {"hu", "it", "lt", "lv", "mt", "nl", "pl", "pt", "ro", "sk", "sl", "sv"}
)
PROMISED_TAGS = EU_TAGS | frozenset(
    {"uk", "nb", "is", "ca", "eu", "gl", "sr", "bs", "sq", "mk", "tr", "ru", "ar", "he"}
    | {"fa", "ja", "ko", "zh-Hans", "zh-Hant", "pt-BR", "hi", "vi", "id"}
)
RTL_TAGS = frozenset({"ar", "he", "fa"})
PLACEHOLDER = re.compile(r"\{([A-Za-z_][A-Za-z0-9_]*)\}")


@lru_cache(maxsize=1)
def _shared_catalogue() -> LocaleCatalogue:
    return LocaleCatalogue.load()


@pytest.fixture
def catalogue() -> LocaleCatalogue:
    return _shared_catalogue()


def _flat(data: Mapping[str, object], prefix: str = "") -> dict[str, str]:
    out: dict[str, str] = {}
    for key, value in data.items():
        if isinstance(value, Mapping):
            out.update(_flat(value, f"{prefix}{key}."))
        else:
            assert isinstance(value, str), f"{prefix}{key} is not a string"
            out[f"{prefix}{key}"] = value
    return out


def _read(path: Path) -> dict[str, str]:
    with path.open("rb") as fh:
        return _flat(tomllib.load(fh))


def _write(path: Path, flat: Mapping[str, str]) -> None:
    """A flat ``{"table.key": text}`` mapping as TOML (JSON strings are valid TOML strings)."""
    tables: dict[str, dict[str, str]] = {}
    for dotted, text in flat.items():
        table, _, key = dotted.rpartition(".")
        tables.setdefault(table, {})[key] = text
    lines: list[str] = []
    for table, entries in tables.items():
        lines.append(f"[{table}]")
        lines.extend(
            f"{key} = {json.dumps(text, ensure_ascii=False)}" for key, text in entries.items()
        )
        lines.append("")
    path.write_text("\n".join(lines), encoding="utf-8")


SHIPPED_FILES = sorted(shipped_locales_dir().glob("*.toml"))
REFERENCE = _read(shipped_locales_dir() / "en.toml")


# --- the shipped locales ------------------------------------------------------------------


def test_shipped_catalogue_reports_no_problem(catalogue: LocaleCatalogue) -> None:
    assert catalogue.check() == []


def test_every_promised_locale_is_shipped(catalogue: LocaleCatalogue) -> None:
    assert len(catalogue.tags) >= 40
    assert len(EU_TAGS) == 24
    assert len(PROMISED_TAGS) == 47
    assert set(catalogue.tags) >= PROMISED_TAGS
    assert catalogue.default == "en"


@pytest.mark.parametrize("path", SHIPPED_FILES, ids=lambda p: p.stem)
def test_locale_file_has_the_reference_keys_and_placeholders(path: Path) -> None:
    texts = _read(path)
    assert set(texts) == set(REFERENCE), path.name
    for key, reference in REFERENCE.items():
        if key.startswith("meta."):
            continue
        expected = Counter(PLACEHOLDER.findall(reference))
        assert Counter(PLACEHOLDER.findall(texts[key])) == expected, f"{path.name}: {key}"
        # A lone brace would be a broken placeholder the regex above cannot see.
        stripped = PLACEHOLDER.sub("", texts[key])
        assert "{" not in stripped and "}" not in stripped, f"{path.name}: {key}"
        assert texts[key].strip() == texts[key] and texts[key], f"{path.name}: {key}"


@pytest.mark.parametrize("path", SHIPPED_FILES, ids=lambda p: p.stem)
def test_locale_file_name_is_a_canonical_tag(path: Path) -> None:
    assert canonical_tag(path.stem) == path.stem


def test_right_to_left_exactly_for_arabic_hebrew_persian(catalogue: LocaleCatalogue) -> None:
    rtl = {locale.tag for locale in catalogue if locale.dir == "rtl"}
    assert rtl == RTL_TAGS
    assert {locale.dir for locale in catalogue} == {"ltr", "rtl"}


def test_every_locale_names_itself(catalogue: LocaleCatalogue) -> None:
    for locale in catalogue:
        assert locale.name.strip(), locale.tag
        assert locale.name != locale.tag
    english_names = {"German", "French", "Ukrainian", "Japanese", "Arabic"}
    assert not english_names & {locale.name for locale in catalogue}
    assert catalogue.get("uk").name == "Українська"
    assert catalogue.get("de").name == "Deutsch"


def test_accept_and_reject_are_distinct_and_short(catalogue: LocaleCatalogue) -> None:
    for locale in catalogue:
        accept = locale.text("banner.accept_all")
        reject = locale.text("banner.reject_all")
        assert accept != reject, locale.tag
        # Buttons are about 10-14 em wide; two dozen characters is the most that fits.
        for key in ("banner.accept_all", "banner.reject_all", "banner.customize"):
            assert len(locale.text(key)) <= 24, f"{locale.tag}: {key}"


def test_translated_texts_differ_from_english(catalogue: LocaleCatalogue) -> None:
    english = catalogue.get("en")
    for locale in catalogue:
        if locale.tag == "en":
            continue
        same = [
            k for k in ("banner.body", "preferences.intro") if locale.texts[k] == english.texts[k]
        ]
        assert same == [], locale.tag


def test_shipped_locales_dir_holds_the_reference() -> None:
    assert (shipped_locales_dir() / "en.toml").is_file()


# --- texts ----------------------------------------------------------------------------------


def test_text_fills_placeholders(catalogue: LocaleCatalogue) -> None:
    uk = catalogue.get("uk")
    text = uk.text("placeholder.text", vendor="YouTube", category="Реклама")
    assert "YouTube" in text and "Реклама" in text
    assert "{" not in text


def test_unknown_key_is_a_locale_error_naming_it(catalogue: LocaleCatalogue) -> None:
    with pytest.raises(LocaleError, match=r"banner\.nope"):
        catalogue.get("en").text("banner.nope")


def test_missing_parameter_is_a_locale_error(catalogue: LocaleCatalogue) -> None:
    with pytest.raises(LocaleError, match="vendors"):
        catalogue.get("de").text("preferences.vendors")


def test_texts_cannot_be_modified(catalogue: LocaleCatalogue) -> None:
    texts = catalogue.get("en").texts
    with pytest.raises(TypeError):
        texts["banner.title"] = "changed"  # type: ignore[index]


def test_meta_is_not_a_text(catalogue: LocaleCatalogue) -> None:
    assert not any(key.startswith("meta.") for key in catalogue.get("fr").texts)


# --- matching and negotiation ----------------------------------------------------------------


@pytest.mark.parametrize(
    ("asked", "expected"),
    [
        ("pt-BR", "pt-BR"),
        ("pt-br", "pt-BR"),
        ("PT_br", "pt-BR"),
        ("pt-PT", "pt"),
        ("pt", "pt"),
        ("pt-AO", "pt"),
        ("de-AT", "de"),
        ("de_AT", "de"),
        ("de-CH-1996", "de"),
        ("de-DE-u-co-phonebk", "de"),
        ("fr-CA", "fr"),
        ("EN-us", "en"),
        ("zh-TW", "zh-Hant"),
        ("zh-HK", "zh-Hant"),
        ("zh-MO", "zh-Hant"),
        ("zh-Hant", "zh-Hant"),
        ("zh-hant", "zh-Hant"),
        ("zh-Hant-TW", "zh-Hant"),
        ("zh-Hant-HK", "zh-Hant"),
        ("zh", "zh-Hans"),
        ("zh-CN", "zh-Hans"),
        ("zh-SG", "zh-Hans"),
        ("zh-Hans", "zh-Hans"),
        ("zh-Hans-CN", "zh-Hans"),
        ("no", "nb"),
        ("nb", "nb"),
        ("nn", "nb"),
        ("no-NO", "nb"),
        ("nb-NO", "nb"),
        ("nn-NO", "nb"),
        ("sr", "sr"),
        ("sr-RS", "sr"),
        ("sr-Cyrl", "sr"),
        ("sr-Cyrl-RS", "sr"),
        ("iw", "he"),
        ("iw-IL", "he"),
        ("in", "id"),
        ("uk-UA", "uk"),
        ("de_AT.UTF-8", "de"),
        (" fr ", "fr"),
    ],
)
def test_match(catalogue: LocaleCatalogue, asked: str, expected: str) -> None:
    assert catalogue.match(asked) == expected


@pytest.mark.parametrize("asked", ["", "xx", "tlh-KL", "*", "!!", "de--AT", "-de", "a" * 200, "12"])
def test_match_finds_nothing(catalogue: LocaleCatalogue, asked: str) -> None:
    assert catalogue.match(asked) is None


def test_get_is_exact_then_matched_then_default(catalogue: LocaleCatalogue) -> None:
    assert catalogue.get("pt-BR").tag == "pt-BR"
    assert catalogue.get("pt-br").tag == "pt-BR"
    assert catalogue.get("zh-TW").tag == "zh-Hant"
    assert catalogue.get("xx-YY").tag == "en"
    assert catalogue.get("").tag == "en"


def test_page_language_wins_over_accept_language(catalogue: LocaleCatalogue) -> None:
    chosen = catalogue.negotiate(page_lang="uk", accept_language="de, en;q=0.5")
    assert chosen.tag == "uk"


def test_unknown_page_language_falls_to_accept_language(catalogue: LocaleCatalogue) -> None:
    assert catalogue.negotiate(page_lang="tlh", accept_language="de-AT").tag == "de"
    assert catalogue.negotiate(page_lang="", accept_language="fr-CA").tag == "fr"


def test_page_language_uses_the_matching_rules(catalogue: LocaleCatalogue) -> None:
    assert catalogue.negotiate(page_lang="zh-TW").tag == "zh-Hant"
    assert catalogue.negotiate(page_lang="en-GB", accept_language="uk").tag == "en"


def test_q_values_order_the_preferences(catalogue: LocaleCatalogue) -> None:
    header = "fr;q=0.5, de;q=0.9, xx"
    assert catalogue.negotiate(accept_language=header).tag == "de"


def test_header_order_breaks_ties(catalogue: LocaleCatalogue) -> None:
    assert catalogue.negotiate(accept_language="it;q=0.8, es;q=0.8").tag == "it"
    assert catalogue.negotiate(accept_language="es;q=0.8, it;q=0.8").tag == "es"


def test_q_zero_excludes_a_language(catalogue: LocaleCatalogue) -> None:
    assert catalogue.negotiate(accept_language="de;q=0, fr;q=0.1").tag == "fr"
    # A refusal of the default is respected when the visitor accepts anything else.
    assert catalogue.negotiate(accept_language="en;q=0, *").tag != "en"


def test_star_means_the_default(catalogue: LocaleCatalogue) -> None:
    assert catalogue.negotiate(accept_language="*").tag == "en"
    assert catalogue.negotiate(accept_language="xx, *;q=0.5, de;q=0.1").tag == "en"
    assert catalogue.negotiate(accept_language="de, *;q=0.5").tag == "de"


def test_nothing_usable_gives_the_default(catalogue: LocaleCatalogue) -> None:
    assert catalogue.negotiate().tag == "en"
    assert catalogue.negotiate(accept_language="tlh, xx;q=0.5").tag == "en"
    assert catalogue.negotiate(accept_language=";;;,,,=").tag == "en"


def test_default_is_configurable() -> None:
    german = LocaleCatalogue.load(default="de")
    assert german.default == "de"
    assert german.negotiate(accept_language="tlh").tag == "de"
    assert german.get("xx").tag == "de"
    assert LocaleCatalogue.load(default="pt-br").default == "pt-BR"


def test_unknown_default_is_refused() -> None:
    with pytest.raises(LocaleError, match="tlh"):
        LocaleCatalogue.load(default="tlh")


@given(page=st.one_of(st.none(), st.text(max_size=80)), header=st.one_of(st.none(), st.text()))
@settings(max_examples=300)
def test_negotiate_never_raises(page: str | None, header: str | None) -> None:
    catalogue = _shared_catalogue()
    chosen = catalogue.negotiate(page_lang=page, accept_language=header)
    assert chosen.tag in catalogue.tags


# --- Accept-Language parsing ------------------------------------------------------------------


def test_parse_accept_language_weights_and_order() -> None:
    parsed = parse_accept_language("da, en-gb;q=0.8, en;q=0.7, *;q=0.1")
    assert parsed == [("da", 1.0), ("en-GB", 0.8), ("en", 0.7), ("*", 0.1)]


def test_parse_accept_language_sorts_by_weight_stably() -> None:
    parsed = parse_accept_language("a;q=0.5, bb;q=1, cc;q=0.5, dd")
    assert [tag for tag, _ in parsed] == ["bb", "dd", "a", "cc"]


def test_parse_accept_language_is_case_insensitive() -> None:
    assert parse_accept_language("DE-at;Q=0.5") == [("de-AT", 0.5)]
    assert parse_accept_language("pt_br") == [("pt-BR", 1.0)]


def test_parse_accept_language_drops_refusals_and_bad_weights() -> None:
    header = "de;q=0, fr;q=2, it;q=abc, es;q=0.1234, nl;q=-1, sv;q=1.0, pl; q = 0.3"
    assert parse_accept_language(header) == [("sv", 1.0), ("pl", 0.3)]


@pytest.mark.parametrize(
    "header", ["", ",", ";", "de;;", "de-", "12", "a b", "de;level=1", "q=0.5", "é", "de;q=0.5;q=1"]
)
def test_parse_accept_language_ignores_malformed_entries(header: str) -> None:
    assert parse_accept_language(header) == []


def test_parse_accept_language_keeps_good_entries_beside_bad_ones() -> None:
    assert parse_accept_language("??, de, fr;q=x, ;q=1, en;q=0.5") == [("de", 1.0), ("en", 0.5)]


def test_parse_accept_language_bounds_huge_headers() -> None:
    header = ", ".join(f"l{chr(97 + i % 26)}-a{i}" for i in range(10_000))
    parsed = parse_accept_language(header)
    assert 0 < len(parsed) <= 32
    # An entry cut off by the size limit is dropped rather than guessed at.
    assert parse_accept_language("de, " + " " * 10_000 + "fr") == [("de", 1.0)]


@given(st.text())
@settings(max_examples=500)
def test_parse_accept_language_never_raises(header: str) -> None:
    parsed = parse_accept_language(header)
    assert len(parsed) <= 32
    weights = [q for _, q in parsed]
    assert weights == sorted(weights, reverse=True)
    for tag, q in parsed:
        assert 0 < q <= 1
        assert tag == "*" or re.fullmatch(r"[a-z]{1,8}(-[A-Za-z0-9]{1,8})*", tag)


@given(st.lists(st.sampled_from(["de", "fr-CA", "*", "zh-TW", "xx"]), max_size=8), st.data())
def test_parse_accept_language_reads_what_was_written(tags: list[str], data: st.DataObject) -> None:
    weights = [data.draw(st.integers(min_value=1, max_value=1000)) / 1000 for _ in tags]
    header = ", ".join(f"{t};q={w:.3f}" for t, w in zip(tags, weights, strict=True))
    first: dict[str, float] = {}
    for tag, weight in zip(tags, weights, strict=True):
        first.setdefault(tag, weight)
    parsed = parse_accept_language(header)
    assert dict(parsed) == first


# --- operators' overrides and locales -----------------------------------------------------------


def test_partial_override_keeps_the_other_shipped_texts(catalogue: LocaleCatalogue) -> None:
    custom = LocaleCatalogue.load(overrides={"de": {"banner": {"title": "Cookies bei uns"}}})
    de, shipped = custom.get("de"), catalogue.get("de")
    assert de.text("banner.title") == "Cookies bei uns"
    changed = {k for k in shipped.texts if de.texts[k] != shipped.texts[k]}
    assert changed == {"banner.title"}
    assert de.name == shipped.name
    assert custom.check() == []


def test_nested_and_dotted_overrides_are_the_same() -> None:
    nested = LocaleCatalogue.load(overrides={"fr": {"policy": {"title": "Témoins"}}})
    dotted = LocaleCatalogue.load(overrides={"fr": {"policy.title": "Témoins"}})
    assert nested.get("fr").texts == dotted.get("fr").texts
    assert dotted.get("fr").text("policy.title") == "Témoins"


def test_override_tags_are_canonicalised() -> None:
    custom = LocaleCatalogue.load(overrides={"PT_br": {"banner.title": "Cookies"}})
    assert custom.get("pt-BR").text("banner.title") == "Cookies"
    assert "PT_br" not in custom.tags


def test_new_locale_from_an_extra_dir_falls_back_to_the_default(
    tmp_path: Path, catalogue: LocaleCatalogue
) -> None:
    (tmp_path / "lb.toml").write_text(
        '[meta]\nname = "Lëtzebuergesch"\n\n'
        '[banner]\naccept_all = "All akzeptéieren"\nreject_all = "All refuséieren"\n',
        encoding="utf-8",
    )
    custom = LocaleCatalogue.load(extra_dirs=[tmp_path])
    lb = custom.get("lb")
    assert lb.name == "Lëtzebuergesch"
    assert lb.dir == "ltr"
    assert lb.text("banner.accept_all") == "All akzeptéieren"
    assert lb.text("banner.title") == catalogue.get("en").text("banner.title")
    assert set(lb.texts) == set(catalogue.get("en").texts)
    assert custom.match("lb-LU") == "lb"
    assert custom.negotiate(accept_language="lb, de;q=0.5").tag == "lb"
    # The gaps are reported, so a translator sees what is still shown in the default.
    assert f"lb: missing key {'banner.title'!r}" in custom.check()


def test_new_locale_falls_back_to_a_configured_default(catalogue: LocaleCatalogue) -> None:
    custom = LocaleCatalogue.load(overrides={"lb": {"banner.title": "Cookien"}}, default="de")
    lb = custom.get("lb")
    assert lb.name == "lb"
    assert lb.text("banner.title") == "Cookien"
    assert lb.text("banner.body") == catalogue.get("de").text("banner.body")


def test_new_rtl_locale(tmp_path: Path) -> None:
    (tmp_path / "ur.toml").write_text(
        '[meta]\nname = "اردو"\ndir = "rtl"\n\n[banner]\naccept_all = "سب قبول کریں"\n',
        encoding="utf-8",
    )
    ur = LocaleCatalogue.load(extra_dirs=[tmp_path]).get("ur")
    assert ur.dir == "rtl"


def test_extra_dir_partially_overrides_a_shipped_locale(
    tmp_path: Path, catalogue: LocaleCatalogue
) -> None:
    (tmp_path / "fr.toml").write_text('[banner]\ntitle = "Vos cookies"\n', encoding="utf-8")
    fr = LocaleCatalogue.load(extra_dirs=[tmp_path]).get("fr")
    assert fr.text("banner.title") == "Vos cookies"
    assert fr.text("banner.body") == catalogue.get("fr").text("banner.body")
    assert fr.name == "Français"


def test_later_layers_win(tmp_path: Path) -> None:
    first, second = tmp_path / "a", tmp_path / "b"
    first.mkdir()
    second.mkdir()
    (first / "it.toml").write_text('[banner]\ntitle = "uno"\nbody = "uno"\n', encoding="utf-8")
    (second / "it.toml").write_text('[banner]\ntitle = "due"\n', encoding="utf-8")
    custom = LocaleCatalogue.load(
        extra_dirs=[first, second], overrides={"it": {"banner": {"body": "tre"}}}
    )
    assert custom.get("it").text("banner.title") == "due"
    assert custom.get("it").text("banner.body") == "tre"


def test_operator_category_texts(catalogue: LocaleCatalogue) -> None:
    social = {"social": {"title": "Social media", "description": "Share buttons."}}
    custom = LocaleCatalogue.load(
        overrides={
            "en": {"categories": social},
            "de": {
                "categories.social.title": "Soziale Medien",
                "categories.social.description": "Teilen.",
            },
        }
    )
    assert custom.get("en").text("categories.social.title") == "Social media"
    assert custom.get("de").text("categories.social.title") == "Soziale Medien"
    # Not translated yet: shown in the default language, and reported.
    assert custom.get("fr").text("categories.social.description") == "Share buttons."
    problems = custom.check()
    assert f"fr: missing key {'categories.social.title'!r}" in problems
    assert not [p for p in problems if p.startswith(("en:", "de:"))]
    assert "categories.social.title" not in catalogue.get("fr").texts


def test_override_values_must_be_strings() -> None:
    with pytest.raises(LocaleError, match=r"banner\.title"):
        LocaleCatalogue.load(overrides={"de": {"banner": {"title": 3}}})


def test_override_tag_must_be_a_language_tag() -> None:
    with pytest.raises(LocaleError, match="not a language tag"):
        LocaleCatalogue.load(overrides={"../etc": {"banner.title": "x"}})


def test_missing_extra_dir_is_an_error(tmp_path: Path) -> None:
    with pytest.raises(LocaleError, match="does not exist"):
        LocaleCatalogue.load(extra_dirs=[tmp_path / "nope"])


def test_broken_toml_is_an_error(tmp_path: Path) -> None:
    (tmp_path / "de.toml").write_text("[banner\ntitle = ", encoding="utf-8")
    with pytest.raises(LocaleError, match=r"de\.toml"):
        LocaleCatalogue.load(extra_dirs=[tmp_path])


def test_broken_placeholder_fails_when_rendered() -> None:
    custom = LocaleCatalogue.load(overrides={"de": {"preferences.vendors": "Dienste: {vendors"}})
    with pytest.raises(LocaleError, match=r"preferences\.vendors"):
        custom.get("de").text("preferences.vendors", vendors="x")
    attribute = LocaleCatalogue.load(overrides={"de": {"banner.title": "{x.__class__}"}})
    with pytest.raises(LocaleError):
        attribute.get("de").text("banner.title", x="y")


# --- check() ----------------------------------------------------------------------------------


@pytest.fixture
def faulty_dir(tmp_path: Path) -> Path:
    missing = dict(REFERENCE)
    del missing["banner.title"]
    _write(tmp_path / "qa.toml", missing)
    _write(tmp_path / "qb.toml", {**REFERENCE, "banner.subtitle": "Extra"})
    _write(tmp_path / "qc.toml", {**REFERENCE, "preferences.vendors": "Services: {vendor}"})
    _write(tmp_path / "qd.toml", {**REFERENCE, "meta.dir": "sideways"})
    _write(tmp_path / "qe.toml", {**REFERENCE, "placeholder.text": "From {vendor for {category}"})
    _write(tmp_path / "qf.toml", dict(REFERENCE))
    return tmp_path


def test_check_names_each_problem(faulty_dir: Path) -> None:
    problems = LocaleCatalogue.load(extra_dirs=[faulty_dir]).check()
    by_tag: dict[str, list[str]] = {}
    for problem in problems:
        by_tag.setdefault(problem.split(":", 1)[0], []).append(problem)
    assert set(by_tag) == {"qa", "qb", "qc", "qd", "qe"}
    assert all(len(found) == 1 for found in by_tag.values()), by_tag
    assert "missing key 'banner.title'" in by_tag["qa"][0]
    assert "extra key 'banner.subtitle'" in by_tag["qb"][0]
    assert "preferences.vendors" in by_tag["qc"][0] and "placeholders" in by_tag["qc"][0]
    assert "sideways" in by_tag["qd"][0]
    assert "placeholder.text" in by_tag["qe"][0] and "malformed" in by_tag["qe"][0]


def test_bad_direction_is_not_passed_on(faulty_dir: Path) -> None:
    assert LocaleCatalogue.load(extra_dirs=[faulty_dir]).get("qd").dir == "ltr"


def test_check_of_overrides(catalogue: LocaleCatalogue) -> None:
    broken = LocaleCatalogue.load(overrides={"es": {"placeholder.text": "De {vendor}."}})
    problems = broken.check()
    assert len(problems) == 1
    assert problems[0].startswith("es: placeholder.text:")
    assert "{category}" in problems[0]


# --- texts_hash ----------------------------------------------------------------------------------


def test_texts_hash_is_stable_across_loads(catalogue: LocaleCatalogue) -> None:
    again = LocaleCatalogue.load()
    for locale in catalogue:
        assert again.get(locale.tag).texts_hash() == locale.texts_hash()
    assert re.fullmatch(r"[0-9a-f]{64}", catalogue.get("en").texts_hash())


def test_texts_hash_tells_locales_apart(catalogue: LocaleCatalogue) -> None:
    hashes = {locale.texts_hash() for locale in catalogue}
    assert len(hashes) == len(catalogue.tags)


def test_texts_hash_changes_with_one_text(catalogue: LocaleCatalogue) -> None:
    original = catalogue.get("uk")
    text = original.text("banner.reject_all")
    changed = LocaleCatalogue.load(overrides={"uk": {"banner.reject_all": text + "!"}}).get("uk")
    assert changed.texts_hash() != original.texts_hash()
    same = LocaleCatalogue.load(overrides={"uk": {"banner.reject_all": text}}).get("uk")
    assert same.texts_hash() == original.texts_hash()


def test_texts_hash_ignores_insertion_order() -> None:
    texts = {"b.x": "1", "a.y": "2", "c.z": "3"}
    forward = Locale("en", "English", "ltr", MappingProxyType(texts))
    backward = Locale("en", "English", "ltr", MappingProxyType(dict(reversed(texts.items()))))
    assert forward.texts_hash() == backward.texts_hash()
    other = Locale("en", "English", "ltr", MappingProxyType({**texts, "a.y": "2 "}))
    assert other.texts_hash() != forward.texts_hash()
