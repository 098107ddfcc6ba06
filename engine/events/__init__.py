"""The shared vocabulary: events as small frozen dataclasses named as facts.

One module per domain keeps owners apart: ``engine.events.ami`` (what Asterisk reported),
``engine.events.speech`` (what the speech path heard), ``engine.events.flow`` (what an IVR
run did), ``engine.events.queue`` (what the monitor concluded). This is the lowest layer:
it imports nothing from the rest of the project.
"""
