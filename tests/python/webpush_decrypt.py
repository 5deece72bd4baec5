"""A second Web Push implementation reads what pushgate sent: decrypts an aes128gcm body with
the subscription's private key (http_ece, RFC 8291) and checks the VAPID signature (RFC 8292)
with the cryptography package. Prints the plaintext; exits 1 when either check fails.

usage: webpush_decrypt.py BODY_FILE DEVICE_PRIVATE_KEY AUTH AUTHORIZATION
(keys base64url; AUTHORIZATION the request's header value)
"""

import base64
import json
import sys

import http_ece
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import encode_dss_signature


def b64(text):
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def main():
    body_file, private, auth, authorization = sys.argv[1:5]
    key = ec.derive_private_key(int.from_bytes(b64(private), "big"), ec.SECP256R1())
    with open(body_file, "rb") as f:
        body = f.read()
    plaintext = http_ece.decrypt(body, private_key=key, auth_secret=b64(auth), version="aes128gcm")

    params = dict(p.strip().split("=", 1) for p in authorization[len("vapid "):].split(","))
    header, claims, signature = params["t"].split(".")
    public = ec.EllipticCurvePublicKey.from_encoded_point(ec.SECP256R1(), b64(params["k"]))
    raw = b64(signature)
    der = encode_dss_signature(int.from_bytes(raw[:32], "big"), int.from_bytes(raw[32:], "big"))
    public.verify(der, f"{header}.{claims}".encode(), ec.ECDSA(hashes.SHA256()))
    assert json.loads(b64(header))["alg"] == "ES256"

    sys.stdout.write(plaintext.decode())


if __name__ == "__main__":
    main()
