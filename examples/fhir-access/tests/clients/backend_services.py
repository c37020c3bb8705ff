"""A SMART Backend Services client built on PyJWT (pinned in requirements.txt), independent
of the server's own JOSE code: it makes its keys, signs `private_key_jwt` client
assertions (RS384 or ES384) and asks the token endpoint for a `system/` token.

    python backend_services.py keys DIR
        writes DIR/rs384.pem, DIR/es384.pem (private) and DIR/jwks.json (public, kids
        `rs384-1` and `es384-1`)
    python backend_services.py token TOKEN_URL CLIENT_ID PEM ALG KID SCOPE
        prints one JSON line per attempt: a fresh assertion, the same assertion again
        (replay), and an assertion whose `exp` is 10 minutes ahead (over-long); each
        `{"attempt", "status", "body"}`
"""

import json
import sys
import time
import uuid

import jwt
import requests
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa


def keys(directory):
    made = {
        "rs384": rsa.generate_private_key(public_exponent=65537, key_size=2048),
        "es384": ec.generate_private_key(ec.SECP384R1()),
    }
    public = []
    for name, key in made.items():
        pem = key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
        with open(f"{directory}/{name}.pem", "wb") as out:
            out.write(pem)
        algorithm = jwt.algorithms.RSAAlgorithm if name == "rs384" else jwt.algorithms.ECAlgorithm
        jwk = json.loads(algorithm.to_jwk(key.public_key()))
        jwk.update({"kid": f"{name}-1", "alg": name.upper(), "use": "sig"})
        public.append(jwk)
    with open(f"{directory}/jwks.json", "w") as out:
        json.dump({"keys": public}, out)


def assertion(token_url, client_id, pem, alg, kid, lifetime):
    now = int(time.time())
    claims = {
        "iss": client_id,
        "sub": client_id,
        "aud": token_url,
        "exp": now + lifetime,
        "iat": now,
        "jti": str(uuid.uuid4()),
    }
    return jwt.encode(claims, pem, algorithm=alg, headers={"kid": kid, "typ": "JWT"})


def ask(token_url, scope, signed):
    response = requests.post(
        token_url,
        data={
            "grant_type": "client_credentials",
            "scope": scope,
            "client_assertion_type": "urn:ietf:params:oauth:client-assertion-type:jwt-bearer",
            "client_assertion": signed,
        },
        timeout=20,
    )
    return response.status_code, response.json()


def token(token_url, client_id, pem_path, alg, kid, scope):
    with open(pem_path, "rb") as source:
        pem = source.read()
    fresh = assertion(token_url, client_id, pem, alg, kid, 240)
    attempts = [
        ("fresh", fresh),
        ("replayed", fresh),
        ("over-long", assertion(token_url, client_id, pem, alg, kid, 600)),
    ]
    for name, signed in attempts:
        status, body = ask(token_url, scope, signed)
        print(json.dumps({"attempt": name, "status": status, "body": body}), flush=True)


if __name__ == "__main__":
    command, arguments = sys.argv[1], sys.argv[2:]
    if command == "keys":
        keys(*arguments)
    elif command == "token":
        token(*arguments)
    else:
        sys.exit(f"unknown command {command}")
