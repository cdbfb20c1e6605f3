"""Load the parameterised SQL models kept in ``sql/`` (one model per file)."""

from __future__ import annotations

import re

from pv.resources import sql_dir

_PLACEHOLDER = re.compile(r"\{\{\s*(\w+)\s*\}\}")


def literal(value: object) -> str:
    """A SQL literal for a parameter value (strings quoted, numbers as written, tuples/lists as lists)."""
    if isinstance(value, tuple | list):
        return "[" + ", ".join(literal(item) for item in value) + "]"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return repr(value)
    return "'" + str(value).replace("'", "''") + "'"


def render_text(name: str) -> str:
    """The text of ``pv/sql/<name>.sql`` as written, placeholders and all."""
    return (sql_dir() / f"{name}.sql").read_text()


def render(name: str, **params: object) -> str:
    """The SQL of ``pv/sql/<name>.sql`` with ``{{ param }}`` replaced by literals (``ident_*`` verbatim)."""
    text = render_text(name)

    def substitute(match: re.Match[str]) -> str:
        key = match.group(1)
        if key not in params:
            raise KeyError(f"pv/sql/{name}.sql needs parameter {key!r}")
        value = params[key]
        return str(value) if key.startswith("ident_") else literal(value)

    return _PLACEHOLDER.sub(substitute, text)
