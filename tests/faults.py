"""Faults injected into the response path: one definition for the in-process and browser tests.

A page marks where the fault fires with the bytes ``fault-here`` (in an element the classifier
sees, or in bytes the rewriter reads).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from consent.holdback import HoldbackPolicy
from consent.rewriter import HtmlRewriter

MARK = b"fault-here"


def faulty_classifier() -> Callable[..., Any]:
    """A ``HoldbackPolicy.classifier`` whose classifier raises on the marked element."""
    real = HoldbackPolicy.classifier

    def classifier(self: Any, *args: Any, **kwargs: Any) -> Any:
        decide = real(self, *args, **kwargs)

        def faulty(element: Any) -> Any:
            if MARK in element.raw:
                raise RuntimeError("injected classifier fault")
            return decide(element)

        return faulty

    return classifier


def faulty_rewriter_run() -> Callable[[HtmlRewriter, Any, bool], bytes]:
    """An ``HtmlRewriter._run`` that raises when it reads the marked bytes."""
    real_run = HtmlRewriter._run

    def run(self: HtmlRewriter, buf: Any, final: bool) -> bytes:
        if MARK in buf:
            raise RuntimeError("injected rewriter fault")
        return real_run(self, buf, final)

    return run
