"""Benchmarks: runnable commands that start the real processes and print figures."""
