"""A real Kubernetes API server (etcd + kube-apiserver, no controllers) on 127.0.0.1 for confidectl."""

from __future__ import annotations

import secrets
import socket
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from confidectl.kube import Cluster, connect_with_token

ROOT = Path(__file__).resolve().parents[3]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture(scope="session")
def binaries() -> Path:
    script = ROOT / "scripts" / "ensure_kube_apiserver.sh"
    proc = subprocess.run(["bash", str(script)], capture_output=True, text=True, check=False, timeout=3600)
    if proc.returncode != 0:
        pytest.fail(f"{script} failed:\n{proc.stderr[-4000:]}")
    return Path(proc.stdout.strip().splitlines()[-1])


def stop(proc: subprocess.Popen[bytes]) -> None:
    proc.terminate()
    try:
        proc.wait(timeout=15)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


@pytest.fixture(scope="session")
def apiserver(binaries: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, str, str]]:
    """(https URL, bearer token, CA file) of a fresh API server; the token's user is in system:masters."""
    work = tmp_path_factory.mktemp("apiserver")
    client_port, peer_port, secure_port = free_port(), free_port(), free_port()
    etcd_log = (work / "etcd.log").open("wb")
    etcd = subprocess.Popen(
        [
            str(binaries / "etcd"),
            "--name=confidectl-test",
            f"--data-dir={work / 'etcd'}",
            f"--listen-client-urls=http://127.0.0.1:{client_port}",
            f"--advertise-client-urls=http://127.0.0.1:{client_port}",
            f"--listen-peer-urls=http://127.0.0.1:{peer_port}",
            f"--initial-advertise-peer-urls=http://127.0.0.1:{peer_port}",
            f"--initial-cluster=confidectl-test=http://127.0.0.1:{peer_port}",
        ],
        stdout=etcd_log,
        stderr=subprocess.STDOUT,
    )
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    (work / "sa.key").write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
    )
    (work / "sa.pub").write_bytes(
        key.public_key().public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        )
    )
    token = secrets.token_hex(16)
    (work / "tokens.csv").write_text(f'{token},confidectl-test,1,"system:masters"\n', encoding="utf-8")
    api_log = (work / "apiserver.log").open("wb")
    api = subprocess.Popen(
        [
            str(binaries / "kube-apiserver"),
            f"--etcd-servers=http://127.0.0.1:{client_port}",
            "--bind-address=127.0.0.1",
            "--advertise-address=127.0.0.1",
            f"--secure-port={secure_port}",
            f"--cert-dir={work / 'certs'}",
            f"--service-account-key-file={work / 'sa.pub'}",
            f"--service-account-signing-key-file={work / 'sa.key'}",
            "--service-account-issuer=https://kubernetes.default.svc",
            f"--token-auth-file={work / 'tokens.csv'}",
            "--authorization-mode=RBAC",
            "--service-cluster-ip-range=10.96.0.0/24",
            "--enable-priority-and-fairness=false",
        ],
        stdout=api_log,
        stderr=subprocess.STDOUT,
    )
    url = f"https://127.0.0.1:{secure_port}"
    try:
        deadline = time.monotonic() + 120
        while True:
            if api.poll() is not None or etcd.poll() is not None:
                log = (work / "apiserver.log").read_text(errors="replace")[-3000:]
                pytest.fail(f"the API server or etcd exited:\n{log}")
            try:
                ready = requests.get(
                    f"{url}/readyz",
                    headers={"Authorization": f"Bearer {token}"},
                    verify=str(work / "certs" / "apiserver.crt"),  # self-signed by the server at start
                    timeout=2,
                )
                if ready.status_code == 200:
                    break
            except OSError:  # not listening yet, or its certificate not written yet
                pass
            if time.monotonic() > deadline:
                pytest.fail("the API server did not become ready in 120 s")
            time.sleep(0.5)
        yield url, token, str(work / "certs" / "apiserver.crt")
    finally:
        stop(api)
        stop(etcd)
        api_log.close()
        etcd_log.close()


@pytest.fixture
def cluster(apiserver: tuple[str, str, str]) -> Cluster:
    url, token, ca_file = apiserver
    return Cluster(connect_with_token(url, token, ca_file), poll_seconds=0.2)
