"""Measurement scripts (not part of the library): each has `main(argv)` and prints what it measured."""
