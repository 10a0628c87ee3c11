"""Mean squared error of a linear model: the lecture's squared loss (y_i - x_i^T w - b)^2,
averaged over the examples."""
import numpy as np


def loss(w, b, X, y):
    r = y - X @ w - b
    return np.mean(r * r)
