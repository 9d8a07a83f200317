"""The one typed settings object, loaded from YAML and validated at start-up.

`load_settings(path)` is the only entry point: it reads the file with `yaml.safe_load`, expands
`${ENV_VAR}` references, applies the `NEWSWATCH_*` environment overrides and validates the whole
tree with pydantic. Any problem raises `ConfigError` whose message names the file, the key path
and what is wrong, without echoing secret values.
"""

from __future__ import annotations

import functools
import os
import re
from pathlib import Path
from typing import Annotated, Any, Literal
from urllib.parse import urlsplit

import yaml
from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
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
    # The hard time limit of one task. Everything that must outlive a running task derives from it:
    # the soft limit (`task_soft_limit_s`) and the leases that a poll and an entry hold
    # (`lease_s`), so a lease never ends while its task may still be running.
    task_time_limit_s: float = Field(default=120.0, ge=20, le=3600)
    # Key of the hash that names destinations in the store; default: data_dir/destination.key
    # (created on first use). Workers on several machines must share it: set it from the environment.
    destination_key: str | None = Field(default=None, min_length=16)

    @property
    def task_soft_limit_s(self) -> float:
        """The soft time limit: a quarter of the hard limit is left to record the failure."""
        return self.task_time_limit_s * 0.75

    @property
    def lease_s(self) -> float:
        """How long a claimed poll or a processing entry is held: the longest a task can run."""
        return self.task_time_limit_s


BACKFILL = re.compile(r"^(\d+(?:\.\d+)?)\s*([smhd]?)$")  # a duration: 3600, 90s, 30m, 2h, 1d


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


MIN_ENTRY_DAYS = 30  # an entry dedupes its feed item: keep it far longer than any feed lists it


class RetentionSpec(_Strict):
    """`retention:` how many days rows are kept before the pruning task (worker/retention.py)
    deletes them; `0` or null keeps them forever. Rows still referenced are never deleted."""

    articles_days: int | None = Field(default=30, ge=0)  # articles without alerts, by processed_at
    entries_days: int | None = Field(default=90, ge=0)  # processed entries, by first seen_at
    deliveries_sent_days: int | None = Field(default=90, ge=0)  # sent deliveries, by sent_at
    deliveries_failed_days: int | None = Field(default=180, ge=0)  # failed deliveries, by created_at
    batch_size: int = Field(default=1000, ge=1, le=100_000)  # rows per table per run
    every_s: float = Field(default=3600.0, ge=60)  # how often beat runs the pruning task

    @field_validator("entries_days")
    @classmethod
    def _entries_outlive_feeds(cls, value: int | None) -> int | None:
        if value and value < MIN_ENTRY_DAYS:
            raise ValueError(
                f"must be 0 (keep forever) or at least {MIN_ENTRY_DAYS}: a pruned entry still listed "
                "by its feed would be processed and alerted again"
            )
        return value


def duration_seconds(value: object) -> float:
    """A duration: seconds as a number, or a string such as 90s, 30m, 2h, 1d."""
    if isinstance(value, bool):
        raise ValueError("must be a duration such as 3600, 90m, 2h or 1d")
    if isinstance(value, int | float):
        seconds = float(value)
    else:
        m = BACKFILL.match(str(value).strip().lower())
        if m is None:
            raise ValueError("must be a duration such as 3600, 90m, 2h or 1d")
        seconds = float(m.group(1)) * {"": 1, "s": 1, "m": 60, "h": 3600, "d": 86_400}[m.group(2)]
    if seconds < 0:
        raise ValueError("must not be negative")
    return seconds


Duration = Annotated[float, BeforeValidator(duration_seconds)]


class CooldownSpec(_Strict):
    """`messages.cooldown`: watch id → duration, channel name → duration."""

    watches: dict[str, Duration] = {}
    channels: dict[str, Duration] = {}

    def of(self, watch_id: str, channel: str) -> float:
        """The cooldown of one watch on one channel: the longer of the two settings."""
        return max(self.watches.get(watch_id, 0.0), self.channels.get(channel, 0.0))

    @property
    def longest(self) -> float:
        """The longest cooldown configured (0 when none)."""
        return max([0.0, *self.watches.values(), *self.channels.values()])


