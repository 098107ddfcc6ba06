"""Speech path: PCM frames in, speech events out (VAD, endpointer, Vosk streaming). Knows nothing of Asterisk or sockets."""
