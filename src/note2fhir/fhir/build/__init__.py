"""FHIR R4 output builders: one Bundle per processed :class:`ClinicalDocument`.

>>> bundle = build_bundle(doc, bundle_type="collection", settings=settings,
...                       now=now, tool_version="0.1.0")  # doctest: +SKIP

One module per resource type (``condition``, ``medication_statement``,
``family_member_history``, ``procedure``, ``observation``, ``allergy_intolerance``,
``adverse_event``, ``device``, ``composition``, ``provenance``); ``groups`` decides which
mentions become one resource, ``allergies`` which are allergens and reactions,
``common`` holds the shared pieces and ``bundle`` the assembly.
"""

from note2fhir.fhir.build.bundle import build_bundle

__all__ = ["build_bundle"]