class QuietHoursSpec(_Strict):
    """`messages.quiet_hours.<channel>`: from `start` to `end` (local time in `timezone`; the
    window may span midnight) new messages wait for `end`, unless one of their watches is in
    `bypass_watches` or scores at least `bypass_score`."""

    start: str = Field(pattern=r"^([01]\d|2[0-3]):[0-5]\d$")
    end: str = Field(pattern=r"^([01]\d|2[0-3]):[0-5]\d$")
    timezone: str = "UTC"
    bypass_score: float | None = None
    bypass_watches: list[str] = []

    @field_validator("timezone")
    @classmethod
    def _known_zone(cls, value: str) -> str:
        from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(f"unknown time zone {value!r} (an IANA name such as Europe/Berlin)") from None
        return value

    @model_validator(mode="after")
    def _not_empty(self) -> QuietHoursSpec:
        if self.start == self.end:
            raise ValueError("start and end are equal: the window would be empty")
        return self


class DigestSpec(_Strict):
    """`messages.digest.<channel>`: `hourly` or `daily at HH:MM` (local time in `timezone`). The
    bare string form `digest: {email: "daily at 08:00"}` means the UTC zone."""

    every: str
    timezone: str = "UTC"

    @model_validator(mode="before")
    @classmethod
    def _bare(cls, value: Any) -> Any:
        return {"every": value} if isinstance(value, str) else value

    @field_validator("every")
    @classmethod
    def _schedule(cls, value: str) -> str:
        from worker.digests import parse_schedule

        parse_schedule(value)
        return value

    @field_validator("timezone")
    @classmethod
    def _known_zone(cls, value: str) -> str:
        return QuietHoursSpec._known_zone(value)


class SpikeSpec(_Strict):
    """`messages.spikes.<watch>`: alert when the watch matched at least `articles` distinct reports
    (syndicated copies counted once) from at least `outlets` outlets within `within` (worker/spikes.py)."""

    articles: int = Field(ge=2, le=10_000)
    outlets: int = Field(default=2, ge=1, le=10_000)
    within: Duration

    @model_validator(mode="after")
    def _sane(self) -> SpikeSpec:
        if self.outlets > self.articles:
            raise ValueError("outlets must not exceed articles (each outlet brings at least one report)")
        if not 60 <= self.within <= 7 * 86_400:
            raise ValueError("within must be between 1m and 7d")
        return self


class MessagesSpec(_Strict):
    """One message per story (worker/messages.py): when a later article of an announced story
    sends a follow-up. A follow-up needs a material change since the story's last message (the
    outlet count crossing one of `followup_outlets`, a new language, a newly matching watch, or a
    watch's score at least `followup_score_factor` times the best announced one), at least
    `followup_min_interval_s` since that message, and fewer than `followup_daily_cap` follow-ups
    of the story in the last 24 hours."""

    followup_outlets: list[int] = Field(default=[2, 3, 5, 10])
    followup_min_interval_s: float = Field(default=1800.0, ge=0)
    followup_daily_cap: int = Field(default=4, ge=0, le=1000)  # 0: never a follow-up
    followup_score_factor: float = Field(default=1.5, gt=1)
    # Cooldowns hold a NEW story's message back from a channel while a watch it matched was
    # announced there within the cooldown (per watch id, per channel name; the longer applies).
    # Follow-ups of a story already announced keep their own interval and cap.
    cooldown: CooldownSpec = Field(default_factory=lambda: CooldownSpec())
    quiet_hours: dict[str, QuietHoursSpec] = {}  # channel name → its quiet hours
    digest: dict[str, DigestSpec] = {}  # channel name → its digest schedule (worker/digests.py)
    spikes: dict[str, SpikeSpec] = {}  # watch id → its spike thresholds (worker/spikes.py)

    @field_validator("followup_outlets")
    @classmethod
    def _ascending(cls, value: list[int]) -> list[int]:
        if any(n < 2 for n in value) or value != sorted(set(value)):
            raise ValueError("must be distinct outlet counts of at least 2, in ascending order")
        return value


def backfill_seconds(value: str) -> float | None:
    """`backfill` as seconds: None for `all` (every entry alerts), 0 for `none`."""
    if value == "all":
        return None
    if value == "none":
        return 0.0
    m = BACKFILL.match(value)
    if m is None:
        raise ValueError("must be `all`, `none` or a duration such as 24h, 90m, 2d or 3600s")
    return float(m.group(1)) * {"": 1, "s": 1, "m": 60, "h": 3600, "d": 86_400}[m.group(2)]


class BasicAuthSpec(_Strict):
    """HTTP basic authentication for `newswatch serve`."""

    user: str = Field(min_length=1)
    password: str = Field(min_length=12)


