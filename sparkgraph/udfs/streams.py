"""Counter-based random streams: every draw a pure function of (seed, entity, counter) (numpy only).

A stream is a 64-bit key. Its draw number ``c`` is SplitMix64's output for the state
``key + c · γ`` (γ the golden-ratio increment), i.e. the ``c``-th output of a SplitMix64
generator seeded with the key. Nothing is carried from one draw to the next, so any draw can be
made in any order, on any worker, vectorised over many streams at once: a result that uses the
stream of entity ``e`` depends only on ``(seed, e)``, never on how the work was split.

Personalized PageRank (:mod:`sparkgraph.udfs.walks`) keys one stream per source,
``stream_keys(seed, sources, salt)``; walker ``j`` of a source walks on the sub-stream keyed by
that stream's draw ``j`` (:func:`substream_keys`), and takes draw ``t`` of its own stream at step ``t``.

Example:
    >>> keys = stream_keys(7, np.array([0, 5]), salt=1)
    >>> u = unit_draws(keys, 3)  # draw 3 of the streams of entities 0 and 5
    >>> bool(np.all((0 <= u) & (u < 1)))
    True
"""

from __future__ import annotations

import numpy as np

from sparkgraph.udfs.projection import splitmix64

_GAMMA = np.uint64(0x9E3779B97F4A7C15)
MAX_SEED = 2**63 - 1  # seeds are non-negative 64-bit integers (a Spark long)


def stream_keys(seed: int, ids: np.ndarray, salt: int = 0) -> np.ndarray:
    """One stream key (uint64) per entity id: a hash of ``(seed, salt, id)``.

    Args:
        seed: The user's seed, ``0 <= seed <= MAX_SEED``.
        ids: Entity ids (non-negative integers: dense vertex ids, say).
        salt: Separates the streams of different uses of the same entities.
    """
    base = splitmix64(splitmix64(np.array([seed], dtype=np.uint64)) ^ np.uint64(salt))
    return splitmix64(np.asarray(ids, dtype=np.int64).astype(np.uint64) ^ base)


def draw_bits(keys: np.ndarray, counter: int | np.ndarray) -> np.ndarray:
    """Draw ``counter`` (one for all keys, or one per key) of each stream, as 64 random bits."""
    return splitmix64(keys + np.asarray(counter, dtype=np.uint64) * _GAMMA)


def substream_keys(keys: np.ndarray, index: int | np.ndarray) -> np.ndarray:
    """Keys of sub-streams: the ``index``-th sub-stream of a stream is keyed by its draw ``index``."""
    return draw_bits(keys, index)


def unit_draws(keys: np.ndarray, counter: int | np.ndarray) -> np.ndarray:
    """Draw ``counter`` of each stream as a float64 uniform in [0, 1) (53 random bits)."""
    return (draw_bits(keys, counter) >> np.uint64(11)).astype(np.float64) * (1.0 / 2**53)
