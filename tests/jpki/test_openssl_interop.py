"""The openssl CLI, an independent implementation, checks the TEST CA's certificates, CRLs and OCSP answers."""

from __future__ import annotations

import datetime as dt
import re
import shutil
import subprocess
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import serialization

from jpki_bridge.testca import CardIdentity, Person, TestCA
from tests.helpers import PERSON_FILES, require_component

OPENSSL = shutil.which("openssl")


@pytest.fixture(scope="module")
def openssl() -> str:
    require_component(OPENSSL is not None, "openssl CLI (apt: openssl)")
    assert OPENSSL is not None
    return OPENSSL


def run(openssl: str, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    return subprocess.run([openssl, *args], capture_output=True, text=True, encoding="utf-8", check=check, timeout=60)


def pem(path: Path, cert: x509.Certificate) -> Path:
    path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    return path


def at_time(cert: x509.Certificate) -> str:
    return str(int((cert.not_valid_before_utc + dt.timedelta(hours=1)).timestamp()))


def test_openssl_verifies_both_chains(openssl: str, identity: CardIdentity, tmp_path: Path) -> None:
    for name, cert, root in (
        ("sign", identity.sign_cert, identity.sign_ca),
        ("auth", identity.auth_cert, identity.auth_ca),
    ):
        cert_file, root_file = pem(tmp_path / f"{name}.pem", cert), pem(tmp_path / f"{name}-root.pem", root)
        result = run(openssl, "verify", "-CAfile", str(root_file), "-attime", at_time(cert), str(cert_file))
        assert result.stdout.strip() == f"{cert_file}: OK"


def test_openssl_rejects_the_wrong_generation_and_expired_times(
    openssl: str, test_ca: TestCA, identity: CardIdentity, tmp_path: Path
) -> None:
    cert_file = pem(tmp_path / "sign.pem", identity.sign_cert)
    other_generation = pem(tmp_path / "root02.pem", test_ca.root("sign", "02").cert)
    wrong = run(
        openssl,
        "verify",
        "-CAfile",
        str(other_generation),
        "-attime",
        at_time(identity.sign_cert),
        str(cert_file),
        check=False,
    )
    assert wrong.returncode != 0
    assert "signature failure" in wrong.stdout + wrong.stderr or "unable to get" in wrong.stdout + wrong.stderr
    root_file = pem(tmp_path / "root03.pem", identity.sign_ca)
    late = str(int((identity.sign_cert.not_valid_after_utc + dt.timedelta(days=1)).timestamp()))
    expired = run(openssl, "verify", "-CAfile", str(root_file), "-attime", late, str(cert_file), check=False)
    assert expired.returncode != 0
    assert "expired" in expired.stdout + expired.stderr


def test_openssl_parses_the_profile(openssl: str, identity: CardIdentity, tmp_path: Path) -> None:
    text = run(openssl, "x509", "-in", str(pem(tmp_path / "s.pem", identity.sign_cert)), "-noout", "-text").stdout
    assert "Signature Algorithm: sha256WithRSAEncryption" in text
    assert "Public-Key: (2048 bit)" in text
    assert "Exponent: 65537" in text
    assert re.search(r"X509v3 Key Usage: critical\s+Digital Signature, Non Repudiation", text)
    assert re.search(r"X509v3 Certificate Policies: critical\s+Policy: 1\.2\.392\.200149\.8\.5\.1\.1\.20", text)
    assert "X509v3 CRL Distribution Points" in text
    assert "othername: 1.2.392.200149.8.5.5.1::" in text
    root_text = run(openssl, "x509", "-in", str(pem(tmp_path / "r.pem", identity.sign_ca)), "-noout", "-text").stdout
    assert re.search(r"X509v3 Basic Constraints: critical\s+CA:TRUE", root_text)
    assert re.search(r"X509v3 Key Usage: critical\s+Certificate Sign, CRL Sign", root_text)
    auth_text = run(openssl, "x509", "-in", str(pem(tmp_path / "a.pem", identity.auth_cert)), "-noout", "-text").stdout
    assert re.search(r"X509v3 Key Usage: critical\s+Digital Signature\n", auth_text)
    assert "othername" not in auth_text


def san_entries_by_openssl(openssl: str, cert_file: Path) -> list[tuple[str, str]]:
    """The (OID, UTF8String) pairs inside the subjectAltName, as openssl asn1parse decodes them."""
    dump = run(openssl, "asn1parse", "-in", str(cert_file), "-i").stdout.splitlines()
    index = next(i for i, line in enumerate(dump) if ":X509v3 Subject Alternative Name" in line)
    offset = dump[index + 1].split(":", 1)[0].strip()
    inner = run(openssl, "asn1parse", "-in", str(cert_file), "-i", "-strparse", offset).stdout.splitlines()
    entries: list[tuple[str, str]] = []
    oid: str | None = None
    for line in inner:
        if "prim:" not in line:
            continue
        kind, _, value = line.split("prim:", 1)[1].strip().partition(":")
        if kind.strip() == "OBJECT":
            oid = value
        elif kind.strip() == "UTF8STRING":
            assert oid is not None
            entries.append((oid, value))
            oid = None
        else:
            pytest.fail(f"unexpected primitive in subjectAltName: {kind.strip()}")
    return entries


@pytest.mark.parametrize("path", PERSON_FILES, ids=lambda p: p.stem)
def test_openssl_prints_the_basic4_other_names(openssl: str, test_ca: TestCA, path: Path, tmp_path: Path) -> None:
    person = Person.from_toml(path)
    card = test_ca.issue(person)
    entries = san_entries_by_openssl(openssl, pem(tmp_path / "sign.pem", card.sign_cert))
    arc = "1.2.392.200149.8.5.5"
    assert entries == [
        (f"{arc}.1", person.name),
        (f"{arc}.4", person.date_of_birth),
        (f"{arc}.3", person.sex),
        (f"{arc}.5", person.address),
        (f"{arc}.2", person.name_substitution),
        (f"{arc}.6", person.address_substitution),
    ]


def test_openssl_verifies_the_crl(openssl: str, test_ca: TestCA, tmp_path: Path) -> None:
    crl_file = tmp_path / "sign.crl"
    crl_file.write_bytes(test_ca.crl("sign").public_bytes(serialization.Encoding.PEM))
    root_file = pem(tmp_path / "root.pem", test_ca.current_root("sign").cert)
    result = run(openssl, "crl", "-in", str(crl_file), "-CAfile", str(root_file), "-noout")
    assert "verify OK" in result.stdout + result.stderr
    wrong_root = pem(tmp_path / "root02.pem", test_ca.root("sign", "02").cert)
    failed = run(openssl, "crl", "-in", str(crl_file), "-CAfile", str(wrong_root), "-noout", check=False)
    assert "verify OK" not in failed.stdout + failed.stderr


def test_openssl_checks_ocsp_answers(openssl: str, test_ca: TestCA, tmp_path: Path) -> None:
    person = Person.from_toml(PERSON_FILES[0])
    card = test_ca.issue(person)
    cert_file, root_file = pem(tmp_path / "c.pem", card.sign_cert), pem(tmp_path / "r.pem", card.sign_ca)
    request_file, response_file = tmp_path / "req.der", tmp_path / "resp.der"

    def ask(validation_file: Path) -> subprocess.CompletedProcess[str]:
        run(
            openssl, "ocsp", "-issuer", str(root_file), "-sha256", "-cert", str(cert_file), "-reqout", str(request_file)
        )
        response_file.write_bytes(test_ca.ocsp_response(request_file.read_bytes()))
        # With -reqin, openssl also checks that the response echoes the request's nonce.
        return run(
            openssl, "ocsp", "-reqin", str(request_file), "-respin", str(response_file),
            "-VAfile", str(validation_file), "-resp_text", check=False,
        )  # fmt: skip

    good = ask(root_file)
    assert good.returncode == 0, good.stderr
    assert "Response verify OK" in good.stderr + good.stdout
    assert "Cert Status: good" in good.stdout
    assert "OCSP Nonce" in good.stdout
    wrong_signer = ask(pem(tmp_path / "other.pem", test_ca.root("sign", "02").cert))
    assert wrong_signer.returncode != 0
    assert "Response Verify Failure" in wrong_signer.stderr + wrong_signer.stdout
    test_ca.revoke(card.sign_cert, x509.ReasonFlags.key_compromise, dt.datetime.now(dt.UTC) - dt.timedelta(seconds=5))
    revoked = ask(root_file)
    assert revoked.returncode == 0, revoked.stderr
    assert "Cert Status: revoked" in revoked.stdout
    assert "Revocation Reason: keyCompromise" in revoked.stdout
