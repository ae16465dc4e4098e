"""Exceptions raised on bad input. The CLI turns them into one line on stderr and exit code 2."""


class MLMLError(ValueError):
    """Bad input or configuration that the user can act on."""


class DataError(MLMLError):
    """A file or record that cannot be read; the message names the file and the line or record."""
