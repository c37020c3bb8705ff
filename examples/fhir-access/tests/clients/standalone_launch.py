"""A SMART standalone launch with SMART's Python client `fhirclient` (pinned in
requirements.txt). The client finds the OAuth endpoints only through the server's
CapabilityStatement (`oauth-uris` extension), as fhirclient does.

    python standalone_launch.py FHIR_BASE CLIENT_ID REDIRECT_URI OTHER_PATIENT_ID

Prints one JSON line `{"authorize": URL}` and waits for one line on standard input: the
URL the browser was sent back to (the test fills the login and consent forms in between).
Then prints one JSON line with what the client saw: whether it is ready, the patient in
context, the patient's name as read through the client, and the HTTP status of reading
another patient.
"""

import json
import sys

import requests
from fhirclient import client, server
from fhirclient.models.patient import Patient


def main(base, client_id, redirect_uri, other_patient):
    smart = client.FHIRClient(
        settings={
            "app_id": client_id,
            "api_base": base,
            "redirect_uri": redirect_uri,
            "scope": "launch/patient openid fhirUser patient/*.rs",
        }
    )
    # Reads /metadata and its oauth-uris extension.
    print(json.dumps({"authorize": smart.authorize_url}), flush=True)
    callback = sys.stdin.readline().strip()
    smart.handle_callback(callback)
    patient = smart.patient
    name = smart.human_name(patient.name[0])
    try:
        Patient.read(other_patient, smart.server)
        other_status = 200
    except (
        server.FHIRNotFoundException,
        server.FHIRPermissionDeniedException,
        server.FHIRUnauthorizedException,
        requests.exceptions.HTTPError,
    ) as error:
        other_status = error.response.status_code
    print(
        json.dumps(
            {
                "ready": smart.ready,
                "patient_id": smart.patient_id,
                "patient_name": name,
                "other_patient_status": other_status,
            }
        ),
        flush=True,
    )


if __name__ == "__main__":
    main(*sys.argv[1:])
