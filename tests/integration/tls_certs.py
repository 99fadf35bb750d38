"""Test PKI for the TLS integration tests, made with the openssl command line.

    from tls_certs import pki
    p = pki(ctx)
    p.cert("server-rsa"), p.key("server-rsa"), p.fp("client-allowed"), p.subject(...)

Everything is generated once per run of run.py (the test processes are its children)
into /tmp/rw-it-pki-<uid>-<runner pid>-<hash of this file>, under a lock, into a
temporary directory that is renamed into place when complete; later tests reuse it.
Directories left by runners that have exited are removed on the next generation.

Certificates (valid for ten years from generation, ECDSA P-256 keys unless noted):

| name | issuer | subject CN | SAN / use |
|---|---|---|---|
| ca | self | Ringway Test CA | CA |
| other-ca | self | Other CA | CA (not trusted by anything) |
| server-rsa | ca | gw.test RSA | RSA 2048; DNS:localhost, DNS:gw.test, IP:127.0.0.1; serverAuth |
| server-ec | ca | gw.test ECDSA | same SANs; serverAuth |
| sni | ca | sni.test | DNS:sni.test, DNS:*.sni.test; serverAuth |
| client-allowed | ca | client-allowed | clientAuth |
| client-other | ca | client-other | clientAuth (valid, but not in allow-lists) |
| client-wrongca | other-ca | client-wrongca | clientAuth |
| upstream | ca | upstream.test | IP:127.0.0.1, DNS:upstream.test, DNS:localhost; serverAuth |
| upstream-self | self | upstream.test self-signed | same SANs; trusted by nothing |
| upstream-client | ca | ringway upstream client | clientAuth (the gateway's cert for upstream mTLS) |

Plus p.mismatched_key: a key that belongs to no certificate (for --check errors).
Each subject is O=Ringway Tests, CN=<cn>. p.fp(name) is the SHA-256 of the
certificate's DER in lower-case hex (`openssl x509 -noout -fingerprint -sha256` without
the colons); p.subject(name) is the RFC 2253 subject (`-nameopt RFC2253`), e.g.
"CN=client-allowed,O=Ringway Tests".
"""

import fcntl
import hashlib
import os
import shutil
import ssl
import subprocess
import tempfile

DAYS = 3650

# name -> (issuer or None for self-signed, CN, key type, extensions)
_SERVER_SANS = "DNS:localhost,DNS:gw.test,IP:127.0.0.1"
_UPSTREAM_SANS = "IP:127.0.0.1,DNS:upstream.test,DNS:localhost"
_CA_EXT = ("basicConstraints=critical,CA:TRUE\n"
           "keyUsage=critical,keyCertSign,cRLSign\n"
           "subjectKeyIdentifier=hash\n")
_LEAF = ("basicConstraints=critical,CA:FALSE\n"
         "subjectKeyIdentifier=hash\n")


def _server_ext(sans, rsa=False):
    return (_LEAF + "keyUsage=critical,digitalSignature%s\n" % (",keyEncipherment" if rsa else "")
            + "extendedKeyUsage=serverAuth\nsubjectAltName=%s\n" % sans)


_CLIENT_EXT = _LEAF + "keyUsage=critical,digitalSignature\nextendedKeyUsage=clientAuth\n"

CERTS = [  # in dependency order
    ("ca", None, "Ringway Test CA", "ec", _CA_EXT),
    ("other-ca", None, "Other CA", "ec", _CA_EXT),
    ("server-rsa", "ca", "gw.test RSA", "rsa", _server_ext(_SERVER_SANS, rsa=True)),
    ("server-ec", "ca", "gw.test ECDSA", "ec", _server_ext(_SERVER_SANS)),
    ("sni", "ca", "sni.test", "ec", _server_ext("DNS:sni.test,DNS:*.sni.test")),
    ("client-allowed", "ca", "client-allowed", "ec", _CLIENT_EXT),
    ("client-other", "ca", "client-other", "ec", _CLIENT_EXT),
    ("client-wrongca", "other-ca", "client-wrongca", "ec", _CLIENT_EXT),
    ("upstream", "ca", "upstream.test", "ec", _server_ext(_UPSTREAM_SANS)),
    ("upstream-self", None, "upstream.test self-signed", "ec", _server_ext(_UPSTREAM_SANS)),
    ("upstream-client", "ca", "ringway upstream client", "ec", _CLIENT_EXT),
]


class Pki:
    def __init__(self, directory):
        self.dir = directory
        self._fp = {}
        self._subject = {}
        with open(os.path.join(directory, "index.txt")) as f:
            for line in f:
                name, fp, subject = line.rstrip("\n").split("\t")
                self._fp[name] = fp
                self._subject[name] = subject
        self.mismatched_key = os.path.join(directory, "mismatched.key")

    def names(self):
        return sorted(self._fp)

    def cert(self, name):
        """PEM certificate file (the leaf only)."""
        self._known(name)
        return os.path.join(self.dir, name + ".pem")

    def key(self, name):
        """PEM private key file (PKCS#8)."""
        self._known(name)
        return os.path.join(self.dir, name + ".key")

    def fp(self, name):
        """SHA-256 of the certificate's DER, lower-case hex without separators."""
        self._known(name)
        return self._fp[name]

    def subject(self, name):
        """The RFC 2253 subject, e.g. "CN=client-allowed,O=Ringway Tests"."""
        self._known(name)
        return self._subject[name]

    def _known(self, name):
        if name not in self._fp:
            raise KeyError("no test certificate %r (have %s)" % (name, ", ".join(self.names())))


