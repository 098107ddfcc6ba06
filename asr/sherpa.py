"""The sherpa-onnx backend: a streaming transducer behind the recognizer interface Vosk gives.

``[asr] backend = "sherpa-onnx"`` with ``[asr] model`` naming a directory of a streaming
transducer exported for sherpa-onnx (``tokens.txt`` and an encoder, decoder and joiner
``.onnx``; the Mandarin ones are listed in docs/asr.md). The gate, endpointer, pool and
recognizer cache stay as they are: ``SherpaRecognizer`` answers the calls ``LegDecoder``
makes of a ``KaldiRecognizer`` (``AcceptWaveform``, ``PartialResult``, ``FinalResult``,
``SetWords``), so everything above the decoder is the same for both backends.

Differences worth knowing: sherpa-onnx has no grammars (an IVR speech menu is decoded freely
and matched to its phrases afterwards); its own endpointing is off (ours decides); Vosk's
search width (``max_active``, ``beam``) does not apply; the features are computed at 16 kHz,
so legs are resampled by the decoder as for a 16 kHz Vosk model.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from asr.model import ModelNotFoundError
from asr.onnx_meta import OnnxFileError, read_metadata

SAMPLE_RATE = 16000  # what the exported models' fbank features are computed at
LAST_TOKEN_S = 0.2  # how long the last token of an utterance is taken to last (sherpa gives starts only)

# The metadata sherpa-onnx reads (with no default) from each kind of streaming transducer's
# encoder, and from every decoder; a missing key ends the process inside sherpa-onnx.
ENCODER_KEYS = {
    "conformer": ("num_encoder_layers", "T", "decode_chunk_len", "left_context", "encoder_dim", "pad_length",
                  "cnn_module_kernel"),
    "ebranchformer": ("decode_chunk_len", "T", "num_hidden_layers", "hidden_size", "intermediate_size",
                      "csgu_kernel_size", "merge_conv_kernel", "left_context_len", "num_heads", "head_dim"),
    "lstm": ("num_encoder_layers", "T", "decode_chunk_len", "rnn_hidden_size", "d_model"),
    "zipformer": ("encoder_dims", "attention_dims", "num_encoder_layers", "cnn_module_kernels", "left_context_len",
                  "T", "decode_chunk_len"),
    "zipformer2": ("encoder_dims", "query_head_dims", "value_head_dims", "num_heads", "num_encoder_layers",
                   "cnn_module_kernels", "left_context_len", "T", "decode_chunk_len"),
}
DECODER_KEYS = ("vocab_size", "context_size")


class SherpaModelError(ModelNotFoundError):
    """A sherpa-onnx model directory that cannot be used: the message says what is missing."""


@dataclass(frozen=True)
class TransducerFiles:
    tokens: Path
    encoder: Path
    decoder: Path
    joiner: Path


def _pick(directory: Path, part: str) -> Path | None:
    """``part*.onnx`` in ``directory``; the int8 export when both are there (the quantized one,
    which sherpa-onnx publishes for CPUs; not measured here, no trained model being reachable)."""
    found = sorted(directory.glob(f"{part}*.onnx"))
    int8 = [p for p in found if p.name.endswith(".int8.onnx")]
    return (int8 or found or [None])[0]


def transducer_files(directory: str | Path, label: str = "config asr.model") -> TransducerFiles:
    """The files of a streaming transducer in ``directory``, or an error naming what is missing."""
    root = Path(directory).expanduser()
    if not root.is_dir():
        raise SherpaModelError(f"{label} {str(root)!r}: no such directory")
    parts = {part: _pick(root, part) for part in ("encoder", "decoder", "joiner")}
    tokens = root / "tokens.txt"
    missing = [f"{p}*.onnx" for p, f in parts.items() if f is None] + ([] if tokens.is_file() else ["tokens.txt"])
    if missing:
        hint = ""
        if parts["joiner"] is None and parts["encoder"] is not None:
            hint = " (a paraformer or CTC model? only streaming transducers are supported)"
        raise SherpaModelError(
            f"{label} {str(root)!r} is not a sherpa-onnx streaming transducer: missing {', '.join(missing)}{hint}"
        )
    files = TransducerFiles(tokens, parts["encoder"], parts["decoder"], parts["joiner"])  # type: ignore[arg-type]
    _check_metadata(files)
    return files


def _metadata(path: Path) -> dict[str, str]:
    try:
        with path.open("rb") as stream:
            return read_metadata(stream, path.stat().st_size)
    except (OSError, OnnxFileError) as exc:
        raise SherpaModelError(f"{str(path)!r} is not a readable ONNX model: {exc}") from None


def _check_metadata(files: TransducerFiles) -> None:
    """What sherpa-onnx would otherwise die on (see ``ENCODER_KEYS``), as an error naming the file."""
    meta = _metadata(files.encoder)
    kind = meta.get("model_type", "")
    if kind not in ENCODER_KEYS:
        found = f"model_type {kind!r}" if kind else "no model_type in its metadata"
        raise SherpaModelError(
            f"{str(files.encoder)!r}: {found}; expected a streaming transducer ({', '.join(ENCODER_KEYS)})"
        )
    for path, keys, found in ((files.encoder, ENCODER_KEYS[kind], meta),
                              (files.decoder, DECODER_KEYS, _metadata(files.decoder))):
        missing = [k for k in keys if k not in found]
        if missing:
            raise SherpaModelError(f"{str(path)!r}: metadata {', '.join(missing)} missing (not a sherpa-onnx export?)")


class SherpaModel:
    """One loaded transducer, shared read-only by every recognizer of the process (like ``vosk.Model``)."""

    def __init__(self, directory: str | Path) -> None:
        try:
            import sherpa_onnx
        except ImportError:
            raise SherpaModelError(
                "asr backend sherpa-onnx needs the sherpa-onnx package (pip install sherpa-onnx)"
            ) from None
        files = transducer_files(directory)
        self.directory = Path(directory)
        self.sample_rate = SAMPLE_RATE
        try:
            # one intra-op thread per decode: parallelism comes from the decode pool's threads
            self.recognizer = sherpa_onnx.OnlineRecognizer.from_transducer(
                tokens=str(files.tokens), encoder=str(files.encoder), decoder=str(files.decoder),
                joiner=str(files.joiner), num_threads=1, sample_rate=SAMPLE_RATE,
                enable_endpoint_detection=False,
            )
        except Exception as exc:  # the binding raises RuntimeError/ValueError on a bad export
            raise SherpaModelError(f"sherpa-onnx could not load the model in {str(directory)!r}: {exc}") from None

    def new_recognizer(self, rate: int) -> SherpaRecognizer:
        if rate != self.sample_rate:
            raise ValueError(f"sherpa-onnx recognizers take {self.sample_rate} Hz audio, not {rate} Hz")
        return SherpaRecognizer(self)


def _words(tokens: list[str], starts: list[float], probs: list[float], end: float) -> list[dict[str, Any]]:
    """Tokens as words: a CJK character is a word, a BPE piece joins the word before it
    unless it starts with the word mark; a word ends where the next one starts."""
    words: list[dict[str, Any]] = []
    for i, tok in enumerate(tokens):
        conf = float(np.exp(probs[i])) if i < len(probs) else 1.0
        piece = tok.replace("\u2581", "")
        joins = words and not tok.startswith("\u2581") and piece.isascii() and words[-1]["word"].isascii()
        if joins:
            words[-1]["word"] += piece
            words[-1]["conf"] = min(words[-1]["conf"], conf)
        elif piece:
            words.append({"word": piece, "start": starts[i], "end": starts[i], "conf": conf})
    for here, after in zip(words, words[1:], strict=False):
        here["end"] = after["start"]
    if words:
        words[-1]["end"] = max(words[-1]["start"], min(end, words[-1]["start"] + LAST_TOKEN_S))
    return words


class SherpaRecognizer:
    """One leg's sherpa-onnx stream, answering as a ``KaldiRecognizer`` does (one thread at a
    time, as ``LegDecoder`` uses it).

    Word times count from the recognizer's creation (as Vosk's do): each ``FinalResult``
    starts a new stream, whose token times are shifted by the audio accepted before it.
    """

    def __init__(self, model: SherpaModel) -> None:
        self.model = model
        self.words = True
        self._stream = model.recognizer.create_stream()
        self._offset = 0.0  # seconds accepted before the current stream
        self._samples = 0  # samples accepted into the current stream

    def SetWords(self, words: bool) -> None:  # noqa: N802 (Vosk's name)
        self.words = bool(words)

    def AcceptWaveform(self, pcm: bytes) -> bool:  # noqa: N802
        """16-bit PCM at the model's rate; never reports an endpoint (the gate decides those)."""
        samples = np.frombuffer(pcm, dtype="<i2").astype(np.float32) / 32768.0
        rec = self.model.recognizer
        self._stream.accept_waveform(self.model.sample_rate, samples)
        self._samples += samples.size
        while rec.is_ready(self._stream):
            rec.decode_stream(self._stream)
        return False

    def PartialResult(self) -> str:  # noqa: N802
        return json.dumps({"partial": self.model.recognizer.get_result(self._stream)}, ensure_ascii=False)

    def FinalResult(self) -> str:  # noqa: N802
        """Decode what is left of the utterance and start a fresh stream for the next one."""
        rec = self.model.recognizer
        self._stream.input_finished()
        while rec.is_ready(self._stream):
            rec.decode_stream(self._stream)
        res = rec.get_result_all(self._stream)
        duration = self._samples / self.model.sample_rate
        starts = [self._offset + t for t in res.timestamps]
        words = _words(list(res.tokens), starts, list(res.ys_probs), self._offset + duration)
        self._offset += duration
        self._samples = 0
        self._stream = rec.create_stream()
        out: dict[str, Any] = {"text": res.text.strip()}
        if self.words:
            out["result"] = words
        return json.dumps(out, ensure_ascii=False)
