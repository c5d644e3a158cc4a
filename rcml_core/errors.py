"""User-facing errors.

Every error a user can cause (bad data, bad config, a diverged run) is an `RCMLError`
whose message names the file / record / field and says what is wrong. The CLI prints
the message without a traceback and exits with status 2.
"""

from __future__ import annotations


class RCMLError(Exception):
    """Base class of errors caused by user input; the message is shown as is."""


class DataError(RCMLError):
    """A dataset or raw input file is malformed, inconsistent or missing."""


class ConfigError(RCMLError):
    """A configuration value or override is invalid (names the field and allowed range)."""


class DivergedError(RCMLError):
    """Training produced a NaN or infinite loss."""

    def __init__(self, step: int, value: float) -> None:
        super().__init__(f"diverged at step {step}: loss is {value}")
        self.step = step
        self.value = value
