"""FamilyMemberHistory: one per relative, with one ``condition`` per concept, e.g. "mother
had breast cancer and diabetes" → FamilyMemberHistory(MTH, [breast cancer, diabetes]).

Negated ("no family history of colon cancer") and hypothetical family mentions make none.
FamilyMemberHistory has no verification status, so an uncertain mention keeps a note saying
so.  Status is ``partial``: a note rarely gives a relative's complete history.
"""

from __future__ import annotations

from note2fhir.coding.family import relative_codes
from note2fhir.document import Assertion, ClinicalDocument, Entity, JSONDict
from note2fhir.fhir.build.common import (
    base_resource,
    codeable,
    coding,
    compact,
    fhir_date_time,
    finish,
    mention_text,
    subject_reference,
)
from note2fhir.fhir.build.context import BuildContext, Built, MentionGroup

ROLE_CODE_SYSTEM = "http://terminology.hl7.org/CodeSystem/v3-RoleCode"
DEFAULT_RELATIVE = "FAMMEMB"

RELATIVES = {
    "MTH": "mother",
    "FTH": "father",
    "PRN": "parent",
    "SIS": "sister",
    "BRO": "brother",
    "SIB": "sibling",
    "CHILD": "child",
    "DAU": "natural daughter",
    "DAUC": "daughter",
    "SON": "natural son",
    "SONC": "son",
    "GRMTH": "grandmother",
    "GRFTH": "grandfather",
    "GRPRN": "grandparent",
    "AUNT": "aunt",
    "UNCLE": "uncle",
    "COUSN": "cousin",
    "SPS": "spouse",
    "HUSB": "husband",
    "WIFE": "wife",
    "STPFTH": "stepfather",
    "STPMTH": "stepmother",
    "STPBRO": "stepbrother",
    "STPSIS": "stepsister",
    "MTHINLAW": "mother-in-law",
    "FTHINLAW": "father-in-law",
    "FAMMEMB": "family member",
    # people the patient lives with or cares for, not family: their condition is theirs
    "SIGOTHR": "significant other",
    "ROOM": "Roommate",
    "FRND": "unrelated friend",
}
"""v3-RoleCode codes we emit, with their official displays; any other becomes FAMMEMB."""


def family_relationship(assertion: Assertion) -> str | None:
    """The v3-RoleCode of the relative a family mention is about; None when the mention
    makes no FamilyMemberHistory (negated or hypothetical)."""
    if assertion.negated or assertion.hypothetical:
        return None
    code = (assertion.relative or "").strip().upper()
    return code if code in RELATIVES else DEFAULT_RELATIVE


def build_family_member_history(ctx: BuildContext, group: MentionGroup) -> Built:
    """The FamilyMemberHistory of one relative (``group.concept`` is the RoleCode)."""
    relative = RELATIVES[group.concept]
    by_concept: dict[str, list[Entity]] = {}
    for mention in group.mentions:
        by_concept.setdefault(_relative_key(ctx.doc, mention), []).append(mention)
    conditions = [_condition(ctx.doc, mentions) for mentions in by_concept.values()]
    names = ", ".join(str(c["code"]["text"]) for c in conditions)
    summary = f"{relative}: {names}"
    resource = base_resource(ctx, "FamilyMemberHistory", group, summary)
    resource.update(
        compact(
            {
                "status": "partial",
                "patient": subject_reference(ctx.context),
                "date": fhir_date_time(ctx.context.date),
                "relationship": {
                    "coding": [coding(ROLE_CODE_SYSTEM, group.concept, relative)],
                    "text": relative,
                },
                "condition": conditions,
            }
        )
    )
    return Built(finish(resource), summary, group.mentions)


def _relative_key(doc: ClinicalDocument, mention: Entity) -> str:
    """The relative's condition a mention names: its first own selected code as
    ``system|code`` (not the patient's family-history code, which several share), else its
    lowercased text."""
    codes = relative_codes(mention)
    if codes:
        return f"{codes[0].system}|{codes[0].code}"
    return mention_text(doc, mention).lower()


def _condition(doc: ClinicalDocument, mentions: list[Entity]) -> JSONDict:
    uncertain = all(m.assertion.uncertain or m.assertion.differential for m in mentions)
    return compact(
        {
            # the relative's own code, not the patient's family-history code (Z80.3)
            "code": codeable(
                [code for mention in mentions for code in relative_codes(mention)],
                mention_text(doc, mentions[0]),
            ),
            "note": [{"text": "uncertain in the source note"}] if uncertain else None,
        }
    )
