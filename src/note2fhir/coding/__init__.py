"""Code selection: which ranked terminology candidates go on each entity's FHIR resource."""
