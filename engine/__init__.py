"""hotline engine: shared vocabulary, the Asterisk wire layer, the PBX simulator and the composition root."""

__version__ = "0.1.0"
