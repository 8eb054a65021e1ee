"""Versioned rule and lexicon data files, loaded with importlib.resources."""
