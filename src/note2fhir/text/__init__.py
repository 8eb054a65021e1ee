"""Tokens and sentences: the ``sentences`` stage."""
