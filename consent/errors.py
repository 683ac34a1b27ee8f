"""The package's error family: one base class integrators can catch."""

from __future__ import annotations


class ConsentError(Exception):
    """Base of every error this package raises on purpose."""


class ConfigError(ConsentError, ValueError):
    """The configuration cannot work; the message names the setting and what it accepts.

    ``setting`` is the ``ConsentConfig`` keyword at fault, when there is one, so that a file
    reader can translate it into the key the operator wrote.
    """

    def __init__(self, message: str, *, setting: str | None = None) -> None:
        super().__init__(message)
        self.setting = setting
