"""Errors as values: every failure has a machine-readable kind and a sentence a person understands.

The kind travels to the job row, the CLI summary and the UI's failure list; ``transient`` decides whether the
job retries with backoff or records the failure at once.
"""

from __future__ import annotations


class DepthstudioError(Exception):
    """Base of every expected failure. ``str(err)`` is the human sentence; never put a secret in it."""

    kind: str = "error"
    transient: bool = False

    def __init__(self, message: str, *, kind: str | None = None, transient: bool | None = None) -> None:
        super().__init__(message)
        self.message = message
        if kind is not None:
            self.kind = kind
        if transient is not None:
            self.transient = transient

    def __str__(self) -> str:
        return self.message


class ConfigError(DepthstudioError):
    """The configuration (file, environment or flags) is wrong; the message says which setting."""

    kind = "config"


class SchemaError(ConfigError):
    """The configured portal table or column does not exist; the message lists what does."""

    kind = "schema"


class ImagingError(DepthstudioError):
    """An avatar could not be fetched or decoded. One subclass (kind) per failure."""

    kind = "imaging"


class BackendError(DepthstudioError):
    """A depth backend failed (network, rate limit, failed prediction, bad output, missing weights)."""

    kind = "backend"


class StorageError(DepthstudioError):
    """Storing or deleting a depth-map asset failed."""

    kind = "storage"


class PortalError(DepthstudioError):
    """The portal or studio database refused an operation."""

    kind = "database"


class Cancelled(DepthstudioError):
    """The work was cancelled on request; not a failure of the item."""

    kind = "cancelled"


class RenderError(DepthstudioError):
    """Rendering or exporting a parallax frame failed (no GL context, shader compile error, bad output)."""

    kind = "render"
