"""Small array helpers shared by the mechanisms and the engine."""

from __future__ import annotations

import numpy as np

from sim.core.kernels import best_of_others_rows

#: Up to this many values, ``sum_over_labs`` multiplies and sums directly (fewer numpy calls).
_FEW = 1024


def sum_over_labs(values: np.ndarray, membership: np.ndarray) -> np.ndarray:
    """``out[..., c] = sum_l values[..., l] * membership[l, c]``, summed in lab order.

    A matrix product would do the same, but BLAS picks its blocking (and so its rounding)
    from the batch size; summing in a fixed order keeps a run's numbers independent of the
    other runs in its batch, bit for bit. Beyond a few runs, a 0/1 membership with at most one
    group per lab (camps, jurisdictions) sums each group's members with one ``bincount``, in
    lab order; any other membership moves labs to the front (one contiguous copy) so that the
    sum runs slab by slab over long rows instead of over the short last axis. The three give
    the same sums for finite values (skipping the ``x * 0`` terms can only change the sign of
    a zero sum).
    """
    n_labs, n_out = membership.shape
    if values.size <= _FEW:  # the direct form has fewer calls
        return (values[..., :, None] * membership).sum(axis=-2)
    rows = values.reshape(-1, n_labs)
    if ((membership == 0) | (membership == 1)).all() and (membership.sum(axis=1) <= 1).all():
        group = np.where(membership.any(axis=1), membership.argmax(axis=1), n_out)  # (L,)
        cell = np.arange(len(rows))[:, None] * (n_out + 1) + group  # n_out: no group
        sums = np.bincount(cell.ravel(), weights=rows.ravel(), minlength=cell.size // n_labs
                           * (n_out + 1)).reshape(len(rows), n_out + 1)[:, :n_out]
        return sums.reshape(*values.shape[:-1], n_out)
    lab_first = np.ascontiguousarray(rows.T)  # (L, N)
    sums = (membership.T[:, :, None] * lab_first).sum(axis=1)  # (C, N)
    return sums.T.reshape(*values.shape[:-1], n_out)


def best_of_others(scores: np.ndarray) -> np.ndarray:
    """``out[..., l]`` = the largest of ``scores[..., j]`` over the other labs ``j != l``
    (-inf where there is none): the best score for every lab but the best, the second best for
    the best (the first of equal bests counts as the best, so a tie gives its own value;
    :func:`sim.core.kernels.best_of_others_rows`)."""
    rows = np.ascontiguousarray(scores, dtype=float).reshape(-1, scores.shape[-1])
    return best_of_others_rows(rows).reshape(scores.shape)
