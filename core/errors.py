"""Error types with messages meant for people, not stack traces.

Every failure to read a checkpoint ends in one of these, carrying a one-line message
that names the file, what it looks like, and why it cannot be used.
"""


class GLEError(Exception):
    """Base of every error this pack raises on purpose.

    ComfyUI shows ``<module>.<class>`` as the error type; the module is set to the pack's name so
    a user reads ``gan_local_edit.CheckpointError``, not the custom-node folder's file path."""

    def __init_subclass__(cls, **kwargs):
        super().__init_subclass__(**kwargs)
        cls.__module__ = "gan_local_edit"


GLEError.__module__ = "gan_local_edit"


class CheckpointError(GLEError, ValueError):
    """A file could not be read as a generator (corrupt, truncated, foreign)."""


class UnsafeCheckpointError(CheckpointError):
    """A file asks to run code or import something outside the allow-list."""


class UnsupportedCheckpointError(CheckpointError):
    """A recognised format or architecture that this pack does not handle (yet)."""


class IncompatibleInputError(GLEError, ValueError):
    """Inputs that do not fit together (e.g. latents from another generator)."""
