"""Errors a user can act on: their message says what is wrong, where, and what to do.

A job that stops on one of these writes that one message (no traceback) as the last
line of its log, which ``show-failed-logs`` prints to the terminal.
"""


class ContrastlabError(Exception):
    """Base of the errors whose message alone tells the user what to do."""


class ResultFileError(ContrastlabError, OSError):
    """A result file that is missing or cannot be trusted (truncated, garbage, altered:
    its checksum does not match, see :mod:`contrastlab.results`). The message names the
    file and the command that remakes it; for a damaged file, the attribute ``reason``
    holds the why alone."""
