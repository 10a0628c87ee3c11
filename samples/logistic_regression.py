"""The lecture's logistic loss log(1 + exp(-y_i (x_i^T w + b))) with labels y_i in {-1, +1},
averaged over the examples, plus an optional L2 penalty lam/2 |w|^2 (the bias is not
penalised). np.logaddexp(0, t) is log(1 + exp(t)) without overflow."""
import numpy as np


def loss(w, b, X, y, lam=0.0):
    margins = y * (X @ w + b)
    return np.mean(np.logaddexp(0, -margins)) + 0.5 * lam * np.sum(w * w)


def predict(w, b, X):
    """The probability of label +1, one per row of X."""
    return 1 / (1 + np.exp(-(X @ w + b)))
