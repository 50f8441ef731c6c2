"""Task2Vec diversity and alignment coefficients of training data (Beyond Scale, arXiv 2306.13840)."""

__version__ = "0.1.0"
