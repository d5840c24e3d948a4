"""FRZ2xx: freezes against the optimizer, wrappers and the order of a training loop."""
