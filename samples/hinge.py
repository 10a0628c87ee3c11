"""The hinge loss of a linear support vector machine, max(0, 1 - y_i (x_i^T w + b)) with
labels y_i in {-1, +1}, averaged over the examples, plus the L1 penalty lam |w|_1 (the bias
is not penalised). Neither term is differentiable everywhere: at a margin of exactly 1 and at
w_j = 0 adc's gradient is one of the subgradients (maximum gives each side half at a tie, abs
gives 0 at 0), which is what subgradient descent needs."""
import numpy as np


def loss(w, b, X, y, lam=0.01):
    margins = y * (X @ w + b)
    return np.mean(np.maximum(0, 1 - margins)) + lam * np.sum(np.abs(w))


def predict(w, b, X):
    """A score in (0, 1), above 0.5 exactly where x^T w + b > 0 (the machine's decision; not
    a calibrated probability)."""
    return 1 / (1 + np.exp(-(X @ w + b)))
