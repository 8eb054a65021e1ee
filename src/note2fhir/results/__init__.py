"""The ``results`` stage: the stated results of test mentions, with their own spans."""
