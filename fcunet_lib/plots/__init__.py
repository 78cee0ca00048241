"""Plotting functions of the companion: one module per figure; they take computed numbers and return a Figure."""
