"""FRZ3xx: the wrong parameters selected (name matches, slices, masks, LoRA targets)."""
