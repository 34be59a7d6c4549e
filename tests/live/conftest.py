"""Fixtures the live tests share."""
from __future__ import annotations

import shutil
import subprocess
from typing import Dict

import pytest


@pytest.fixture(scope="module")
def tls_files(tmp_path_factory: pytest.TempPathFactory) -> Dict[str, str]:
    """A throw-away self-signed RSA certificate and key, as files under /etc/postfix (the
    harness places them in the private instance)."""
    openssl = shutil.which("openssl")
    if openssl is None:
        pytest.skip("openssl not installed")
    directory = tmp_path_factory.mktemp("tls")
    subprocess.run([openssl, "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1",
                    "-subj", "/CN=mx.example", "-keyout", str(directory / "key.pem"),
                    "-out", str(directory / "cert.pem")], check=True, capture_output=True, timeout=120)
    return {"/etc/postfix/cert.pem": (directory / "cert.pem").read_text(),
            "/etc/postfix/key.pem": (directory / "key.pem").read_text()}
