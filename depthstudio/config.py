"""Configuration: one TOML file in the platform config dir, overridden by environment variables, then CLI flags.

Secrets never live in the file: they come from the environment or the OS keyring (service ``depthstudio``) and are
shown masked.
"""

from __future__ import annotations

import dataclasses
import os
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import platformdirs

from depthstudio.errors import ConfigError
from depthstudio.imaging.types import FetchPolicy

APP = "depthstudio"
KEYRING_SERVICE = "depthstudio"
ENV_PREFIX = "DEPTHSTUDIO_"


def config_dir() -> Path:
    return Path(os.environ.get("DEPTHSTUDIO_CONFIG_DIR") or platformdirs.user_config_dir(APP))


def data_dir() -> Path:
    return Path(os.environ.get("DEPTHSTUDIO_DATA_DIR") or platformdirs.user_data_dir(APP))


def url_schema(url: str) -> str:
    """The schema a Prisma-style PostgreSQL URL names (``?schema=ux``), else ``""``; a URL that does not parse (the
    engine says why) names none."""
    from sqlalchemy.engine import make_url

    try:
        parsed = make_url(url)
    except Exception:
        return ""
    value = parsed.query.get("schema", "") if parsed.drivername.startswith("postgresql") else ""
    return value if isinstance(value, str) else value[-1]


@dataclass
class PortalConfig:
    """The portal's users table. Defaults match the portal's Prisma ``User`` model."""

    url: str = ""  # empty = the embedded demo portal (SQLite in the data dir)
    table: str = "User"
    schema: str = ""
    id_column: str = "id"
    name_column: str = "name"
    avatar_column: str = "avatar"
    depth_column: str = "avatarDepthMap"
    # A firewalled host or a stuck query fails in seconds instead of hanging the studio or a cron run.
    connect_timeout_s: float = 10.0
    statement_timeout_s: float = 120.0
    # PostgreSQL: the schema of depthstudio's own tables, created by `db upgrade`; never the portal ORM's schema,
    # whose tool treats tables it did not create as drift (Prisma's `migrate dev` offers to reset the schema).
    # Empty: beside the portal's table, as before 0008_24.
    studio_schema: str = "depthstudio"

    def schema_name(self) -> str:
        """``schema``, else the ``?schema=`` of a Prisma-style PostgreSQL URL; both, disagreeing, is an error."""
        in_url = url_schema(self.url)
        if self.schema and in_url and self.schema != in_url:
            raise ConfigError(f"[portal] schema = {self.schema!r} but the URL says ?schema={in_url}; keep one")
        return self.schema or in_url


@dataclass
class StudioConfig:
    """depthstudio's own tables always live in the portal's database (prefix ``depthstudio_``): statuses are
    computed by joining the portal's users with them in one query, so there is no setting for another database."""

    reviewer: str = ""  # empty = the OS user name
    review_required: bool = True  # False: generate-missing publishes at once (a QA-flagged map is held)


@dataclass
class DepthConfig:
    backend: str = "auto"  # auto (replicate with a token, else local) | replicate | local | synthetic
    replicate_model: str = "cjwbw/midas"
    replicate_version: str = "a6ba5798f04f80d3b314de0f0a62277f21ab3503c60c84d4817de83c5edfdae0"
    replicate_input: dict[str, Any] = field(default_factory=lambda: {"model_type": "dpt_beit_large_512"})
    replicate_base_url: str = ""  # empty = Replicate's public API
    local_model: str = "onnx-community/depth-anything-v2-small"
    local_weights_dir: str = ""
    device: str = "auto"  # auto | cuda | mps | cpu
    dtype: str = "auto"  # auto | float32 | float16 | bfloat16 (torch) | int8 (ONNX, for the CPU)
    batch_size: int = 4
    postprocess: dict[str, Any] = field(default_factory=dict)
    local_weights: str = ""  # an .onnx file, or a folder (ONNX or transformers), for machines with no network
    local_runtime: str = "auto"  # auto (onnxruntime for ONNX models, torch otherwise) | onnxruntime | torch
    model_revision: str = ""  # override the pinned hub revision of local_model (a mirror of your own)
    model_sha256: str = ""  # ... and the file's checksum that goes with it
    model_size: int = 0  # ... and its size in bytes
    batch_gather_ms: float = 10.0  # how long the inference worker waits to fill a batch
    tensorrt: bool = False  # ONNX Runtime's TensorRT provider first (fp16 engines cached in the data dir)


