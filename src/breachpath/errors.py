"""Errors a user can act on.

Every error a user can cause (a bad file, an unknown id, an unreachable URL) is raised as an
:class:`InputError` whose message is one line naming the file, position or object. The CLI prints
that line and exits with code 2; it never shows a traceback for them.
"""

from __future__ import annotations


class InputError(Exception):
    """Bad input from the user: printed as one line, exit code 2."""

    exit_code = 2


class NotFoundError(InputError):
    """An id or name that the knowledge base does not hold."""


class AmbiguousIdError(InputError):
    """An id that names several live objects: the candidates are listed, never guessed."""

    def __init__(self, message: str, candidates: list[dict]):
        super().__init__(message)
        self.candidates = candidates
