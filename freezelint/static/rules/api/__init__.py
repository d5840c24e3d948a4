"""FRZ0xx: the freeze API misused (attributes that freeze nothing, calls whose result is dropped)."""