class ServeSpec(_Strict):
    """`newswatch serve`: the read-only dashboard, `/metrics`, `/healthz` and `/readyz`.

    Bound to anything but a loopback address it needs `token` (an `Authorization: Bearer` header,
    for Prometheus) or `basic_auth` (for browsers), or both."""

    bind: str = "127.0.0.1"
    port: int = Field(default=8080, ge=1, le=65_535)
    token: str | None = Field(default=None, min_length=16)
    basic_auth: BasicAuthSpec | None = None
    tick_stale_s: float = Field(default=120.0, ge=1)  # /readyz, health --role beat: scheduler silent
    stall_after_s: float = Field(default=600.0, ge=1)  # /readyz: due work untouched this long

    @model_validator(mode="after")
    def _auth_when_exposed(self) -> ServeSpec:
        problem = exposure_problem(self, self.bind)
        if problem:
            raise ValueError(problem)
        return self


def exposure_problem(spec: ServeSpec, bind: str) -> str | None:
    """Why `serve` must not listen on `bind` with these settings, or None."""
    if is_loopback(bind) or spec.token or spec.basic_auth:
        return None
    return (
        f"binding to {bind} (not a loopback address) needs `serve.token` or `serve.basic_auth`; "
        "set one, or bind to 127.0.0.1"
    )


def is_loopback(host: str) -> bool:
    """Whether `host` names only this machine (localhost, 127.0.0.0/8, ::1)."""
    import ipaddress

    if host.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


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
    # On the first poll, entries published longer ago than this are recorded as seen without
    # alerting: `all` (alert on the whole backlog), `none` (only what appears later) or a duration.
    backfill: str = "24h"

    @field_validator("backfill", mode="before")
    @classmethod
    def _backfill(cls, value: object) -> str:
        text = str(value).strip().lower()
        backfill_seconds(text)
        return text

    @model_validator(mode="after")
    def _one_source(self) -> FeedSpec:
        if (self.url is None) == (self.path is None):
            raise ValueError("give exactly one of `url` or `path`")
        if self.url is not None and not re.match(r"^https?://[^\s/]+", self.url, re.IGNORECASE):
            raise ValueError("`url` must be an http:// or https:// URL")
        if self.allow_private and self.url is None:
            raise ValueError("`allow_private` needs a `url` (it allows that URL's host)")
        return self

    @functools.cached_property
    def allowlist(self) -> HostAllowlist:
        """The hosts this feed may reach on non-public addresses (`allow_hosts`, and the URL's
        host with `allow_private`); parsed once, the spec being immutable."""
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
    messages: MessagesSpec = MessagesSpec()
    serve: ServeSpec = ServeSpec()
    retention: RetentionSpec = RetentionSpec()
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
        users += [("messages.cooldown.channels", list(self.messages.cooldown.channels))]
        users += [("messages.quiet_hours", list(self.messages.quiet_hours))]
        users += [("messages.digest", list(self.messages.digest))]
        for owner, wanted in users:
            missing = [c for c in wanted if c not in known]
            if missing:
                raise ValueError(f"{owner} names unknown channel(s): {', '.join(missing)}")
        named = [*self.messages.cooldown.watches, *self.messages.spikes]
        named += [w for q in self.messages.quiet_hours.values() for w in q.bypass_watches]
        unknown = sorted(set(named) - {w.id for w in self.watches})
        if unknown:
            raise ValueError("messages.cooldown / quiet_hours / spikes name unknown watch(es): "
                             + ", ".join(unknown))
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
        """Every destination URL and the dashboard's credentials: the values a log redaction
        filter must mask."""
        serve = [self.serve.token or "", self.serve.basic_auth.password if self.serve.basic_auth else ""]
        return [url for urls in self.channels.values() for url in urls] + [s for s in serve if s]


def load_settings(path: str | Path | None = None) -> Settings:
    """Load and validate the configuration file.

    `path` defaults to `$NEWSWATCH_CONFIG`, then `newswatch.yaml` in the working directory.
    Relative paths inside the file (`service.data_dir`, feed `path`) are resolved against the
    file's directory. `NEWSWATCH_DATABASE_URL`, `NEWSWATCH_BROKER_URL` and `NEWSWATCH_SERVE_TOKEN`
    (`serve.token`) override the file.
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
    serve = tree.setdefault("serve", {})
    if os.environ.get("NEWSWATCH_SERVE_TOKEN") and isinstance(serve, dict):
        serve["token"] = os.environ["NEWSWATCH_SERVE_TOKEN"]


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
