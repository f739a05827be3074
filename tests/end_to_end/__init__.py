"""Whole processes and whole paths: the CLI, make run, digests end to end, odd requests."""
