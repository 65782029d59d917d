"""Benchmarks behind `ketenbus bench`."""
