"""Synthetic relational catalog: a simulated store whose purchases feed `build_dataset`."""
