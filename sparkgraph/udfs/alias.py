"""Walker's alias method (Vose's construction): O(1) sampling from a discrete distribution."""

from __future__ import annotations

import numpy as np


def alias_table(weights: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``(prob, alias)`` such that: pick slot i uniformly, keep i with probability ``prob[i]``,
    else take ``alias[i]``; item j is then chosen with probability ``weights[j] / sum(weights)``.

    Example:
        >>> prob, alias = alias_table(np.array([1.0, 3.0]))
        >>> prob.tolist(), alias.tolist()
        ([0.5, 1.0], [1, 1])
    """
    n = len(weights)
    scaled = np.asarray(weights, dtype=np.float64) * n / np.sum(weights)
    prob = np.ones(n)
    alias = np.arange(n)
    small = [i for i in range(n) if scaled[i] < 1.0]
    large = [i for i in range(n) if scaled[i] >= 1.0]
    while small and large:
        s, g = small.pop(), large.pop()
        prob[s], alias[s] = scaled[s], g
        scaled[g] -= 1.0 - scaled[s]
        (small if scaled[g] < 1.0 else large).append(g)
    return prob, alias
