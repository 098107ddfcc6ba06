"""Voice activity detectors behind one interface; ``make_vad`` picks one by name."""

from asr.vad.base import VoiceDetector, make_vad

__all__ = ["VoiceDetector", "make_vad"]
