"""Benchmarks: one command each (`python -m bench NAME`), each prints a table and updates bench/RESULTS.md."""
