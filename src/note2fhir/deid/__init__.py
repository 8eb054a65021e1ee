"""De-identification: PHI detection, masking, surrogates and date shifting (stage ``deid``)."""

from note2fhir.deid.detect import PHI_TYPES, DeidTimeoutError, Detection, Detector
from note2fhir.deid.transform import shift_date

__all__ = ["PHI_TYPES", "DeidTimeoutError", "Detection", "Detector", "shift_date"]