@dataclass
class StorageConfig:
    kind: str = "local"  # local | cloudinary
    local_dir: str = ""  # empty = <data dir>/depthmaps
    # The URL at which the portal's web server serves local_dir; a real portal needs one (it cannot serve file://).
    local_public_base_url: str = ""
    cloudinary_folder: str = "depthstudio"
    cloudinary_upload_prefix: str = ""  # empty = Cloudinary's API
    cloudinary_timeout_s: float = 60.0
    delete_superseded: bool = False
    # Before an upload, confirm the photo at the avatar URL still has the content the map was made from (a
    # conditional request, else a bounded re-fetch): portals that overwrite photos in place keep the URL.
    confirm_photo_content: bool = True


@dataclass
class FetchConfig:
    """The configurable face of ``imaging.FetchPolicy``: its defaults are the policy's own (one place)."""

    allow_private: bool = FetchPolicy.allow_private
    private_hosts: list[str] = field(default_factory=lambda: list(FetchPolicy.private_hosts))  # "host[:port]"
    allowed_schemes: list[str] = field(default_factory=lambda: list(FetchPolicy.allowed_schemes))
    # file:// and plain paths. Off: a real portal's avatar values are written by its users, and "/proc/self/environ"
    # must not be read. The embedded demo portal (whose avatars are files) always allows them.
    allow_local_paths: bool = FetchPolicy.allow_local_paths
    max_bytes: int = FetchPolicy.max_bytes
    timeout_s: float = FetchPolicy.timeout_s
    max_redirects: int = FetchPolicy.max_redirects
    max_pixels: int = FetchPolicy.max_pixels
    crop_size: int = FetchPolicy.crop_size
    # Re-validating the photos of users with a map (a portal may overwrite a photo in place): at most this many
    # photo requests a second, each photo at most once per revalidate_after_s (a nightly cron checks each once).
    revalidate_per_s: float = 200.0
    revalidate_after_s: float = 72000.0

    def policy(self) -> FetchPolicy:
        """The limits for fetching avatars of the configured portal (local paths: demo or explicit opt-in)."""
        return FetchPolicy(
            allow_private=self.allow_private,
            private_hosts=tuple(self.private_hosts),
            allowed_schemes=tuple(self.allowed_schemes),
            allow_local_paths=self.allow_local_paths or self._owner_is_demo(),
            max_bytes=self.max_bytes,
            timeout_s=self.timeout_s,
            max_redirects=self.max_redirects,
            max_pixels=self.max_pixels,
            crop_size=self.crop_size,
        )

    def _owner_is_demo(self) -> bool:
        # Set by Config.__post_init__; a FetchConfig on its own (no portal known) is treated as a real portal.
        owner = getattr(self, "_owner", None)
        return bool(owner is not None and owner.is_demo)


WEB_TARGETS = ("depthstudio", "react-depth-map", "react-depth-map-fork")
DISPLAY_CROPS = ("none", "square")


@dataclass
class WebConfig:
    """What the portal's website draws, so that the studio previews, renders and exports exactly that.

    ``target``: the web component (depthstudio.render.target): ``react-depth-map`` (1.0.9 as published: plane
    0.5, multiplier ignored), ``react-depth-map-fork`` (plane 0.05, as the seed's portal) or ``depthstudio`` (our
    viewer, every mode). ``display_crop``: the one URL transformation the portal applies to both the photo and
    the map: ``none`` (the whole photo) or ``square`` (the centred square, Cloudinary's ``c_fill`` with its
    default centre gravity).
    """

    target: str = "depthstudio"
    display_crop: str = "none"


@dataclass
class JobConfig:
    concurrency: int = 4
    retries: int = 3
    backoff_s: float = 2.0
    lease_s: float = 120.0
    # Runs that retry an environment failure (network, 5xx, settings) on their own before giving up on it, and the
    # wait before the first of them (doubling after each): a night's outage heals by itself, a lasting fault stops.
    heal_runs: int = 5
    heal_backoff_s: float = 600.0


@dataclass
class RetentionConfig:
    # Results per user whose PNGs ``depthstudio prune`` keeps (the newest); the current and the live one always.
    keep_results: int = 2


