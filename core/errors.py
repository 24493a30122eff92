"""Error types with messages meant for people, not stack traces.

Every failure to read a checkpoint ends in one of these, carrying a one-line message
that names the file, what it looks like, and why it cannot be used.
"""


class GLEError(Exception):
    """Base of every error this pack raises on purpose."""


class CheckpointError(GLEError, ValueError):
    """A file could not be read as a generator (corrupt, truncated, foreign)."""


class UnsafeCheckpointError(CheckpointError):
    """A file asks to run code or import something outside the allow-list."""


class UnsupportedCheckpointError(CheckpointError):
    """A recognised format or architecture that this pack does not handle (yet)."""


class IncompatibleInputError(GLEError, ValueError):
    """Inputs that do not fit together (e.g. latents from another generator)."""
