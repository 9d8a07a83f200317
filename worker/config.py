"""The one typed settings object, loaded from YAML and validated at start-up.

`load_settings(path)` is the only entry point: it reads the file with `yaml.safe_load`, expands
`${ENV_VAR}` references, applies the `NEWSWATCH_*` environment overrides and validates the whole
tree with pydantic. Any problem raises `ConfigError` whose message names the file, the key path
and what is wrong, without echoing secret values.
"""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Annotated, Any, Literal
from urllib.parse import urlsplit

import yaml
from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    field_validator,
    model_validator,
)

from worker.matching.schema import WatchlistSpec
from worker.net.allow import HostAllowlist, normalise_allowed_host
from worker.stories.settings import StoriesSpec

ENV_REF = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)\}")
NAME = r"^[A-Za-z0-9_.-]{1,64}$"


class ConfigError(Exception):
    """The configuration cannot be used; the message names the file, key path and cause."""


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class ServiceSpec(_Strict):
    """Where state lives and how the service identifies itself."""

    data_dir: Path = Path("data")
    database_url: str | None = None  # default: SQLite file in data_dir
    broker_url: str | None = None  # default: kombu SQLAlchemy transport on SQLite in data_dir
    user_agent: str = "newswatch/0.1 (+https://github.com/newswatch/newswatch; conditional GET)"
    tick_seconds: float = Field(default=5.0, ge=0.5, le=300)
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = "INFO"
    memory_limit_mb: int = Field(default=1536, ge=256)  # address-space ceiling per worker process
    consumer_stall_s: float = Field(default=90.0, ge=0)  # Redis: exit after a consumer stall; 0 = off
    # Key of the hash that names destinations in the store; default: data_dir/destination.key
    # (created on first use). Workers on several machines must share it: set it from the environment.
    destination_key: str | None = Field(default=None, min_length=16)


class FetchSpec(_Strict):
    """Limits for every outgoing fetch (feeds and article pages)."""

    deadline_s: float = Field(default=30.0, gt=0, le=300)
    connect_timeout_s: float = Field(default=5.0, gt=0, le=60)
    read_timeout_s: float = Field(default=10.0, gt=0, le=120)
    feed_max_bytes: int = Field(default=5 * 1024 * 1024, ge=1024)
    page_max_bytes: int = Field(default=3 * 1024 * 1024, ge=1024)
    max_entries: int = Field(default=500, ge=1, le=100_000)
    max_redirects: int = Field(default=5, ge=0, le=10)
    max_backoff_s: float = Field(default=86_400.0, ge=60)
    full_fetch_every_s: float = Field(default=86_400.0, ge=60)  # unconditional GET despite validators
    per_host_concurrency: int = Field(default=2, ge=1, le=64)  # across all workers
    per_host_spacing_s: float = Field(default=1.0, ge=0, le=60)  # minimum gap between request starts


class HealthSpec(_Strict):
    """Operator notices: one when a feed keeps failing or goes silent, one when it recovers."""

    operator_channels: list[str] = []
    failing_after: int = Field(default=5, ge=1)  # consecutive errors before the notice
    silent_after_s: float = Field(default=7 * 86_400.0, ge=600)  # no new entry for this long


class DeliverySpec(_Strict):
    """Outbox retry policy: one attempt per entry of `backoff_s`, then `failed`."""

    backoff_s: list[float] = Field(default=[60, 300, 1800, 7200, 21600, 86400], min_length=0)
    lease_s: float = Field(default=300.0, ge=5)
    requeue_after_s: float = Field(default=60.0, ge=1)


class FeedSpec(_Strict):
    """A feed to poll: exactly one of `url` (http/https) or `path` (a local feed file)."""

    name: str = Field(pattern=NAME)
    url: str | None = None
    path: Path | None = None
    interval: int = Field(default=900, ge=10, le=86_400)
    channels: list[str] = []
    # Hosts (names, IP addresses, CIDR networks) this feed, its links and their redirects may
    # reach on private addresses; everything else stays public-only.
    allow_hosts: list[Annotated[str, AfterValidator(normalise_allowed_host)]] = []
    allow_private: bool = False  # shorthand for `allow_hosts: [<the host of url>]`

    @model_validator(mode="after")
    def _one_source(self) -> FeedSpec:
        if (self.url is None) == (self.path is None):
            raise ValueError("give exactly one of `url` or `path`")
        if self.url is not None and not re.match(r"^https?://[^\s/]+", self.url, re.IGNORECASE):
            raise ValueError("`url` must be an http:// or https:// URL")
        if self.allow_private and self.url is None:
            raise ValueError("`allow_private` needs a `url` (it allows that URL's host)")
        return self

    @property
    def allowlist(self) -> HostAllowlist:
        """The hosts this feed may reach on non-public addresses (`allow_hosts`, and the URL's
        host with `allow_private`)."""
        hosts = list(self.allow_hosts)
        if self.allow_private and self.url is not None:
            hosts.append(urlsplit(self.url).hostname or "")
        return HostAllowlist.parse(hosts)

    @property
    def source(self) -> str:
        """The URL, or the local file as a file: URL."""
        return self.url if self.url is not None else Path(str(self.path)).resolve().as_uri()


