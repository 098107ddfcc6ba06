"""The MQTT event bus: call events, queue snapshots, agent states, transcripts and alerts.

Off by default; :func:`engine.bus.publisher.bus_from_config` returns a publisher that does
nothing unless ``mqtt.host`` is set. The topic tree is in :mod:`engine.bus.topics` and in
``docs/mqtt.md``.
"""

from engine.bus.payloads import SCHEMA_VERSION
from engine.bus.publisher import BusStats, MqttPublisher, NullPublisher, bus_from_config
from engine.bus.topics import Topics

__all__ = [
    "SCHEMA_VERSION",
    "BusStats",
    "MqttPublisher",
    "NullPublisher",
    "Topics",
    "bus_from_config",
]
