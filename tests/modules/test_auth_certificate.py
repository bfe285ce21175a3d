"""A module signs in as a service principal with a certificate (azure-identity's CertificateCredential, a client
assertion JWT signed with the certificate's key) against the local Azure, whose token endpoint verifies the
signature against the certificates registered on the application, as Entra ID does; an unregistered certificate is
refused, and the certificate's password never shows."""

from __future__ import annotations

import datetime

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.x509.oid import NameOID

from tests.sim_helpers import run_module

APP_ID = "0c5d3b8e-6a1f-4c2d-8e9f-7a6b5c4d3e2f"  # ansible-ops of the demo scenario
PASSWORD = "cert-Pass-9!not-for-real-use"


def make_certificate(tmp_path, name: str, password: str | None = None):
    """(path of a PEM with the private key and the certificate, the certificate's PEM)."""
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)])
    now = datetime.datetime.now(datetime.timezone.utc)
    cert = (x509.CertificateBuilder().subject_name(subject).issuer_name(subject).public_key(key.public_key())
            .serial_number(x509.random_serial_number()).not_valid_before(now - datetime.timedelta(minutes=5))
            .not_valid_after(now + datetime.timedelta(days=1)).sign(key, hashes.SHA256()))
    encryption = serialization.BestAvailableEncryption(password.encode()) if password else serialization.NoEncryption()
    key_pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, encryption)
    cert_pem = cert.public_bytes(serialization.Encoding.PEM)
    path = tmp_path / f"{name}.pem"
    path.write_bytes(key_pem + cert_pem)
    return str(path), cert_pem.decode()


def register(sim, cert_pem: str):
    with sim.lock:
        sim.principals[APP_ID.lower()].setdefault("certificates", []).append(cert_pem)


def sign_in_args(sim, path: str, **extra) -> dict:
    return {"resource_group": "rg-backup", "client_id": APP_ID, "tenant": sim.env["AZURE_TENANT"], "client_certificate_path": path, **extra}


def test_sign_in_with_a_registered_certificate(azure_sim, tmp_path):
    path, cert_pem = make_certificate(tmp_path, "ops-cert", PASSWORD)
    register(azure_sim.sim, cert_pem)
    result = run_module(azure_sim, "recovery_vault_info", sign_in_args(azure_sim, path, client_certificate_password=PASSWORD))
    assert not result.get("failed"), result.get("msg")
    assert "rsv-cvm-kc" in [v["name"] for v in result["vaults"]]
    sign_ins = [r for r in azure_sim.requests() if r["host"] == "login.microsoftonline.com" and r["method"] == "POST"]
    assert sign_ins and PASSWORD not in str(result)


def test_an_unregistered_certificate_is_refused(azure_sim, tmp_path):
    path, _pem = make_certificate(tmp_path, "stranger")
    registered_path, registered = make_certificate(tmp_path, "ops-cert")
    register(azure_sim.sim, registered)
    result = run_module(azure_sim, "recovery_vault_info", sign_in_args(azure_sim, path))
    assert result.get("failed")
    assert "not registered on application" in result["msg"] or "AADSTS700027" in result["msg"], result["msg"]
    assert registered_path != path
