"""Counter-based random numbers: every draw is a pure function of (seed, tag, keys).

A case's content is drawn from hashes of its case number rather than from a sequential generator, so the
same case looks the same in every quarter, in any generated range, whatever else was generated before it.
"""

from __future__ import annotations

import zlib

import numpy as np

_M1 = np.uint64(0xBF58476D1CE4E5B9)
_M2 = np.uint64(0x94D049BB133111EB)
_GOLDEN = np.uint64(0x9E3779B97F4A7C15)
_S30, _S27, _S31, _S11 = (np.uint64(n) for n in (30, 27, 31, 11))
_TO_UNIT = 2.0**-53


def _mix(x: np.ndarray) -> np.ndarray:
    """splitmix64 finaliser on a uint64 array (wrapping arithmetic is intended)."""
    x = x ^ (x >> _S30)
    x = x * _M1
    x = x ^ (x >> _S27)
    x = x * _M2
    return x ^ (x >> _S31)


def _as_u64(key: object) -> np.ndarray:
    arr = np.asarray(key)
    if arr.dtype == np.uint64:
        return np.atleast_1d(arr)
    return np.atleast_1d(arr.astype(np.int64)).view(np.uint64)


class Hasher:
    """Uniform draws keyed by a tag name and any number of integer keys (broadcast like numpy)."""

    def __init__(self, seed: int) -> None:
        self._base = _mix(np.array([seed & 0xFFFFFFFFFFFFFFFF], dtype=np.uint64) + _GOLDEN)
        self._tags: dict[str, np.ndarray] = {}

    def _tag(self, tag: str) -> np.ndarray:
        value = self._tags.get(tag)
        if value is None:
            crc = np.array([zlib.crc32(tag.encode("ascii"))], dtype=np.uint64)
            value = _mix(self._base ^ _mix(crc * _GOLDEN))
            self._tags[tag] = value
        return value

    def bits(self, tag: str, *keys: object) -> np.ndarray:
        h = self._tag(tag)
        for key in keys:
            h = _mix((h ^ _as_u64(key)) + _GOLDEN)
        return h

    def u(self, tag: str, *keys: object) -> np.ndarray:
        """Uniform floats in [0, 1)."""
        return (self.bits(tag, *keys) >> _S11).astype(np.float64) * _TO_UNIT

    def below(self, n: int | np.ndarray, tag: str, *keys: object) -> np.ndarray:
        """Integers in [0, n)."""
        return np.floor(self.u(tag, *keys) * n).astype(np.int64)

    def exp(self, mean: float | np.ndarray, tag: str, *keys: object) -> np.ndarray:
        """Exponential draws with the given mean."""
        return -np.log1p(-self.u(tag, *keys)) * mean