@dataclass
class Config:
    portal: PortalConfig = field(default_factory=PortalConfig)
    studio: StudioConfig = field(default_factory=StudioConfig)
    depth: DepthConfig = field(default_factory=DepthConfig)
    storage: StorageConfig = field(default_factory=StorageConfig)
    fetch: FetchConfig = field(default_factory=FetchConfig)
    web: WebConfig = field(default_factory=WebConfig)
    job: JobConfig = field(default_factory=JobConfig)
    retention: RetentionConfig = field(default_factory=RetentionConfig)
    source: str = "defaults"

    def __post_init__(self) -> None:
        # The fetch policy depends on which portal is open (demo or not), read when the policy is made, so that a
        # portal URL changed later (Settings) is honoured. Not a dataclass field: it is no setting.
        self.fetch._owner = self  # type: ignore[attr-defined]

    @property
    def is_demo(self) -> bool:
        return not self.portal.url

    def demo_portal_path(self) -> Path:
        return data_dir() / "demo-portal.sqlite3"

    def portal_url(self) -> str:
        return self.portal.url or f"sqlite:///{self.demo_portal_path()}"

    def local_store_dir(self) -> Path:
        return Path(self.storage.local_dir) if self.storage.local_dir else data_dir() / "depthmaps"

    def to_dict(self) -> dict[str, Any]:
        d = dataclasses.asdict(self)
        d.pop("source")
        return d


_SECTIONS = ("portal", "studio", "depth", "storage", "fetch", "web", "job", "retention")
_ONE_OF = {"web.target": WEB_TARGETS, "web.display_crop": DISPLAY_CROPS}


def _coerce(current: Any, raw: str, where: str) -> Any:
    """Environment values are strings; convert to the type of the field they override."""
    if isinstance(current, bool):
        low = raw.strip().lower()
        if low in ("1", "true", "yes", "on"):
            return True
        if low in ("0", "false", "no", "off", ""):
            return False
        raise ConfigError(f"{where}={raw!r} is not a boolean (use true/false)")
    if isinstance(current, int):
        try:
            return int(raw)
        except ValueError:
            raise ConfigError(f"{where}={raw!r} is not an integer") from None
    if isinstance(current, float):
        try:
            return float(raw)
        except ValueError:
            raise ConfigError(f"{where}={raw!r} is not a number") from None
    if isinstance(current, list):
        return [item.strip() for item in raw.split(",") if item.strip()]
    if isinstance(current, dict):
        try:
            import json

            value = json.loads(raw)
        except ValueError:
            raise ConfigError(f"{where} must be a JSON object") from None
        if not isinstance(value, dict):
            raise ConfigError(f"{where} must be a JSON object")
        return value
    return raw


def _checked(current: Any, value: Any, where: str) -> Any:
    """The value if it has the field's type (an int is accepted for a float, nothing else is converted)."""
    if isinstance(current, bool):
        ok = isinstance(value, bool)
    elif isinstance(current, int):
        ok = isinstance(value, int) and not isinstance(value, bool)
    elif isinstance(current, float):
        ok = isinstance(value, (int, float)) and not isinstance(value, bool)
        value = float(value) if ok else value
    elif isinstance(current, list):
        ok = isinstance(value, list) and all(isinstance(v, str) for v in value)
    else:
        ok = isinstance(value, type(current))
    if not ok:
        kind = "list of strings" if isinstance(current, list) else type(current).__name__
        raise ConfigError(f"{where} must be of type {kind}, not {type(value).__name__}")
    return value


def coerce_setting(default: Any, value: Any, where: str) -> Any:
    """The one validation path for typed settings (file, environment, flags, ``[depth] postprocess``): a string
    is parsed into the type of ``default``, any other value must already have it (an int passes for a float).
    Errors name ``where``."""
    if isinstance(value, str) and not isinstance(default, str):
        value = _coerce(default, value, where)
    return _checked(default, value, where)


