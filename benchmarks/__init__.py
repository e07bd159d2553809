"""Benchmarks: side-by-side timings printed as tables and appended to benchmarks/RESULTS.md."""
