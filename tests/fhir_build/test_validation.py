"""Element-by-element validation (``validation.validate_elements``) decides as fhir.resources
decides for the whole Bundle: same valid Bundles accepted, same broken ones refused, whether
the elements around the broken one were validated (and cached) before or not."""

from __future__ import annotations

import copy
import json
import random
from pathlib import Path
from typing import Any

import pytest
from fhir.resources.R4B import get_fhir_model_class
from pydantic import ValidationError

from note2fhir.errors import ErrorCode, Note2FhirError
from note2fhir.fhir.build import validation
from note2fhir.fhir.build.validation import validate_elements, validated

GOLDEN = Path(__file__).parent / "golden"
Bundle = get_fhir_model_class("Bundle")

# Values that break some element somewhere (a wrong type, an empty string, a bad code...).
BAD_VALUES: list[Any] = [None, "", " padded ", 12, -3, 1.5, True, [], {}, [None], "a\nb", "x y"]


def golden_bundles() -> list[dict[str, Any]]:
    return [json.loads(path.read_text("utf-8")) for path in sorted(GOLDEN.glob("*.json"))]


def whole_accepts(bundle: dict[str, Any]) -> bool:
    try:
        Bundle.model_validate(bundle)
    except (ValidationError, ValueError, KeyError):
        return False
    return True


def elements_accept(bundle: dict[str, Any]) -> bool:
    try:
        validate_elements(bundle)
    except (ValidationError, ValueError, KeyError, TypeError):
        return False
    return True


def nodes(value: Any) -> list[dict[str, Any]]:
    """Every JSON object in ``value``."""
    if isinstance(value, dict):
        return [value, *(n for child in value.values() for n in nodes(child))]
    if isinstance(value, list):
        return [n for item in value for n in nodes(item)]
    return []


def mutate(bundle: dict[str, Any], rng: random.Random) -> dict[str, Any]:
    """A copy of ``bundle`` with one object somewhere changed: a key dropped, a value
    replaced, a key added, or a null put into a list."""
    out = copy.deepcopy(bundle)
    node = rng.choice(nodes(out))
    keys = sorted(node)
    action = rng.randrange(4)
    if action == 0 and keys:
        del node[rng.choice(keys)]
    elif action == 1 and keys:
        node[rng.choice(keys)] = copy.deepcopy(rng.choice(BAD_VALUES))
    elif action == 2:
        node[rng.choice(["bogus", "valueString", "valueInteger", "id", "text", "coding"])] = (
            copy.deepcopy(rng.choice([*BAD_VALUES, "ok"]))
        )
    else:
        lists = [key for key in keys if isinstance(node[key], list)]
        if lists:
            node[rng.choice(lists)].append(None)
        elif keys:
            del node[rng.choice(keys)]
    return out


@pytest.mark.parametrize("bundle", golden_bundles(), ids=lambda b: str(b["type"]))
def test_valid_bundle_is_accepted_element_by_element(bundle: dict[str, Any]) -> None:
    assert elements_accept(bundle)
    assert elements_accept(bundle)  # a second time, from the cache


def test_valid_bundle_never_falls_back_to_whole_validation(
    clinic_bundle: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    def whole(resource: Any) -> None:
        raise AssertionError("whole-Bundle validation ran for a valid Bundle")

    monkeypatch.setattr(validation, "_validate_whole", whole)
    assert validated(clinic_bundle) is clinic_bundle


def test_repeated_elements_come_from_the_cache(clinic_bundle: dict[str, Any]) -> None:
    validation._cached_element.cache_clear()
    validated(clinic_bundle)
    first = validation._cached_element.cache_info()
    assert first.hits > 0  # the security label, the status concepts... within one Bundle
    validated(clinic_bundle)
    again = validation._cached_element.cache_info()
    assert again.misses == first.misses


@pytest.mark.parametrize("warm", [False, True], ids=["cold", "warm"])
def test_broken_bundles_are_judged_as_the_whole_bundle_is(warm: bool) -> None:
    rng = random.Random(20260301)
    bundles = golden_bundles()
    refused = 0
    for _ in range(150):
        original = rng.choice(bundles)
        broken = mutate(original, rng)
        if warm:
            validate_elements(original)  # every intact element is in the cache
        else:
            validation._cached_element.cache_clear()
        expected = whole_accepts(broken)
        assert elements_accept(broken) == expected, json.dumps(broken)[:2000]
        refused += not expected
    assert refused > 50  # the mutations do break Bundles


def test_resources_are_typed_as_the_bundle_model_types_them() -> None:
    for bundle in golden_bundles():
        model = Bundle.model_validate(bundle)
        for entry, data in zip(model.entry, bundle["entry"], strict=True):
            resource_type = data["resource"]["resourceType"]
            assert type(entry.resource) is get_fhir_model_class(resource_type)


def test_failure_reports_the_whole_bundle_error() -> None:
    bundle = golden_bundles()[0]
    validate_elements(bundle)
    broken = copy.deepcopy(bundle)
    broken["entry"][1]["resource"]["meta"]["security"][0]["code"] = " bad code "
    with pytest.raises(Note2FhirError) as caught:
        validated(broken)
    err = caught.value
    assert err.code is ErrorCode.OUTPUT_INVALID
    assert err.params["resource_type"] == broken["entry"][1]["resource"]["resourceType"]
    assert "meta.security.0.code" in err.params["fields"]
    assert " bad code " not in err.one_line()
