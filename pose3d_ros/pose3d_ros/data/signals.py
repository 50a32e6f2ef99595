"""Smooth random signals of time, for expressions and finger motion.

A signal is a sum of a few sinusoids with random frequencies and phases: a pure function of time, so any set of
frames -- single frames drawn at random or windows resampled to another rate -- sees the same smooth motion.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class SmoothSignals:
    """C independent zero-mean signals with standard deviation 0.5 (so mostly within [-1, 1])."""

    frequencies_hz: np.ndarray  # (C, K)
    phases: np.ndarray  # (C, K)
    amplitudes: np.ndarray  # (C, K)

    @staticmethod
    def sample(rng: np.random.Generator, channels: int, low_hz: float, high_hz: float,
               components: int = 4) -> SmoothSignals:
        """Frequencies log-uniform in [low_hz, high_hz]; the amplitudes favour the slower components."""
        frequencies = np.exp(rng.uniform(np.log(low_hz), np.log(high_hz), (channels, components)))
        weights = rng.uniform(0.3, 1.0, (channels, components)) / np.sqrt(frequencies / low_hz)
        amplitudes = weights * np.sqrt(0.5 / np.sum(weights**2, axis=1, keepdims=True))  # variance 0.25
        return SmoothSignals(frequencies, rng.uniform(0.0, 2.0 * np.pi, (channels, components)), amplitudes)

    def __call__(self, times_s: np.ndarray) -> np.ndarray:
        """Values (T, C) at ``times_s`` (T,) seconds."""
        angle = 2.0 * np.pi * np.asarray(times_s, dtype=np.float64)[:, None, None] * self.frequencies_hz + self.phases
        return np.sum(self.amplitudes * np.sin(angle), axis=-1)
