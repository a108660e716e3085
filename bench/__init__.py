"""Benchmarks (``make bench``): medians and spreads, side by side with stock tools."""
