"""Small array helpers shared by the mechanisms and the engine."""

from __future__ import annotations

import numpy as np


def sum_over_labs(values: np.ndarray, membership: np.ndarray) -> np.ndarray:
    """``out[..., c] = sum_l values[..., l] * membership[l, c]``, summed in lab order.

    A matrix product would do the same, but BLAS picks its blocking (and so its rounding)
    from the batch size; summing in a fixed order keeps a run's numbers independent of the
    other runs in its batch, bit for bit.
    """
    return (values[..., :, None] * membership).sum(axis=-2)
