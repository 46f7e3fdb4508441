"""Small array helpers shared by the mechanisms and the engine."""

from __future__ import annotations

import numpy as np


def sum_over_labs(values: np.ndarray, membership: np.ndarray) -> np.ndarray:
    """``out[..., c] = sum_l values[..., l] * membership[l, c]``, summed in lab order.

    A matrix product would do the same, but BLAS picks its blocking (and so its rounding)
    from the batch size; summing in a fixed order keeps a run's numbers independent of the
    other runs in its batch, bit for bit. Labs are moved to the front (one contiguous copy)
    so that the sum runs slab by slab over long rows instead of over the short last axis.
    """
    n_labs, n_out = membership.shape
    if values.size < 64 * n_labs:  # a few runs: the direct form has fewer calls, same sums
        return (values[..., :, None] * membership).sum(axis=-2)
    lab_first = np.ascontiguousarray(values.reshape(-1, n_labs).T)  # (L, N)
    sums = (membership.T[:, :, None] * lab_first).sum(axis=1)  # (C, N)
    return sums.T.reshape(*values.shape[:-1], n_out)
