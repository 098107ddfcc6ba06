"""The shared vocabulary: events as small frozen dataclasses named as facts.

One module per source keeps owners apart: ``engine.events.ami`` (what Asterisk reported over
AMI) and ``engine.events.speech`` (what the speech path heard). Facts other rooms conclude live
with their owners: an IVR run's record in ``ivr_flows.record``, the monitor's conclusions
(``SurgeDetected``) in ``queueing``, call-taker state changes in ``agents_adapter.model``, a
call's start, ids and end in ``engine.calls``. This is the lowest layer: it imports nothing from
the rest of the project.
"""
