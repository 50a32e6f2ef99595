"""Small, exact temporal baselines: gap filling by linear interpolation, and the One-Euro filter.

Both work on arrays of any trailing shape over a time axis of real timestamps (irregular rates are fine), and are
what the learned refiner is measured against (``pose3d eval temporal``); :func:`fill_gaps` is also the refiner's
own pre-fill of missing inputs.
"""

from __future__ import annotations

import math

import numpy as np


def fill_gaps(stamps: np.ndarray, values: np.ndarray, valid: np.ndarray) -> np.ndarray:
    """Replace invalid samples by linear interpolation in time between the nearest valid samples of the same
    element; before the first / after the last valid sample the nearest valid value is held. Elements that are
    never valid are left as they are.

    ``stamps`` (T,) increasing seconds, ``values`` (T, ...), ``valid`` (T, ...) bool with ``values``' leading
    shape (a trailing coordinate axis of ``values`` is interpolated together).
    """
    stamps = np.asarray(stamps, dtype=np.float64)
    values = np.asarray(values)
    valid = np.asarray(valid, dtype=bool)
    frames = len(stamps)
    if values.shape[0] != frames or valid.shape != values.shape[: valid.ndim]:
        raise ValueError(f"stamps {stamps.shape}, values {values.shape} and valid {valid.shape} do not line up")
    if frames and np.any(np.diff(stamps) <= 0):
        raise ValueError("stamps must be strictly increasing")
    if valid.all() or not valid.any():
        return values.copy()
    index = np.arange(frames).reshape((frames,) + (1,) * (valid.ndim - 1))
    previous = np.maximum.accumulate(np.where(valid, index, -1), axis=0)
    following = np.flip(np.minimum.accumulate(np.flip(np.where(valid, index, frames), axis=0), axis=0), axis=0)
    has_prev, has_next = previous >= 0, following < frames
    lo = np.where(has_prev, previous, np.where(has_next, following, index))
    hi = np.where(has_next, following, lo)
    t_lo, t_hi = stamps[lo], stamps[hi]
    t = np.broadcast_to(stamps.reshape(index.shape), lo.shape)
    weight = np.where(hi != lo, (t - t_lo) / np.where(hi != lo, t_hi - t_lo, 1.0), 0.0)
    trailing = (1,) * (values.ndim - valid.ndim)
    weight = weight.reshape(weight.shape + trailing)
    low = np.take_along_axis(values, lo.reshape(lo.shape + trailing), axis=0)
    high = np.take_along_axis(values, hi.reshape(hi.shape + trailing), axis=0)
    return ((1.0 - weight) * low + weight * high).astype(values.dtype, copy=False)


class OneEuroFilter:
    """The One-Euro filter (Casiez, Roussel and Vogel, CHI 2012), element-wise on arrays of any shape.

    A first-order low-pass whose cut-off rises with the (low-passed) speed: ``cutoff = min_cutoff + beta * |dx/dt|``
    (Hz), so slow motion is smoothed hard (little jitter) and fast motion lightly (little lag). Timestamps give
    the sampling period, so dropped or irregular frames are handled.
    """

    def __init__(self, min_cutoff: float = 1.0, beta: float = 0.0, derivative_cutoff: float = 1.0) -> None:
        if min_cutoff <= 0 or derivative_cutoff <= 0 or beta < 0:
            raise ValueError(f"need min_cutoff > 0, derivative_cutoff > 0 and beta >= 0, got {min_cutoff}, "
                             f"{derivative_cutoff}, {beta}")
        self.min_cutoff, self.beta, self.derivative_cutoff = min_cutoff, beta, derivative_cutoff
        self.reset()

    def reset(self) -> None:
        self._stamp: float | None = None
        self._value: np.ndarray | None = None
        self._derivative: np.ndarray | None = None

    @staticmethod
    def _alpha(cutoff: np.ndarray | float, period: float) -> np.ndarray | float:
        tau = 1.0 / (2.0 * math.pi * cutoff)
        return 1.0 / (1.0 + tau / period)

    def __call__(self, stamp: float, value: np.ndarray) -> np.ndarray:
        """Filter one sample taken at ``stamp`` seconds (strictly after the previous one)."""
        value = np.asarray(value, dtype=np.float64)
        if self._stamp is None:
            self._stamp, self._value, self._derivative = stamp, value.copy(), np.zeros_like(value)
            return value.copy()
        period = stamp - self._stamp
        if period <= 0:
            raise ValueError(f"One-Euro filter: stamp {stamp} does not follow {self._stamp}")
        derivative = (value - self._value) / period
        a_d = self._alpha(self.derivative_cutoff, period)
        self._derivative = a_d * derivative + (1.0 - a_d) * self._derivative
        a = self._alpha(self.min_cutoff + self.beta * np.abs(self._derivative), period)
        self._value = a * value + (1.0 - a) * self._value
        self._stamp = stamp
        return self._value.copy()

    def filter_sequence(self, stamps: np.ndarray, values: np.ndarray) -> np.ndarray:
        """Filter a whole sequence (T, ...) from a fresh state."""
        self.reset()
        if len(stamps) == 0:
            return np.asarray(values, dtype=np.float64).copy()
        return np.stack([self(float(t), v) for t, v in zip(stamps, values, strict=True)])
