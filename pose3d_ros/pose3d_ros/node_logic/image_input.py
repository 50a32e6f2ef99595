"""sensor_msgs/Image checked before cv_bridge reads it: cv_bridge views the data through width, height and step,
so data that does not match them is read cut or shifted without a word, or fails with a numpy error that names no
field. A message that does not describe its own data is refused with the field that is wrong.
"""

from __future__ import annotations

# Bytes per pixel of the encodings cv_bridge converts (sensor_msgs/image_encodings.hpp).
BYTES_PER_PIXEL = {
    "mono8": 1, "8UC1": 1, "bayer_rggb8": 1, "bayer_bggr8": 1, "bayer_gbrg8": 1, "bayer_grbg8": 1,
    "mono16": 2, "16UC1": 2, "yuv422": 2, "yuv422_yuy2": 2, "uyvy": 2, "yuyv": 2,
    "bgr8": 3, "rgb8": 3, "8UC3": 3,
    "bgra8": 4, "rgba8": 4, "8UC4": 4, "32FC1": 4,
    "bgr16": 6, "rgb16": 6, "16UC3": 6,
    "bgra16": 8, "rgba16": 8, "16UC4": 8,
}


def check_image(width: int, height: int, step: int, encoding: str, data_size: int) -> None:
    """Raise ValueError when an Image's fields do not describe its ``data_size`` bytes of data."""
    if encoding not in BYTES_PER_PIXEL:
        raise ValueError(f"image encoding {encoding!r} is not supported (supported: {', '.join(BYTES_PER_PIXEL)})")
    if width <= 0 or height <= 0:
        raise ValueError(f"image size {width}x{height} is not a picture's size")
    row = width * BYTES_PER_PIXEL[encoding]
    if step < row:
        raise ValueError(f"image step {step} is shorter than a row of {width} {encoding} pixels ({row} bytes)")
    if data_size != step * height:
        raise ValueError(f"image data has {data_size} bytes, but step * height = {step} * {height} = "
                         f"{step * height}")