# Lower bounds that keep the job sane (a zero lease would let every worker steal every job at once).
_MINIMUM: dict[str, float] = {
    "job.concurrency": 1,
    "job.retries": 1,
    "job.lease_s": 1,
    "job.backoff_s": 0,
    "job.heal_runs": 0,
    "job.heal_backoff_s": 0,
    "fetch.max_bytes": 1,
    "fetch.timeout_s": 0.1,
    "fetch.revalidate_per_s": 0,
    "fetch.revalidate_after_s": 0,
    "fetch.max_redirects": 0,
    "fetch.max_pixels": 1,
    "fetch.crop_size": 16,
    "depth.batch_size": 1,
    "portal.connect_timeout_s": 1,
    "portal.statement_timeout_s": 1,
    "retention.keep_results": 1,
}


def _apply(section_obj: Any, values: dict[str, Any], where: str) -> None:
    names = {f.name for f in dataclasses.fields(section_obj)}
    for key, value in values.items():
        if key not in names:
            raise ConfigError(f"unknown setting {where}.{key}; known: {', '.join(sorted(names))}")
        name = f"{where}.{key}"
        value = coerce_setting(getattr(section_obj, key), value, name)
        if name in _MINIMUM and value < _MINIMUM[name]:
            raise ConfigError(f"{name} must be at least {_MINIMUM[name]:g}, not {value}")
        if name in _ONE_OF and value not in _ONE_OF[name]:
            raise ConfigError(f"{name} = {value!r} is not one of {', '.join(_ONE_OF[name])}")
        setattr(section_obj, key, value)


def load_config(
    path: Path | None = None,
    *,
    environ: dict[str, str] | None = None,
    overrides: dict[str, dict[str, Any]] | None = None,
) -> Config:
    """File, then ``DEPTHSTUDIO_<SECTION>_<KEY>`` variables, then explicit overrides (the CLI flags)."""
    env = os.environ if environ is None else environ
    cfg = Config()
    file = path or Path(env.get("DEPTHSTUDIO_CONFIG") or config_dir() / "config.toml")
    if file.exists():
        try:
            data = tomllib.loads(file.read_text(encoding="utf-8"))
        except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
            raise ConfigError(f"{file} is not valid TOML: {exc}") from None
        for section, values in data.items():
            if section not in _SECTIONS or not isinstance(values, dict):
                raise ConfigError(f"{file}: unknown section [{section}]; known: {', '.join(_SECTIONS)}")
            _apply(getattr(cfg, section), values, section)
        cfg.source = str(file)
    elif path is not None:
        raise ConfigError(f"config file {path} does not exist")
    for section in _SECTIONS:
        obj = getattr(cfg, section)
        prefix = f"{ENV_PREFIX}{section.upper()}_"
        found = {
            f.name: env[prefix + f.name.upper()] for f in dataclasses.fields(obj) if prefix + f.name.upper() in env
        }
        if found:
            _apply(obj, found, section)
    for section, values in (overrides or {}).items():
        _apply(getattr(cfg, section), {k: v for k, v in values.items() if v is not None}, section)
    return cfg


# --- secrets -------------------------------------------------------------------------------------------------

SECRETS: dict[str, str] = {
    # name -> environment variable; the keyring entry is (KEYRING_SERVICE, name)
    "replicate_token": "REPLICATE_API_TOKEN",
    "cloudinary_url": "CLOUDINARY_URL",
    "portal_db_password": "DEPTHSTUDIO_PORTAL_PASSWORD",
}


def get_secret(name: str, *, environ: dict[str, str] | None = None, use_keyring: bool = True) -> str | None:
    """Environment first (cron, CI, containers), then the OS keyring (desktop). Never logged."""
    env = os.environ if environ is None else environ
    value = env.get(SECRETS[name])
    if value:
        return value
    if not use_keyring:
        return None
    try:
        import keyring
        from keyring.errors import KeyringError

        try:
            return keyring.get_password(KEYRING_SERVICE, name)
        except KeyringError:
            return None
    except Exception:  # a broken keyring backend must not stop a headless job
        return None


def set_secret(name: str, value: str) -> None:
    import keyring

    if name not in SECRETS:
        raise ConfigError(f"unknown secret {name}; known: {', '.join(SECRETS)}")
    keyring.set_password(KEYRING_SERVICE, name, value)


def mask(value: str | None) -> str:
    """Enough to recognise which secret is set, never enough to use it."""
    if not value:
        return "(not set)"
    if len(value) <= 8:
        return "****"
    return f"{value[:3]}…{value[-2:]} ({len(value)} chars)"
