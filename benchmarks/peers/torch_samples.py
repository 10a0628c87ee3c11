"""samples/logistic_regression.py's and samples/mlp.py's losses in torch ops, line for line.

The only change: NumPy's `np.logaddexp(0, t)` takes a Python 0, torch.logaddexp needs a tensor.
Imported only when PyTorch is installed.
"""

import torch
from torch import Tensor


def logistic_loss(w: Tensor, b: Tensor, X: Tensor, y: Tensor, lam: float = 0.0) -> Tensor:
    """samples/logistic_regression.py: loss."""
    margins = y * (X @ w + b)
    zero = torch.zeros((), dtype=margins.dtype)
    return torch.mean(torch.logaddexp(zero, -margins)) + 0.5 * lam * torch.sum(w * w)


def sigmoid(z: Tensor) -> Tensor:
    """samples/mlp.py: sigmoid."""
    return 1 / (1 + torch.exp(-z))


def mlp_loss(theta1: Tensor, theta2: Tensor, theta3: Tensor, X: Tensor, y: Tensor) -> Tensor:
    """samples/mlp.py: loss."""
    a2 = sigmoid(X @ theta1.T)
    a3 = sigmoid(a2 @ theta2.T)
    z4 = a3 @ theta3
    zero = torch.zeros((), dtype=z4.dtype)
    return torch.mean(torch.logaddexp(zero, z4) - y * z4)
