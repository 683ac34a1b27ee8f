"""The compiled scan under attack: what it newly takes (held tags written from their remembered
forms, inline scripts looked up by their text, the phase before the body, <noscript> read
whole, frames and inputs, tags cut by a chunk's end) gives the Python output for hostile
input in any chunking, and no remembered answer is used for an element it was not made for.
"""

from types import ModuleType

import pytest

from consent import rewriter
from consent.rewriter import Classifier, HtmlRewriter
from tests.conftest import speedups
from tests.test_speedups import Scan, policy


def rewritten_counted(
    html: bytes, pieces: list[bytes], classify: Classifier, scan: Scan, cap: int = 262144
) -> tuple[bytes, int]:
    """The output with an inline script limit, and how many elements were held."""
    saved = rewriter._fast_scan
    rewriter._fast_scan = scan  # type: ignore[assignment]
    try:
        pass_ = HtmlRewriter(classify, max_inline_script=cap)
        out = b"".join(pass_.feed(piece) for piece in pieces) + pass_.close()
        assert not pass_.failed
        return out, pass_.held_count
    finally:
        rewriter._fast_scan = saved


@pytest.fixture(scope="module")
def sp() -> ModuleType:
    return speedups()


def test_a_cut_script_s_answer_is_not_that_of_a_whole_script_with_its_start() -> None:
    # With a limit of 16 bytes, the text the classifier is given of a longer script is its
    # first 16 bytes, which may be all of another script: what was answered for the one must
    # not stand for the other.
    text = b"var a = 1;//abcd"
    whole = b"<p><script>" + text + b"</script>"
    cut = b"<p><script>" + text + b"fbq('init','1');</script>"
    granted = frozenset({"necessary"})
    for scan in (None, rewriter._fast_scan):
        hold_back = policy()
        outputs = []
        for html in (whole, cut, whole):
            classify = hold_back.classifier(granted, None, memo_key=("en",), site="example.com")
            outputs.append(rewritten_counted(html, [html], classify, scan, cap=16))
        fresh = [
            rewritten_counted(
                html,
                [html],
                policy().classifier(granted, None, memo_key=("en",), site="example.com"),
                scan,
                cap=16,
            )
            for html in (whole, cut)
        ]
        assert fresh[1][1] == 1  # the cut script is held: its start does not show it harmless
        assert outputs == [fresh[0], fresh[1], fresh[0]]
