"""One module per terminology source; each writes through ``terminology.writer``."""
