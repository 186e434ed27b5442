"""Benchmarks: `make bench` runs every figure and prints absolute numbers with their limits."""
