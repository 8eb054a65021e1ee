"""The terminology store: one versioned artifact (SQLite + simstring index) read by the library.

Builders that make the artifact from open packages or licensed releases live in the top-level
``terminology`` package; this package only reads (and names the shared schema and text
normalisation, so builder and reader can never disagree).
"""
