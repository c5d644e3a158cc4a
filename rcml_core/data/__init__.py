"""The relational dataset layer: canonical format, relation construction, sources, checks."""
