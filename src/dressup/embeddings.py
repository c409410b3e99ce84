"""Operations on matrices of embeddings (one row per item): unit rows and principal components.

>>> normalize_rows(np.array([[3.0, 4.0]]))
array([[0.6, 0.8]])
"""

from __future__ import annotations

import numpy as np


def normalize_rows(vectors: np.ndarray) -> np.ndarray:
    """Each row scaled to length 1 (a row of zeros stays zeros)."""
    vectors = np.asarray(vectors)
    return vectors / np.maximum(np.linalg.norm(vectors, axis=-1, keepdims=True), 1e-12)


def principal_components(rows: np.ndarray, dimension: int) -> tuple[np.ndarray, np.ndarray]:
    """The mean of ``rows`` and their ``dimension`` principal components, as a (dimension, features) matrix.

    Eigenvectors of the (features x features) covariance: far cheaper than an SVD of the (n x features) rows.
    """
    rows = np.asarray(rows, dtype=np.float32)
    mean = rows.mean(axis=0, dtype=np.float64).astype(np.float32)
    centred = rows - mean
    values, vectors = np.linalg.eigh((centred.T @ centred).astype(np.float64))
    components = vectors[:, np.argsort(values)[::-1][: min(dimension, rows.shape[1])]].T
    return mean, np.ascontiguousarray(components, dtype=np.float32)
