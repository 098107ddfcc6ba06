"""A tiny streaming transducer the tests make, in the shape sherpa-onnx loads (``model_type=lstm``).

No trained Mandarin model is reachable from this machine (they are GitHub release assets), so
the sherpa-onnx tests build one whose behaviour is known: it "hears" which half of the
spectrum is louder. Per output frame (4 feature frames, 40 ms) the encoder gives three scores:
blank 0, ``低`` = (mean log-mel of bins 0-24, ~20-700 Hz) - (mean of bins 40-69, ~1.6-4.6 kHz)
- margin, ``高`` the opposite; the decoder forbids repeating the token just emitted, the joiner
adds the two. A 300 Hz tone therefore reads ``低``, a 3 kHz tone ``高``, silence nothing; the real
sherpa-onnx runs the features, chunking, greedy search, tokens and timestamps, as for a real model.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

LOW_HZ = 300.0
HIGH_HZ = 3000.0
CHUNK_FRAMES = 16  # feature frames per encoder call (160 ms), as T and decode_chunk_len


def build_tiny_transducer(directory: Path, margin: float = 4.0) -> Path:
    """Write encoder/decoder/joiner ``.onnx`` and ``tokens.txt`` into ``directory``."""
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    directory.mkdir(parents=True, exist_ok=True)
    f32 = TensorProto.FLOAT

    def ints(name: str, *values: int) -> onnx.TensorProto:
        return numpy_helper.from_array(np.array(values, np.int64), name)

    def save(graph: onnx.GraphProto, name: str, meta: dict[str, object]) -> None:
        model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)])
        model.ir_version = 8  # what the onnxruntime inside sherpa-onnx reads
        helper.set_model_props(model, {k: str(v) for k, v in meta.items()})
        onnx.checker.check_model(model)
        onnx.save(model, directory / name)

    layers, d_model, hidden = 1, 4, 4  # LSTM state shapes sherpa-onnx allocates; passed through unchanged
    encoder = helper.make_graph(
        [
            helper.make_node("Slice", ["x", "lo_from", "lo_to", "bins"], ["lo"]),
            helper.make_node("Slice", ["x", "hi_from", "hi_to", "bins"], ["hi"]),
            helper.make_node("ReduceMean", ["lo"], ["lo_mean"], axes=[2], keepdims=1),
            helper.make_node("ReduceMean", ["hi"], ["hi_mean"], axes=[2], keepdims=1),
            helper.make_node("Sub", ["lo_mean", "hi_mean"], ["tilt"]),
            helper.make_node("Sub", ["tilt", "margin"], ["low"]),
            helper.make_node("Neg", ["tilt"], ["neg_tilt"]),
            helper.make_node("Sub", ["neg_tilt", "margin"], ["high"]),
            helper.make_node("Mul", ["tilt", "zero"], ["blank"]),
            helper.make_node("Concat", ["blank", "low", "high"], ["scores"], axis=2),
            helper.make_node("Slice", ["scores", "first", "last", "time", "four"], ["encoder_out"]),  # 4x subsampling
            helper.make_node("Identity", ["h"], ["next_h"]),
            helper.make_node("Identity", ["c"], ["next_c"]),
        ],
        "encoder",
        [
            helper.make_tensor_value_info("x", f32, ["N", "T", 80]),
            helper.make_tensor_value_info("h", f32, [layers, "N", d_model]),
            helper.make_tensor_value_info("c", f32, [layers, "N", hidden]),
        ],
        [
            helper.make_tensor_value_info("encoder_out", f32, ["N", "T_out", 3]),
            helper.make_tensor_value_info("next_h", f32, [layers, "N", d_model]),
            helper.make_tensor_value_info("next_c", f32, [layers, "N", hidden]),
        ],
        [
            ints("lo_from", 0), ints("lo_to", 25), ints("hi_from", 40), ints("hi_to", 70), ints("bins", 2),
            ints("first", 0), ints("last", 1 << 30), ints("time", 1), ints("four", 4),
            numpy_helper.from_array(np.float32(margin), "margin"), numpy_helper.from_array(np.float32(0.0), "zero"),
        ],
    )
    save(encoder, "encoder.onnx", {
        "model_type": "lstm", "num_encoder_layers": layers, "T": CHUNK_FRAMES, "decode_chunk_len": CHUNK_FRAMES,
        "rnn_hidden_size": hidden, "d_model": d_model,
    })
    no_repeat = np.zeros((3, 3), np.float32)
    no_repeat[1, 1] = no_repeat[2, 2] = -100.0  # after 低 (1) another 低 loses to blank; same for 高
    decoder = helper.make_graph(
        [
            helper.make_node("Slice", ["y", "one", "two", "ctx"], ["last"]),
            helper.make_node("Squeeze", ["last", "ctx"], ["last_id"]),
            helper.make_node("Gather", ["no_repeat", "last_id"], ["decoder_out"], axis=0),
        ],
        "decoder",
        [helper.make_tensor_value_info("y", TensorProto.INT64, ["N", 2])],
        [helper.make_tensor_value_info("decoder_out", f32, ["N", 3])],
        [numpy_helper.from_array(no_repeat, "no_repeat"), ints("one", 1), ints("two", 2), ints("ctx", 1)],
    )
    save(decoder, "decoder.onnx", {"vocab_size": 3, "context_size": 2})
    joiner = helper.make_graph(
        [helper.make_node("Add", ["encoder_out", "decoder_out"], ["logit"])],
        "joiner",
        [helper.make_tensor_value_info("encoder_out", f32, ["N", 3]), helper.make_tensor_value_info("decoder_out", f32, ["N", 3])],
        [helper.make_tensor_value_info("logit", f32, ["N", 3])],
    )
    save(joiner, "joiner.onnx", {})
    (directory / "tokens.txt").write_text("<blk> 0\n低 1\n高 2\n", encoding="utf-8")
    return directory


def tone(hz: float, seconds: float, rate: int, amplitude: float = 0.3) -> np.ndarray:
    t = np.arange(round(seconds * rate)) / rate
    return (amplitude * 32767 * np.sin(2 * np.pi * hz * t)).astype(np.int16)


def silence(seconds: float, rate: int) -> np.ndarray:
    return np.zeros(round(seconds * rate), np.int16)
