"""The computation-graph example of the lecture's slide."""

from math import exp, pi, sin


def f(w1, w2):
    return (sin(2 * pi * w1 / w2) + 3 * w1 / w2 - exp(2 * w2)) * (3 * w1 / w2 - exp(2 * w2))
