"""The growing family of `adc cost`'s plot: a chain of tanh neurons with one weight each.

    h = x1
    h = tanh(h * x2 + 0.5)      # two steps: the product h * x2 (Type 2) and tanh (Type 3)
    ...
    h = tanh(h * xn + 0.5)
    return h

T = 2 (n - 1) steps and E = 3 (n - 1) edges for n inputs, so n grows with T: the reverse mode's
gradient costs O(T), a naive forward mode's n passes O(T * n) = O(T^2).

`python samples/scripts/chain.py T` prints the member with T steps; samples/chain.py is T = 10.
"""

from __future__ import annotations

import sys


def chain_source(steps: int) -> str:
    """The family's member with `steps` steps (an even number, at least 2)."""
    if steps < 2 or steps % 2:
        raise ValueError("the chain has an even number of steps, at least 2")
    n = steps // 2 + 1
    params = ", ".join(f"x{i}=0.9" for i in range(1, n + 1))
    lines = [
        f'"""A chain of tanh neurons: T = {steps} steps, n = {n} inputs '
        '(samples/scripts/chain.py)."""',
        "",
        "from math import tanh",
        "",
        "",
        f"def f({params}):",
        "    h = x1",
    ]
    lines += [f"    h = tanh(h * x{i} + 0.5)" for i in range(2, n + 1)]
    lines.append("    return h")
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    sys.stdout.write(chain_source(int(sys.argv[1]) if len(sys.argv) > 1 else 10))
