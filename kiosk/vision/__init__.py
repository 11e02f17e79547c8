"""Face detection, landmarks, alignment, mask flag and embeddings."""
