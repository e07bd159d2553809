"""Trimmed copies of public PyTorch programs, and the harness that runs them under tinygrad_rnn."""
