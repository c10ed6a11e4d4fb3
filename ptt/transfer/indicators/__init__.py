"""Transferability indicators: embedding similarity of two prompts (embedding), the overlap of the feed-forward
neurons they activate (overlap), every indicator's matrix over a prompt set (matrices), and the rank correlation
of an indicator with measured transfer (correlation)."""
