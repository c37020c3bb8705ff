"""Parses a FHIR R4 Bundle of AuditEvents (stdin) with SMART's fhirclient models in strict
mode, and checks that each AuditEvent serialises back to exactly what was given: an
independent R4 model accepting every element, type and cardinality we wrote."""
import json
import sys

from fhirclient.models.auditevent import AuditEvent
from fhirclient.models.bundle import Bundle

data = json.load(sys.stdin)
bundle = Bundle(data, strict=True)
count = 0
for entry, original in zip(bundle.entry or [], data.get("entry", [])):
    event = entry.resource
    if not isinstance(event, AuditEvent):
        sys.exit(f"entry {count}: parsed as {type(event).__name__}, not AuditEvent")
    back = event.as_json()
    if back != original["resource"]:
        sys.exit(f"entry {count}: round trip differs\n{json.dumps(original['resource'], sort_keys=True)}\n{json.dumps(back, sort_keys=True)}")
    count += 1
if count != len(data.get("entry", [])):
    sys.exit(f"parsed {count} of {len(data.get('entry', []))} entries")
print(f"validated {count} AuditEvents")
