"""FRZ1xx: train/eval modes and grad mode mistaken for freezing, or undoing it."""
