"""Medication attributes: the ``medication`` stage reads dose, route, frequency, duration,
as-needed and status around each medication mention ("metformin 500 mg PO BID")."""

STATUS_WORDS: dict[str, str] = {
    "started": "begun now or recently (active)",
    "will start": "to be started (intended)",
    "restarted": "taken again after a pause (active)",
    "will restart": "to be taken again (intended)",
    "stopped": "stopped or discontinued",
    "held": "paused (on-hold)",
    "increased": "dose raised (active)",
    "decreased": "dose lowered, weaned or tapered (active)",
    "continued": "to go on as before (active)",
}
"""The normalised ``MedicationAttributes.status`` vocabulary and what each word means."""
