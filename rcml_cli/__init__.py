"""The `rcml` command line: argument parsing only; the work is done by rcml_core."""
