import pytest
from hypothesis import given
from hypothesis import strategies as st

from consent.decisions import DecisionError, parse_choice, safe_next

CATEGORIES = ("necessary", "preferences", "analytics", "marketing")
REQUIRED = frozenset({"necessary"})


def choose(*fields: tuple[str, str], refused: frozenset[str] = frozenset()) -> frozenset[str]:
    choice = parse_choice(
        list(fields), categories=CATEGORIES, required=REQUIRED, refused_by_signal=refused
    )
    return choice.granted


def test_accept_all_grants_every_category() -> None:
    assert choose(("action", "accept_all")) == frozenset(CATEGORIES)


@pytest.mark.parametrize("action", ["reject_all", "close"])
def test_reject_and_close_grant_only_necessary(action: str) -> None:
    assert choose(("action", action)) == REQUIRED


def test_custom_grants_the_chosen_categories() -> None:
    granted = choose(("action", "custom"), ("category", "analytics"))
    assert granted == {"necessary", "analytics"}


def test_custom_with_nothing_ticked_is_a_refusal() -> None:
    assert choose(("action", "custom")) == REQUIRED


def test_gpc_refuses_marketing_even_on_accept_all() -> None:
    assert "marketing" not in choose(("action", "accept_all"), refused=frozenset({"marketing"}))


@pytest.mark.parametrize(
    "fields",
    [
        [("action", "accept_everything")],
        [("action", "custom"), ("category", "profiling")],
        [],
        [("action", "accept_all"), ("action", "reject_all")],
    ],
)
def test_bad_fields_are_400(fields: list[tuple[str, str]]) -> None:
    with pytest.raises(DecisionError) as caught:
        parse_choice(fields, categories=CATEGORIES, required=REQUIRED)
    assert caught.value.status == 400


@pytest.mark.parametrize("action", ["accept_all", "reject_all", "close"])
@given(ticked=st.lists(st.sampled_from([*CATEGORIES, "profiling", ""]), max_size=6))
def test_the_button_decides_whatever_boxes_are_ticked(action: str, ticked: list[str]) -> None:
    # The preferences form sends its ticked boxes with every button.
    fields = [("action", action), *(("category", c) for c in ticked)]
    expected = choose(("action", action))
    assert choose(*fields) == expected


@pytest.mark.parametrize("target", ["/", "/news/a?x=1", "/uk/news/b#top"])
def test_same_site_paths_are_kept(target: str) -> None:
    assert safe_next(target) == target


@pytest.mark.parametrize(
    "target",
    [
        "https://evil.example/",
        "//evil.example/x",
        "/\\evil.example",
        "\\\\evil.example",
        "javascript:alert(1)",
        "/\tevil",
        " /x",
        "",
        None,
        "http:/evil",
        "/" + "a" * 3000,
    ],
)
def test_anything_leaving_the_site_goes_home(target: str | None) -> None:
    assert safe_next(target) == "/"


@given(st.text(max_size=200))
def test_safe_next_is_always_a_local_path(target: str) -> None:
    result = safe_next(target)
    assert result.startswith("/")
    assert not result.startswith("//")
    assert "\\" not in result
