"""Counter-based random streams, identical in numpy and in the Rust kernel.

A stream is a 64-bit key derived from (seed, name parts) by SHA-256. Its i-th 64-bit word is
SplitMix64's output for state ``key + (i + 1) * GOLDEN`` (mod 2**64): a pure function of
(key, i), so any draw can be produced in any order, chunk or thread without shared state.

Uniforms use the top 53 bits and a half-step offset: never 0 (so log is finite); rounding can
give exactly 1.0 for the top word (probability 2**-53), which yields z = 0, not a NaN.
Standard normals come in Box-Muller pairs: pair p uses words 4p and 4p+1 (u1, u2), r = sqrt(-2 ln u1),
theta = 2 pi u2; normal number 2p is r cos(theta) and 2p+1 is r sin(theta) (both branches used, so a
normal costs half a log and half a square root; even-numbered normals read words 2s and 2s+1).
Distributions drawn by inverse CDF (triangular, uniform) use one uniform per draw: draw s is
the uniform of word 2s (``sample_uniforms``).

Stream keys: a factor's stream is ``stream_key(seed, "factor", factor_id)``. An activity line's
stream is ``line_keys(seed, line_hashes(tenants, activity_ids))``: the line's 64-bit hash of
(tenant, activity_id) (seed-free, SHA-256) mixed with the seed's key ``stream_key(seed,
"activity")`` by SplitMix64 (a bijection of the hash for a fixed seed, so distinct lines get
distinct keys). Both are pure functions of (seed, tenant, activity_id).
"""

from __future__ import annotations

import hashlib
import json
import re

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


_PLAIN = re.compile(r'[^"\\\x00-\x1f\x7f]*')


def stream_keys(seed: int, kind: str, names) -> np.ndarray:
    """``stream_key(seed, kind, name)`` for every name, as uint64 (the same payloads, built faster)."""
    prefix = json.dumps([int(seed), str(kind)], separators=(",", ":"), ensure_ascii=False)[:-1] + ","
    sha = hashlib.sha256
    out = []
    for n in names:
        n = str(n)
        quoted = f'"{n}"' if _PLAIN.fullmatch(n) else json.dumps(n, ensure_ascii=False)
        out.append(int.from_bytes(sha(f"{prefix}{quoted}]".encode()).digest()[:8], "little"))
    return np.array(out, dtype=np.uint64)


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
    if n_samples <= 0:
        return np.empty((keys.shape[0], 0))
    p0, p1 = sample_start // 2, (sample_start + n_samples - 1) // 2
    p = np.arange(p0, p1 + 1, dtype=np.uint64).reshape(1, -1)
    u1 = uniforms(keys, np.uint64(4) * p)
    u2 = uniforms(keys, np.uint64(4) * p + np.uint64(1))
    r = np.sqrt(-2.0 * np.log(u1))
    theta = TWO_PI * u2
    z = np.empty((keys.shape[0], 2 * p.shape[1]))
    z[:, 0::2] = r * np.cos(theta)
    z[:, 1::2] = r * np.sin(theta)
    off = sample_start - 2 * p0
    return z[:, off : off + n_samples]


def sample_uniforms(keys: np.ndarray, sample_start: int, n_samples: int) -> np.ndarray:
    """Matrix [len(keys), n_samples]: uniform number 2s of each stream for samples s (inverse-CDF draws)."""
    keys = np.asarray(keys, dtype=np.uint64).reshape(-1, 1)
    s = np.arange(sample_start, sample_start + n_samples, dtype=np.uint64).reshape(1, -1)
    return uniforms(keys, np.uint64(2) * s)


def line_hashes(tenants, activity_ids) -> np.ndarray:
    """Seed-free 64-bit hash of each (tenant, activity_id): SHA-256 of "tenant\x1factivity_id"."""
    sha = hashlib.sha256
    out = [int.from_bytes(sha(f"{t}\x1f{a}".encode()).digest()[:8], "little") for t, a in zip(tenants, activity_ids)]
    return np.array(out, dtype=np.uint64)


def line_keys(seed: int, hashes: np.ndarray) -> np.ndarray:
    """Stream key of each activity line for ``seed`` (see the module docs)."""
    return words(np.uint64(stream_key(seed, "activity")), np.asarray(hashes, dtype=np.uint64))
