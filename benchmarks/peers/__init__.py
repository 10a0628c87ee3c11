"""Helpers of benchmarks/bench_peers.py: the workloads, each peer's way of differentiating
them, timing, and the workers that run in their own processes (Tangent's environment, and the
scaling runs under time and memory limits)."""
