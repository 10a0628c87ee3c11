"""The backprop slides' network: a1 = x, z(l+1) = Theta(l) a(l), a(l+1) = g(z(l+1)) with the
sigmoid g, Theta1 in R^(m x d), Theta2 in R^(m x m), Theta3 in R^m, no biases. The loss is the
negative of the lecture's y log(yhat) + (1 - y) log(1 - yhat), averaged over a batch, with
labels y in {0, 1}.

With yhat = g(z4), -(y log g(z4) + (1 - y) log(1 - g(z4))) = log(1 + exp(z4)) - y z4, which is
what the last line computes (np.logaddexp(0, z4) is log(1 + exp(z4)) without overflow).
Rows of X are examples, so Theta a becomes A @ Theta.T for a batch A.
"""
import numpy as np


def sigmoid(z):
    return 1 / (1 + np.exp(-z))


def loss(theta1, theta2, theta3, X, y):
    a2 = sigmoid(X @ theta1.T)
    a3 = sigmoid(a2 @ theta2.T)
    z4 = a3 @ theta3
    return np.mean(np.logaddexp(0, z4) - y * z4)


def predict(theta1, theta2, theta3, X):
    """The probability yhat = g(z4) of label 1, one per row of X."""
    a2 = sigmoid(X @ theta1.T)
    a3 = sigmoid(a2 @ theta2.T)
    return sigmoid(a3 @ theta3)
