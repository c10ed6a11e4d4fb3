import click


class PttError(click.ClickException):
    """A user-facing error: one line, names the flag/field, the value and the fix; exit code 2."""
    exit_code = 2
