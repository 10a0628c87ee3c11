"""A chain of tanh neurons: T = 10 steps, n = 6 inputs (samples/scripts/chain.py)."""

from math import tanh


def f(x1=0.9, x2=0.9, x3=0.9, x4=0.9, x5=0.9, x6=0.9):
    h = x1
    h = tanh(h * x2 + 0.5)
    h = tanh(h * x3 + 0.5)
    h = tanh(h * x4 + 0.5)
    h = tanh(h * x5 + 0.5)
    h = tanh(h * x6 + 0.5)
    return h
