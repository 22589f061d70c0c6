"""Few-shot learning over any registered encoder: episodes on held-out labels, prototypical networks, fine-tuned heads."""
