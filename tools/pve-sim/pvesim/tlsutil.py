"""Throw-away CA + leaf certificate made with the openssl CLI (PVE-like:
pve-root-ca signs pve-ssl.pem with SANs IP:127.0.0.1, DNS:localhost)."""

import hashlib
import os
import ssl
import subprocess


def _run(cmd, cwd):
    r = subprocess.run(cmd, cwd=cwd, stdin=subprocess.DEVNULL,
                       stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    if r.returncode != 0:
        raise RuntimeError("%s failed: %s" % (" ".join(cmd[:3]),
                                              r.stderr.decode("utf-8", "replace")))


def make_certs(tmpdir, node):
    """Creates ca.pem / ca.key / pve-ssl.pem / pve-ssl.key in tmpdir.
    Returns (ca_file, cert_file, key_file)."""
    ca_key = os.path.join(tmpdir, "ca.key")
    ca_pem = os.path.join(tmpdir, "ca.pem")
    leaf_key = os.path.join(tmpdir, "pve-ssl.key")
    leaf_csr = os.path.join(tmpdir, "pve-ssl.csr")
    leaf_pem = os.path.join(tmpdir, "pve-ssl.pem")
    ext = os.path.join(tmpdir, "leaf.ext")
    with open(ext, "w") as f:
        f.write("basicConstraints=critical,CA:FALSE\n"
                "keyUsage=critical,digitalSignature,keyEncipherment\n"
                "extendedKeyUsage=serverAuth\n"
                "subjectKeyIdentifier=hash\n"
                "authorityKeyIdentifier=keyid,issuer\n"
                "subjectAltName=IP:127.0.0.1,IP:::1,DNS:localhost,DNS:%s\n" % node)
    ec = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1"]
    _run(["openssl", "req", "-x509", "-nodes"] + ec + [
        "-keyout", ca_key, "-out", ca_pem, "-days", "30",
        "-subj", "/CN=Proxmox Virtual Environment/OU=pve-sim/O=PVE Cluster Manager CA",
        "-addext", "basicConstraints=critical,CA:TRUE",
        "-addext", "keyUsage=critical,keyCertSign,cRLSign",
        "-addext", "subjectKeyIdentifier=hash"], tmpdir)
    _run(["openssl", "req", "-new", "-nodes"] + ec + [
        "-keyout", leaf_key, "-out", leaf_csr,
        "-subj", "/OU=PVE Cluster Node/O=Proxmox Virtual Environment/CN=%s" % node], tmpdir)
    _run(["openssl", "x509", "-req", "-in", leaf_csr, "-CA", ca_pem, "-CAkey", ca_key,
          "-CAcreateserial", "-out", leaf_pem, "-days", "30", "-sha256",
          "-extfile", ext], tmpdir)
    return ca_pem, leaf_pem, leaf_key


def fingerprint(cert_file):
    """SHA-256 of the DER certificate, 'AA:BB:...' (PVE GUI form)."""
    with open(cert_file) as f:
        der = ssl.PEM_cert_to_DER_cert(f.read())
    h = hashlib.sha256(der).hexdigest().upper()
    return ":".join(h[i:i + 2] for i in range(0, len(h), 2))
