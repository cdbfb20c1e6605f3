"""Errors a user can fix; the command line prints them as one line, never a traceback."""


class UserError(Exception):
    """Bad input or a bad request: the message names the file and the problem."""
