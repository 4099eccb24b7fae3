"""Counter-based random streams, identical in numpy and in the Rust kernel.

A stream is a 64-bit key derived from (seed, name parts) by SHA-256. Its i-th 64-bit word is
SplitMix64's output for state ``key + (i + 1) * GOLDEN`` (mod 2**64): a pure function of
(key, i), so any draw can be produced in any order, chunk or thread without shared state.

Uniforms use the top 53 bits and a half-step offset: never 0 (so log is finite); rounding can
give exactly 1.0 for the top word (probability 2**-53), which yields z = 0, not a NaN.
Standard normal number s of a stream uses words 2s and 2s+1 (Box-Muller, cosine branch).
"""

from __future__ import annotations

import hashlib
import json

import numpy as np

GOLDEN = np.uint64(0x9E3779B97F4A7C15)
_M1 = np.uint64(0xBF58476D1CE4E5B9)
_M2 = np.uint64(0x94D049BB133111EB)
_TWO_POW_M53 = 2.0**-53
TWO_PI = 6.283185307179586


def stream_key(seed: int, *parts: str) -> int:
    """64-bit stream key for (seed, parts), e.g. stream_key(42, "DEFRA:1_100_1004_6")."""
    payload = json.dumps([int(seed), *map(str, parts)], separators=(",", ":"), ensure_ascii=False)
    return int.from_bytes(hashlib.sha256(payload.encode("utf-8")).digest()[:8], "little")


def _mix(z: np.ndarray) -> np.ndarray:
    z = (z ^ (z >> np.uint64(30))) * _M1
    z = (z ^ (z >> np.uint64(27))) * _M2
    return z ^ (z >> np.uint64(31))


def words(keys: np.ndarray, counters: np.ndarray) -> np.ndarray:
    """Word ``counters`` of each stream in ``keys`` (broadcasting), as uint64."""
    keys = np.asarray(keys, dtype=np.uint64)
    counters = np.asarray(counters, dtype=np.uint64)
    with np.errstate(over="ignore"):
        return _mix(keys + (counters + np.uint64(1)) * GOLDEN)


def uniforms(keys: np.ndarray, counters: np.ndarray) -> np.ndarray:
    """Uniform doubles in (0, 1]: never 0, exactly 1.0 only for the top word."""
    w = words(keys, counters)
    return ((w >> np.uint64(11)).astype(np.float64) + 0.5) * _TWO_POW_M53


def standard_normals(keys: np.ndarray, sample_start: int, n_samples: int) -> np.ndarray:
    """Matrix [len(keys), n_samples] of N(0,1) draws for samples sample_start .. +n_samples."""
    keys = np.asarray(keys, dtype=np.uint64).reshape(-1, 1)
    s = np.arange(sample_start, sample_start + n_samples, dtype=np.uint64).reshape(1, -1)
    u1 = uniforms(keys, np.uint64(2) * s)
    u2 = uniforms(keys, np.uint64(2) * s + np.uint64(1))
    return np.sqrt(-2.0 * np.log(u1)) * np.cos(TWO_PI * u2)
