"""Benchmarks of the registry (run ``python bench/run.py``; results in docs/performance.md)."""
