"""Benchmarks: each a command printing JSON figures with a baseline measured in the same run."""
