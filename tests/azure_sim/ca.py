"""The local Azure's certificate authority: one CA kept in a directory, leaf certificates made per host on the fly.

The CA (`ca.pem`, `ca-key.pem`) is made once and reused by every process that points at the same directory (a file
lock guards the first creation, so parallel test workers agree on one CA). Clients trust it with
REQUESTS_CA_BUNDLE=<dir>/ca.pem. Leaf certificates (SAN = the host) share one key per process and are cached.
"""

from __future__ import annotations

import datetime
import fcntl
import os
import ssl
import tempfile
import threading

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

REPO_ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
DEFAULT_DIR = os.path.join(REPO_ROOT, ".sim")
CA_NAME = "Local Azure test CA (azure_cvm.backup)"


def _utcnow() -> datetime.datetime:
    return datetime.datetime.now(datetime.timezone.utc)


def _pem_key(key) -> bytes:
    return key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())


def _make_ca():
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, CA_NAME)])
    now = _utcnow()
    cert = (
        x509.CertificateBuilder()
        .subject_name(name).issuer_name(name).public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(days=1)).not_valid_after(now + datetime.timedelta(days=3650))
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(x509.KeyUsage(digital_signature=True, key_cert_sign=True, crl_sign=True, content_commitment=False,
                                     key_encipherment=False, data_encipherment=False, key_agreement=False,
                                     encipher_only=False, decipher_only=False), critical=True)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
        .sign(key, hashes.SHA256())
    )
    return key, cert


def _load_or_create(directory: str):
    """The CA of `directory`, made there if it is missing (under an exclusive lock)."""
    os.makedirs(directory, exist_ok=True)
    cert_path, key_path = os.path.join(directory, "ca.pem"), os.path.join(directory, "ca-key.pem")
    with open(os.path.join(directory, ".ca.lock"), "w", encoding="utf-8") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            if os.path.exists(cert_path) and os.path.exists(key_path):
                with open(cert_path, "rb") as handle:
                    cert = x509.load_pem_x509_certificate(handle.read())
                with open(key_path, "rb") as handle:
                    key = serialization.load_pem_private_key(handle.read(), None)
                if cert.not_valid_after_utc > _utcnow() + datetime.timedelta(days=30):
                    return key, cert, cert_path
            key, cert = _make_ca()
            fd = os.open(key_path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
            with os.fdopen(fd, "wb") as handle:
                handle.write(_pem_key(key))
            with open(cert_path, "wb") as handle:
                handle.write(cert.public_bytes(serialization.Encoding.PEM))
            return key, cert, cert_path
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)


class CertAuthority:
    """One CA and its per-host server contexts."""

    def __init__(self, directory: str | None = None):
        self.directory = os.path.abspath(directory or DEFAULT_DIR)
        self._key, self._cert, self.ca_file = _load_or_create(self.directory)
        self._leaf_key = ec.generate_private_key(ec.SECP256R1())
        self._contexts: dict[str, ssl.SSLContext] = {}
        self._lock = threading.Lock()

    def leaf_pem(self, host: str) -> bytes:
        """A server certificate for `host` (PEM: certificate, CA, key), valid for 30 days."""
        now = _utcnow()
        cert = (
            x509.CertificateBuilder()
            .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, host)]))
            .issuer_name(self._cert.subject).public_key(self._leaf_key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(hours=1)).not_valid_after(now + datetime.timedelta(days=30))
            .add_extension(x509.SubjectAlternativeName([x509.DNSName(host)]), critical=False)
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
            .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
            .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(self._key.public_key()), critical=False)
            .add_extension(x509.SubjectKeyIdentifier.from_public_key(self._leaf_key.public_key()), critical=False)
            .sign(self._key, hashes.SHA256())
        )
        return (cert.public_bytes(serialization.Encoding.PEM) + self._cert.public_bytes(serialization.Encoding.PEM)
                + _pem_key(self._leaf_key))

    def context(self, host: str) -> ssl.SSLContext:
        """The server-side TLS context for `host`, made on first use."""
        host = host.lower()
        with self._lock:
            ctx = self._contexts.get(host)
            if ctx is None:
                ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
                ctx.set_alpn_protocols(["http/1.1"])
                # load_cert_chain reads files only: a private temporary file, removed at once
                with tempfile.NamedTemporaryFile(suffix=".pem") as handle:
                    handle.write(self.leaf_pem(host))
                    handle.flush()
                    ctx.load_cert_chain(handle.name)
                self._contexts[host] = ctx
            return ctx


_SHARED: dict[str, CertAuthority] = {}
_SHARED_LOCK = threading.Lock()


def authority(directory: str | None = None) -> CertAuthority:
    """The process-wide CertAuthority of `directory` (default `.sim/` in the repository)."""
    path = os.path.abspath(directory or DEFAULT_DIR)
    with _SHARED_LOCK:
        if path not in _SHARED:
            _SHARED[path] = CertAuthority(path)
        return _SHARED[path]
