"""The evaluation-trace example of the lecture (Baydin et al.): y = ln(x1) + x1*x2 - sin(x2)."""

from math import log, sin


def f(x1=2.0, x2=5.0):
    return log(x1) + x1 * x2 - sin(x2)
