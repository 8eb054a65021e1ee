"""Assertion: whether a mention is negated, uncertain, hypothetical, historical or about a
family member, by the ConText algorithm over rule tables kept as data
(``resources/context_rules.yaml``, ``resources/relatives.yaml``).

The ``assertion`` stage lives in :mod:`note2fhir.assertion.stage`.
"""
