"""Cross-model transfer: the trained projector from one backbone's prompt space into another's (projector) and
data-free recycling through the embeddings of the tokens two vocabularies share (recycle)."""
