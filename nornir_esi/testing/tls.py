"""Throwaway certificates for a loopback etcd: a CA, a server and a client certificate.

Made with ``cryptography`` (EC P-256, valid for a day either side of now), written as
PEM files into a directory. The server certificate is for ``127.0.0.1`` (IP SAN) and
``localhost``, and also carries the client-auth usage: etcd's own gRPC gateway dials
its gRPC server with it when client certificates are required.
"""

from __future__ import annotations

import datetime
import ipaddress
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

__all__ = ["TlsFiles", "make_ca", "make_client_cert", "make_tls_files"]

_DAY = datetime.timedelta(days=1)


@dataclass(frozen=True)
class TlsFiles:
    """PEM file paths: the CA's key pair, the server's and a client's."""

    ca_cert: Path
    ca_key: Path
    server_cert: Path
    server_key: Path
    client_cert: Path
    client_key: Path


@dataclass(frozen=True)
class _Issuer:
    name: x509.Name
    key: ec.EllipticCurvePrivateKey


def _name(common_name: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])


def _write_key(key: ec.EllipticCurvePrivateKey, path: Path) -> None:
    path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    path.chmod(0o600)


def _write_cert(cert: x509.Certificate, path: Path) -> None:
    path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))


def _builder(
    subject: x509.Name, issuer: x509.Name, key: ec.EllipticCurvePrivateKey
) -> x509.CertificateBuilder:
    now = datetime.datetime.now(datetime.UTC)
    return (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(issuer)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - _DAY)
        .not_valid_after(now + _DAY)
    )


def make_ca(directory: Path, common_name: str = "nornir-esi test CA") -> Path:
    """A self-signed CA as ``ca.pem``/``ca-key.pem`` in ``directory``; its certificate path.

    Used alone (without :func:`make_tls_files`) it is a CA nobody signed with: a client
    trusting it must refuse the server.
    """
    _issue_ca(directory, common_name)
    return directory / "ca.pem"


def _issue_ca(directory: Path, common_name: str) -> _Issuer:
    directory.mkdir(parents=True, exist_ok=True)
    key = ec.generate_private_key(ec.SECP256R1())
    name = _name(common_name)
    cert = (
        _builder(name, name, key)
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=True,
                crl_sign=True,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
        .sign(key, hashes.SHA256())
    )
    _write_cert(cert, directory / "ca.pem")
    _write_key(key, directory / "ca-key.pem")
    return _Issuer(name, key)


def _issue_leaf(
    issuer: _Issuer,
    common_name: str,
    usages: list[x509.ObjectIdentifier],
    cert_path: Path,
    key_path: Path,
    *,
    server: bool,
) -> None:
    key = ec.generate_private_key(ec.SECP256R1())
    builder = (
        _builder(_name(common_name), issuer.name, key)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(x509.ExtendedKeyUsage(usages), critical=False)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(issuer.key.public_key()),
            critical=False,
        )
    )
    if server:
        builder = builder.add_extension(
            x509.SubjectAlternativeName(
                [x509.IPAddress(ipaddress.IPv4Address("127.0.0.1")), x509.DNSName("localhost")]
            ),
            critical=False,
        )
    _write_cert(builder.sign(issuer.key, hashes.SHA256()), cert_path)
    _write_key(key, key_path)


def make_tls_files(directory: Path, *, client_name: str = "nornir-esi-client") -> TlsFiles:
    """A new CA, a server certificate for 127.0.0.1 and a client certificate in ``directory``.

    The client certificate's common name is ``client_name``: etcd takes it as the user name
    of a request without a token, so it should name no etcd user.
    """
    issuer = _issue_ca(directory, "nornir-esi test CA")
    files = TlsFiles(
        ca_cert=directory / "ca.pem",
        ca_key=directory / "ca-key.pem",
        server_cert=directory / "server.pem",
        server_key=directory / "server-key.pem",
        client_cert=directory / "client.pem",
        client_key=directory / "client-key.pem",
    )
    _issue_leaf(
        issuer,
        "etcd-server",
        [ExtendedKeyUsageOID.SERVER_AUTH, ExtendedKeyUsageOID.CLIENT_AUTH],
        files.server_cert,
        files.server_key,
        server=True,
    )
    _issue_leaf(
        issuer,
        client_name,
        [ExtendedKeyUsageOID.CLIENT_AUTH],
        files.client_cert,
        files.client_key,
        server=False,
    )
    return files


def make_client_cert(files: TlsFiles, common_name: str, directory: Path) -> tuple[Path, Path]:
    """Another client certificate from the CA of ``files``: its certificate and key paths.

    It is for ``common_name`` (etcd takes it as the user of requests without a token), and
    written into ``directory``.
    """
    ca_cert = x509.load_pem_x509_certificate(files.ca_cert.read_bytes())
    ca_key = serialization.load_pem_private_key(files.ca_key.read_bytes(), password=None)
    if not isinstance(ca_key, ec.EllipticCurvePrivateKey):
        raise TypeError(f"{files.ca_key}: not an EC key")
    directory.mkdir(parents=True, exist_ok=True)
    cert_path, key_path = directory / f"{common_name}.pem", directory / f"{common_name}-key.pem"
    _issue_leaf(
        _Issuer(ca_cert.subject, ca_key),
        common_name,
        [ExtendedKeyUsageOID.CLIENT_AUTH],
        cert_path,
        key_path,
        server=False,
    )
    return cert_path, key_path
