"""The error every user-facing layer turns into one line and exit code 2."""


class ConfigError(Exception):
    """A usage or configuration error: one line for the user, exit code 2."""
