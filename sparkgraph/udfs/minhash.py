"""MinHash signatures and LSH band keys of integer sets, in numpy (no Spark).

The permutations are datasketch's (version 2.0.0, ``datasketch.MinHash``), drawn the same
way from ``np.random.RandomState(seed)``, so for the same seed, ``num_perm``, scheme and
element hash our signature of a set equals ``datasketch.MinHash(...).hashvalues``:

* ``affine32`` (datasketch's default since 2.0.0): the element hash is pre-mixed once with
  the 32-bit MurmurHash3 finaliser, then ``a*h + b mod 2^32`` (``a`` odd; a bijection).
  Permutations: ``a = 2*randint(0, 2^31) + 1``, ``b = randint(0, 2^32)`` as two arrays.
* ``legacy`` (datasketch before 2.0.0): ``((a*h + b) mod (2^61 - 1)) & (2^32 - 1)``, with
  ``a*h + b`` computed in wrapping uint64 exactly as datasketch's numpy code does;
  ``(a, b)`` drawn in pairs, ``a`` in [1, p), ``b`` in [0, p).

Elements are vertex ids (integers). Their 32-bit element hash is :func:`element_hash`: the low
32 bits of SplitMix64 of the id. Pass ``hashfunc=datasketch_hashfunc`` to datasketch to get
the same hash of an int. An empty set has every entry at the scheme's maximum (as datasketch).

Band keys: band ``j`` of a signature (rows ``j*r .. j*r+r-1``) hashes to one uint64 by
folding SplitMix64 over the band index and its r values.
"""

from __future__ import annotations

import numpy as np

from sparkgraph.udfs.projection import splitmix64

SCHEMES = ("affine32", "legacy")
MERSENNE = np.uint64((1 << 61) - 1)
MAX_HASH32 = np.uint64((1 << 32) - 1)
_LOW32 = np.uint64(0xFFFFFFFF)
CHUNK_CELLS = 4_000_000  # elements x permutations hashed at once (16-32 MB)


def element_hash(ids: np.ndarray) -> np.ndarray:
    """32-bit hash of integer ids (uint64 array holding values < 2^32): low bits of SplitMix64."""
    return splitmix64(np.asarray(ids).astype(np.int64).view(np.uint64)) & _LOW32


def datasketch_hashfunc(value: int) -> int:
    """:func:`element_hash` of one int, as a ``hashfunc`` for ``datasketch.MinHash``."""
    return int(element_hash(np.array([value], dtype=np.int64))[0])


def permutations(num_perm: int, seed: int, scheme: str = "affine32") -> tuple[np.ndarray, np.ndarray]:
    """``(a, b)`` arrays of datasketch's permutations for ``seed`` (uint32 for affine32, uint64 for legacy)."""
    gen = np.random.RandomState(seed)
    if scheme == "legacy":
        pairs = np.array([(gen.randint(1, MERSENNE, dtype=np.uint64), gen.randint(0, MERSENNE, dtype=np.uint64))
                          for _ in range(num_perm)], dtype=np.uint64)
        return pairs[:, 0].copy(), pairs[:, 1].copy()
    a = gen.randint(0, 1 << 31, num_perm, dtype=np.uint32) * np.uint32(2) + np.uint32(1)
    b = gen.randint(0, 1 << 32, num_perm, dtype=np.uint32)
    return a, b


def _fmix32(h: np.ndarray) -> np.ndarray:
    h = h ^ (h >> np.uint32(16))
    h = h * np.uint32(0x85EBCA6B)
    h = h ^ (h >> np.uint32(13))
    h = h * np.uint32(0xC2B2AE35)
    return h ^ (h >> np.uint32(16))


def max_hash(scheme: str) -> int:
    return (1 << 32) - 1


def _permuted(hashes: np.ndarray, a: np.ndarray, b: np.ndarray, scheme: str) -> np.ndarray:
    """``len(hashes) x num_perm`` permuted values (uint32 affine32, uint64 legacy)."""
    if scheme == "legacy":
        with np.errstate(over="ignore"):
            return ((hashes.astype(np.uint64)[:, None] * a + b) % MERSENNE) & MAX_HASH32
    h = _fmix32(hashes.astype(np.uint32))
    return h[:, None] * a + b


def signatures(offsets: np.ndarray, elements: np.ndarray, a: np.ndarray, b: np.ndarray,
               scheme: str = "affine32") -> np.ndarray:
    """MinHash signatures of the sets ``elements[offsets[i]:offsets[i+1]]`` (CSR layout).

    Args:
        offsets: ``k+1`` nondecreasing offsets into ``elements``.
        elements: Integer ids (duplicates are harmless).
        a, b: From :func:`permutations`.
        scheme: affine32 or legacy.

    Returns:
        ``k x num_perm`` int64 array (the unsigned 32-bit values), the empty set all ``2^32 - 1``.

    Example:
        >>> a, b = permutations(64, seed=1)
        >>> signatures(np.array([0, 2, 2]), np.array([5, 9]), a, b).shape
        (2, 64)
    """
    offsets = np.asarray(offsets, dtype=np.int64)
    k, num_perm = len(offsets) - 1, len(a)
    out = np.full((k, num_perm), int(MAX_HASH32), dtype=np.int64)
    total = int(offsets[-1] - offsets[0]) if k else 0
    if total == 0:
        return out
    lengths = np.diff(offsets)
    owner = np.repeat(np.arange(k), lengths)
    hashes = element_hash(np.asarray(elements)[offsets[0]:offsets[-1]])
    step = max(1, CHUNK_CELLS // num_perm)
    for start in range(0, total, step):
        stop = min(total, start + step)
        values = _permuted(hashes[start:stop], a, b, scheme)
        rows = owner[start:stop]
        firsts = np.flatnonzero(np.r_[True, rows[1:] != rows[:-1]])
        reduced = np.minimum.reduceat(values, firsts, axis=0).astype(np.int64)
        who = rows[firsts]
        out[who] = np.minimum(out[who], reduced)
    return out


def band_keys(sigs: np.ndarray, bands: int, rows: int) -> np.ndarray:
    """``k x bands`` uint64 keys: band ``j`` of each signature (rows ``j*rows..``) hashed with ``j``."""
    sigs = np.asarray(sigs, dtype=np.int64).view(np.uint64)
    k = sigs.shape[0]
    keys = np.empty((k, bands), dtype=np.uint64)
    with np.errstate(over="ignore"):
        for j in range(bands):
            h = splitmix64(np.full(k, j, dtype=np.uint64))
            for i in range(j * rows, (j + 1) * rows):
                h = splitmix64(h ^ sigs[:, i])
            keys[:, j] = h
    return keys


def equal_fraction(left: np.ndarray, right: np.ndarray) -> np.ndarray:
    """Row-wise fraction of equal entries of two ``k x num_perm`` signature arrays (the Jaccard estimate)."""
    return (np.asarray(left) == np.asarray(right)).mean(axis=1)
