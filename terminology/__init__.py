"""Builders of the note2fhir terminology artifact, from open packages and licensed releases."""
