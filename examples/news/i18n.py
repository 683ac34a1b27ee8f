"""The site's two languages: interface texts, URL prefixes, dates and Accept-Language."""

from datetime import date
from typing import Final, Literal, TypeGuard

Lang = Literal["en", "uk"]

LANGS: Final[tuple[Lang, ...]] = ("en", "uk")
DEFAULT_LANG: Final[Lang] = "en"

SECTIONS: Final = ("world", "city", "culture", "science", "sport", "tech")

_MONTHS: Final[dict[Lang, tuple[str, ...]]] = {
    "en": (
        "January",
        "February",
        "March",
        "April",
        "May",
        "June",
        "July",
        "August",
        "September",
        "October",
        "November",
        "December",
    ),
    # Genitive forms: Ukrainian dates read "24 квітня 2024".
    "uk": (
        "січня",
        "лютого",
        "березня",
        "квітня",
        "травня",
        "червня",
        "липня",
        "серпня",
        "вересня",
        "жовтня",
        "листопада",
        "грудня",
    ),
}

TEXTS: Final[dict[Lang, dict[str, str]]] = {
    "en": {
        "site_name": "The Meridian Courier",
        "tagline": "News from the city of Meridian and the world",
        "skip": "Skip to content",
        "nav_label": "Sections",
        "language_label": "Language",
        "other_language": "Українська",
        "front_heading": "Latest news",
        "more_in": "More in",
        "read_more": "Read the story",
        "by": "By",
        "published": "Published",
        "video_heading": "Video",
        "related": "More from The Meridian Courier",
        "most_read": "Most read",
        "section_world": "World",
        "section_city": "City",
        "section_culture": "Culture",
        "section_science": "Science",
        "section_sport": "Sport",
        "section_tech": "Technology",
        "offer": (
            "Based on your browser's language settings, you might prefer the Ukrainian"
            " version of this site."
        ),
        "offer_switch": "Switch?",
        "offer_label": "Language suggestion",
        "offer_stay": "No, stay here",
        "footer_about": (
            "The Meridian Courier is a fictional newspaper. Every story except the report"
            " on the North Korean delegation is invented."
        ),
        "footer_policy": "Cookie policy",
        "footer_preferences": "Cookie preferences",
        "footer_stats": "What this site collected",
        "footer_demo": "About this demo",
        "stats_title": "What this site collected",
        "stats_intro": (
            "This page shows everything our own audience measurement has stored, and the"
            " cookies your browser sent with this very request."
        ),
        "stats_note": "Nothing is collected before you agree to audience measurement.",
        "stats_views": "Page views stored",
        "stats_visitors": "Distinct browser ids",
        "stats_latest": "Latest page views",
        "stats_time": "Time (UTC)",
        "stats_path": "Page",
        "stats_lang": "Language",
        "stats_none": "No page view has been stored yet.",
        "stats_cookies": "Cookies your browser sent",
        "stats_cookies_intro": "Names only; the values stay private.",
        "stats_no_cookies": "Your browser sent no cookie with this request.",
        "not_found_title": "Page not found",
        "not_found_body": "We could not find this page. It may have moved, or the address"
        " may be mistyped.",
        "not_found_home": "Go to the front page",
    },
    "uk": {
        "site_name": "Меридіанський вісник",
        "tagline": "Новини Меридіана і світу",
        "skip": "Перейти до змісту",
        "nav_label": "Рубрики",
        "language_label": "Мова",
        "other_language": "English",
        "front_heading": "Останні новини",
        "more_in": "Більше в рубриці",
        "read_more": "Читати далі",
        "by": "Автор:",
        "published": "Опубліковано",
        "video_heading": "Відео",
        "related": "Більше від «Меридіанського вісника»",
        "most_read": "Найпопулярніше",
        "section_world": "Світ",
        "section_city": "Місто",
        "section_culture": "Культура",
        "section_science": "Наука",
        "section_sport": "Спорт",
        "section_tech": "Технології",
        "offer": (
            "Судячи з мовних налаштувань вашого браузера, вам може бути зручніша англійська"
            " версія цього сайту."
        ),
        "offer_switch": "Перейти?",
        "offer_label": "Пропозиція змінити мову",
        "offer_stay": "Ні, залишитися тут",
        "footer_about": (
            "«Меридіанський вісник» — вигадане видання. Усі матеріали, крім повідомлення"
            " про делегацію КНДР, вигадані."
        ),
        "footer_policy": "Політика щодо cookie",
        "footer_preferences": "Налаштування cookie",
        "footer_stats": "Що зібрав цей сайт",
        "footer_demo": "Про цю демонстрацію",
        "stats_title": "Що зібрав цей сайт",
        "stats_intro": (
            "Тут видно все, що зберегла наша власна статистика відвідувань, і cookie,"
            " які ваш браузер надіслав із цим самим запитом."
        ),
        "stats_note": "Ми нічого не збираємо, доки ви не погодитеся на вимірювання аудиторії.",
        "stats_views": "Збережено переглядів",
        "stats_visitors": "Різних ідентифікаторів браузера",
        "stats_latest": "Останні перегляди",
        "stats_time": "Час (UTC)",
        "stats_path": "Сторінка",
        "stats_lang": "Мова",
        "stats_none": "Жодного перегляду ще не збережено.",
        "stats_cookies": "Cookie, які надіслав ваш браузер",
        "stats_cookies_intro": "Лише назви; значення лишаються приватними.",
        "stats_no_cookies": "Із цим запитом ваш браузер не надіслав жодного cookie.",
        "not_found_title": "Сторінку не знайдено",
        "not_found_body": "Такої сторінки немає. Можливо, її перенесли або в адресі є помилка.",
        "not_found_home": "На головну",
    },
}


def is_lang(value: object) -> TypeGuard[Lang]:
    return value in LANGS


def other(lang: Lang) -> Lang:
    return "uk" if lang == "en" else "en"


def localize(lang: Lang, path: str) -> str:
    """Turn a language-neutral path (``/news/x``) into the address of its ``lang`` version."""
    if lang == DEFAULT_LANG:
        return path
    return f"/{lang}{path}"


def format_date(value: date, lang: Lang) -> str:
    return f"{value.day} {_MONTHS[lang][value.month - 1]} {value.year}"


def preferred_lang(accept_language: str) -> Lang | None:
    """The visitor's favourite among the site's languages, or None when they name neither.

    Only the primary subtag counts (``en-GB`` is English); a higher q-value wins and, at equal
    weight, the earlier entry wins, as RFC 9110 leaves the tie to the server.
    """
    best: Lang | None = None
    best_q = 0.0
    for item in accept_language.split(","):
        tag, _, params = item.strip().partition(";")
        primary = tag.strip().lower().split("-", 1)[0]
        if not is_lang(primary):
            continue
        q = _quality(params)
        if q > best_q:
            best, best_q = primary, q
    return best


def _quality(params: str) -> float:
    for param in params.split(";"):
        name, _, value = param.strip().partition("=")
        if name.strip().lower() == "q":
            try:
                q = float(value)
            except ValueError:
                return 0.0
            return q if 0.0 <= q <= 1.0 else 0.0
    return 1.0