def _openssl(*args, cwd):
    from harness import require_program  # tests/integration is on sys.path
    p = subprocess.run([require_program("openssl")] + list(args), cwd=cwd, stdout=subprocess.PIPE,
                       stderr=subprocess.PIPE, stdin=subprocess.DEVNULL, timeout=60)
    if p.returncode != 0:
        raise RuntimeError("openssl %s failed (%d): %s" % (
            " ".join(args), p.returncode, p.stderr.decode(errors="replace")[-1500:]))
    return p.stdout.decode(errors="replace")


def _genkey(kind, path, cwd):
    if kind == "rsa":
        _openssl("genpkey", "-algorithm", "RSA", "-pkeyopt", "rsa_keygen_bits:2048",
                 "-out", path, cwd=cwd)
    else:
        _openssl("genpkey", "-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-256",
                 "-out", path, cwd=cwd)


def fingerprint(pem_path):
    """SHA-256 of the first certificate in |pem_path| (DER), lower-case hex."""
    with open(pem_path) as f:
        text = f.read()
    end = text.index("-----END CERTIFICATE-----") + len("-----END CERTIFICATE-----")
    start = text.index("-----BEGIN CERTIFICATE-----")
    return hashlib.sha256(ssl.PEM_cert_to_DER_cert(text[start:end] + "\n")).hexdigest()


def _generate(d):
    index = []
    for serial, (name, issuer, cn, kind, ext) in enumerate(CERTS, start=1):
        key, pem, csr, extfile = name + ".key", name + ".pem", name + ".csr", name + ".ext"
        _genkey(kind, key, d)
        with open(os.path.join(d, extfile), "w") as f:
            f.write(ext)
        subj = "/O=Ringway Tests/CN=%s" % cn
        _openssl("req", "-new", "-key", key, "-subj", subj, "-out", csr, cwd=d)
        # x509 -req signs with the issuer (or the cert's own key) with explicit serials;
        # -not_before is not in OpenSSL 3.0, so validity starts now (clocks are shared).
        common = ["x509", "-req", "-in", csr, "-days", str(DAYS), "-sha256",
                  "-extfile", extfile, "-set_serial", str(1000 + serial), "-out", pem]
        if issuer is None:
            _openssl(*common, "-signkey", key, cwd=d)
        else:
            _openssl(*common, "-CA", issuer + ".pem", "-CAkey", issuer + ".key", cwd=d)
        os.unlink(os.path.join(d, csr))
        os.unlink(os.path.join(d, extfile))
        out = _openssl("x509", "-in", pem, "-noout", "-fingerprint", "-sha256",
                       "-subject", "-nameopt", "RFC2253", cwd=d)
        fp = subject = None
        for line in out.splitlines():
            if "Fingerprint=" in line:
                fp = line.split("=", 1)[1].replace(":", "").strip().lower()
            elif line.startswith("subject="):
                subject = line[len("subject="):].strip()
        if fp != fingerprint(os.path.join(d, pem)):
            raise RuntimeError("fingerprint of %s: openssl says %s, DER hash %s"
                               % (name, fp, fingerprint(os.path.join(d, pem))))
        index.append("%s\t%s\t%s\n" % (name, fp, subject))
    _genkey("ec", "mismatched.key", d)
    with open(os.path.join(d, "index.txt"), "w") as f:
        f.writelines(index)


def _source_hash():
    with open(os.path.abspath(__file__), "rb") as f:
        return hashlib.sha256(f.read()).hexdigest()[:12]


def _pid_alive(pid):
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _remove_stale(base, prefix, keep):
    for entry in os.listdir(base):
        if not entry.startswith(prefix) or entry == keep:
            continue
        parts = entry[len(prefix):].split("-")
        try:
            pid = int(parts[0])
        except (ValueError, IndexError):
            continue
        if not _pid_alive(pid):
            shutil.rmtree(os.path.join(base, entry), ignore_errors=True)


def pki(ctx=None):
    """The test PKI (generated on first use in this run of run.py). |ctx| is unused; it
    is accepted so tests can write pki(ctx)."""
    base = tempfile.gettempdir()
    prefix = "rw-it-pki-%d-" % os.getuid()
    name = "%s%d-%s" % (prefix, os.getppid(), _source_hash())
    final = os.path.join(base, name)
    if os.path.isfile(os.path.join(final, "index.txt")):
        return Pki(final)
    lock_path = os.path.join(base, "rw-it-pki-%d.lock" % os.getuid())
    with open(lock_path, "a") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            if os.path.isfile(os.path.join(final, "index.txt")):
                return Pki(final)
            _remove_stale(base, prefix, name)
            tmp = tempfile.mkdtemp(prefix=name + ".tmp", dir=base)
            try:
                _generate(tmp)
                os.chmod(tmp, 0o755)
                os.rename(tmp, final)
            except BaseException:
                shutil.rmtree(tmp, ignore_errors=True)
                raise
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)
    return Pki(final)


if __name__ == "__main__":
    import sys
    import time
    t = time.monotonic()
    if len(sys.argv) > 1:  # generate into a given directory
        os.makedirs(sys.argv[1], exist_ok=True)
        _generate(sys.argv[1])
        p = Pki(sys.argv[1])
    else:
        p = pki()
    print("%s (%.2fs)" % (p.dir, time.monotonic() - t))
    for n in p.names():
        print("%-16s %s %s" % (n, p.fp(n), p.subject(n)))
