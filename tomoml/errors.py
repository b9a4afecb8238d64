"""Errors raised by tomoml.

Every error a user can cause derives from :class:`TomomlError`. Its message is one line that
names the file or argument and the problem; the CLI prints it as is and exits non-zero.
"""

from __future__ import annotations


class TomomlError(Exception):
    """Base class of every error a user can cause (bad input, bad option, missing backend)."""

    exit_code = 2


class InputError(TomomlError):
    """An input file or array is missing, unreadable or not what the step needs."""


class OutputError(TomomlError):
    """An output cannot be written (exists without ``--force``, would overwrite an input)."""


class ConfigError(TomomlError):
    """A configuration key or value, or a command-line option, is invalid."""


class BackendError(TomomlError):
    """A requested backend (CUDA, tomopy, ...) is not available on this machine."""