class Settings(WatchlistSpec):
    """Everything newswatch needs, validated once and passed down explicitly."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    service: ServiceSpec = ServiceSpec()
    fetch: FetchSpec = FetchSpec()
    delivery: DeliverySpec = DeliverySpec()
    health: HealthSpec = HealthSpec()
    stories: StoriesSpec = StoriesSpec()
    feeds: list[FeedSpec] = []
    channels: dict[str, list[str]] = {}
    default_channels: list[str] = []

    @field_validator("channels")
    @classmethod
    def _channel_names(cls, value: dict[str, list[str]]) -> dict[str, list[str]]:
        for name, urls in value.items():
            if not re.match(NAME, name):
                raise ValueError(f"channel name {name!r} must match {NAME}")
            if not urls:
                raise ValueError(f"channel {name!r} has no destination URLs")
        return value

    @model_validator(mode="after")
    def _references(self) -> Settings:
        names = [f.name for f in self.feeds]
        dupes = sorted({n for n in names if names.count(n) > 1})
        if dupes:
            raise ValueError(f"duplicate feed names: {', '.join(dupes)}")
        known = set(self.channels)
        users = [("default_channels", self.default_channels)]
        users += [("health.operator_channels", self.health.operator_channels)]
        users += [(f"feed {f.name!r}", f.channels) for f in self.feeds]
        users += [(f"watch {w.id!r}", w.channels) for w in self.watches]
        for owner, wanted in users:
            missing = [c for c in wanted if c not in known]
            if missing:
                raise ValueError(f"{owner} names unknown channel(s): {', '.join(missing)}")
        return self

    @property
    def database_url(self) -> str:
        """The SQLAlchemy URL of the state store."""
        return self.service.database_url or f"sqlite:///{self.service.data_dir / 'newswatch.db'}"

    @property
    def broker_url(self) -> str:
        """The Celery broker URL (embedded SQLite transport by default)."""
        return self.service.broker_url or f"sqla+sqlite:///{self.service.data_dir / 'broker.db'}"

    def destinations(self, channel: str) -> list[str]:
        """The Apprise URLs of one channel (empty when the channel is unknown)."""
        return list(self.channels.get(channel, []))

    def secrets(self) -> list[str]:
        """Every destination URL: the values a log redaction filter must mask."""
        return [url for urls in self.channels.values() for url in urls]


def load_settings(path: str | Path | None = None) -> Settings:
    """Load and validate the configuration file.

    `path` defaults to `$NEWSWATCH_CONFIG`, then `newswatch.yaml` in the working directory.
    Relative paths inside the file (`service.data_dir`, feed `path`) are resolved against the
    file's directory. `NEWSWATCH_DATABASE_URL` and `NEWSWATCH_BROKER_URL` override the file.
    """
    file = Path(path or os.environ.get("NEWSWATCH_CONFIG") or "newswatch.yaml")
    try:
        raw = yaml.safe_load(file.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ConfigError(f"{file}: file not found") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"{file}: cannot read: {exc}") from None
    except yaml.YAMLError as exc:
        raise ConfigError(f"{file}: not valid YAML: {_yaml_problem(exc)}") from None
    if raw is None:
        raw = {}
    if not isinstance(raw, dict):
        raise ConfigError(f"{file}: the top level must be a mapping of keys, not {type(raw).__name__}")
    try:
        tree = _expand(raw, ())
    except _MissingEnv as exc:
        raise ConfigError(f"{file}: {exc}") from None
    _apply_overrides(tree)
    _resolve_paths(tree, file.resolve().parent)
    try:
        _expand_apprise_configs(tree, file.resolve().parent)
    except ValueError as exc:
        raise ConfigError(f"{file}: {exc}") from None
    try:
        return Settings.model_validate(tree)
    except ValidationError as exc:
        raise ConfigError(f"{file}: invalid configuration:\n{format_errors(exc)}") from None


def format_errors(exc: ValidationError) -> str:
    """One line per problem: `key.path[0].name: message` (input values are not echoed)."""
    lines = []
    for err in exc.errors(include_input=False, include_url=False):
        loc = _key_path(err["loc"]) or "(top level)"
        msg = err["msg"].removeprefix("Value error, ")
        if err["type"] == "extra_forbidden":
            msg = "unknown key"
        lines.append(f"  {loc}: {msg}")
    return "\n".join(lines)


def _key_path(loc: tuple[Any, ...]) -> str:
    out = ""
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
        elif not str(part).startswith(("function-after", "function-before")):
            out += f".{part}" if out else str(part)
    return out


def _yaml_problem(exc: yaml.YAMLError) -> str:
    mark = getattr(exc, "problem_mark", None)
    problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
    return f"{problem} (line {mark.line + 1}, column {mark.column + 1})" if mark else str(problem)


class _MissingEnv(Exception):
    pass


def _expand(node: Any, loc: tuple[Any, ...]) -> Any:
    """Replace `${VAR}` in every string; a missing variable raises `_MissingEnv` naming it."""
    if isinstance(node, dict):
        return {k: _expand(v, (*loc, k)) for k, v in node.items()}
    if isinstance(node, list):
        return [_expand(v, (*loc, i)) for i, v in enumerate(node)]
    if isinstance(node, str):

        def sub(m: re.Match[str]) -> str:
            value = os.environ.get(m.group(1))
            if value is None:
                raise _MissingEnv(f"{_key_path(loc)}: environment variable {m.group(1)} is not set")
            return value

        return ENV_REF.sub(sub, node)
    return node


def _apply_overrides(tree: dict[str, Any]) -> None:
    service = tree.setdefault("service", {})
    if not isinstance(service, dict):
        return
    for env, key in (("NEWSWATCH_DATABASE_URL", "database_url"), ("NEWSWATCH_BROKER_URL", "broker_url")):
        if os.environ.get(env):
            service[key] = os.environ[env]


def _resolve_paths(tree: dict[str, Any], base: Path) -> None:
    service = tree.get("service")
    if isinstance(service, dict):
        service["data_dir"] = str(base / str(service.get("data_dir", "data")))
    for feed in tree.get("feeds") or []:
        if isinstance(feed, dict) and isinstance(feed.get("path"), str):
            feed["path"] = str(base / feed["path"])
    channels = tree.get("channels")
    for urls in channels.values() if isinstance(channels, dict) else []:
        for i, url in enumerate(urls if isinstance(urls, list) else []):
            # the built-in jsonl:// archive writes relative to the config file, like data_dir
            if isinstance(url, str) and url.startswith("jsonl://") and not url.startswith("jsonl:///"):
                urls[i] = f"jsonl://{base / url.removeprefix('jsonl://')}"


def _expand_apprise_configs(tree: dict[str, Any], base: Path) -> None:
    """Replace each `{config: FILE}` entry of a channel by the URLs of that Apprise config file."""
    channels = tree.get("channels")
    if not isinstance(channels, dict):
        return
    for name, entries in channels.items():
        if not isinstance(entries, list):
            continue
        expanded: list[Any] = []
        for i, entry in enumerate(entries):
            if isinstance(entry, dict) and set(entry) == {"config"}:
                expanded += _apprise_config_urls(base / str(entry["config"]), f"channels.{name}[{i}].config")
            else:
                expanded.append(entry)
        channels[name] = expanded


def _apprise_config_urls(path: Path, key: str) -> list[str]:
    from apprise import AppriseAsset, AppriseConfig

    if not path.is_file():
        raise ValueError(f"{key}: Apprise config file {path} not found")
    config = AppriseConfig(asset=AppriseAsset(secure_logging=True))  # no includes, no recursion
    config.add(str(path))
    # Apprise writes out its own defaults; overflow=upstream would defeat our truncation.
    urls = [str(s.url(privacy=False)).replace("overflow=upstream&", "") for s in config.services()]  # type: ignore[no-untyped-call]
    if not urls:
        raise ValueError(f"{key}: no notification URLs could be loaded from {path}")
    return urls
