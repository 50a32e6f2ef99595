"""Input images -> the contiguous 8-bit RGB array MediaPipe expects, with clear errors for what cannot be used."""

from __future__ import annotations

import cv2
import numpy as np

COLOR_ORDERS = ("bgr", "rgb")

_TO_RGB = {  # (channels, colour order) -> OpenCV conversion, None when already RGB
    (1, "bgr"): cv2.COLOR_GRAY2RGB, (1, "rgb"): cv2.COLOR_GRAY2RGB,
    (3, "bgr"): cv2.COLOR_BGR2RGB, (3, "rgb"): None,
    (4, "bgr"): cv2.COLOR_BGRA2RGB, (4, "rgb"): cv2.COLOR_RGBA2RGB,
}


def to_rgb(image: np.ndarray, color_order: str = "bgr") -> np.ndarray:
    """Convert an image to a C-contiguous (H, W, 3) uint8 RGB array.

    Accepted: (H, W) or (H, W, 1) grey, (H, W, 3) colour and (H, W, 4) colour with alpha, in ``color_order``
    ("bgr", OpenCV's and cv_bridge's default, or "rgb"); uint8, or uint16 scaled from the full 16-bit range.
    Anything else raises ValueError saying what was received and what is expected.
    """
    if color_order not in COLOR_ORDERS:
        raise ValueError(f"unknown colour order {color_order!r}; expected one of {', '.join(COLOR_ORDERS)}")
    if not isinstance(image, np.ndarray):
        raise ValueError(f"an image must be a numpy array, got {type(image).__name__}")
    if image.size == 0:
        raise ValueError(f"empty image of shape {image.shape}")
    channels = 1 if image.ndim == 2 else image.shape[-1] if image.ndim == 3 else 0
    if (channels, color_order) not in _TO_RGB:
        raise ValueError(f"unsupported image shape {image.shape}: expected (H, W) grey, or (H, W, C) with C = 1 "
                         "(grey), 3 (colour) or 4 (colour + alpha)")
    if image.dtype == np.uint16:
        image = (image >> 8).astype(np.uint8)
    elif image.dtype != np.uint8:
        raise ValueError(f"unsupported image dtype {image.dtype}: expected uint8 or uint16 "
                         "(scale float images to 0-255 and convert them to uint8 first)")
    conversion = _TO_RGB[channels, color_order]
    rgb = image if conversion is None else cv2.cvtColor(image, conversion)
    return np.ascontiguousarray(rgb)
