"""Softmax regression: class probabilities softmax(X W + b), one row per example, scored by
the mean cross-entropy against one-hot labels Y (`loss`) or by the Brier score (`brier`).
softmax and log_softmax are written the stable way: subtracting each row's largest score
(np.max with keepdims=True) changes neither, and keeps np.exp from overflowing however large
the scores grow. Where scores tie for the largest, np.max shares its adjoint among them, and
the gradient is the same whichever way it is shared: the shift cancels."""
import numpy as np


def softmax(z):
    """Each row of z as probabilities: exp(z - max) / sum(exp(z - max))."""
    e = np.exp(z - np.max(z, axis=-1, keepdims=True))
    return e / np.sum(e, axis=-1, keepdims=True)


def log_softmax(z):
    """log softmax(z), row by row: (z - max) - log(sum(exp(z - max)))."""
    shifted = z - np.max(z, axis=-1, keepdims=True)
    return shifted - np.log(np.sum(np.exp(shifted), axis=-1, keepdims=True))


def loss(W, b, X, Y):
    """The mean over the examples of -sum_k Y_ik log softmax(X W + b)_ik."""
    return -np.mean(np.sum(Y * log_softmax(X @ W + b), axis=1))


def brier(W, b, X, Y):
    """The mean over the examples of sum_k (softmax(X W + b)_ik - Y_ik)^2."""
    r = softmax(X @ W + b) - Y
    return np.mean(np.sum(r * r, axis=1))
