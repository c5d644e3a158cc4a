"""Evaluation (paper 4.3): relation-guided retrieval, relation-type prediction, relation validity."""
