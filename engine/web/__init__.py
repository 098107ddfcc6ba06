"""Supervisor web page: past calls with transcripts and audio, search, live calls, wallboard,
statistics. See docs/web.md."""

from engine.web.app import HUB, SETTINGS, STORE, WebSettings, create_app, settings_from_config, start_site
from engine.web.live import LiveHub

__all__ = ["HUB", "SETTINGS", "STORE", "LiveHub", "WebSettings", "create_app", "settings_from_config", "start_site"]
