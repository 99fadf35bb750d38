"""Mutual TLS with bad client certificates (SECURITY.md §7 row 23): no certificate,
one from another CA, an expired one and one without the clientAuth usage all complete
the handshake and get 401 / grpc-status 16 from an mTLS API; a valid certificate not
in client_certificates gets 403 / 7; keyless APIs on the same listener keep serving;
the local-reply counter counts each reason's cause."""

import datetime

from harness import admin_section, check_eq, curl, free_port, metric, scrape
import test_grpc as tg
import tls_certs
from test_tls import (SERVICE, OK, PERMISSION_DENIED, UNAUTHENTICATED, client_cert_args, gclient,
                      grpc_server, grpc_tls_args, json_error, surl, tcurl_ok, tls_gateway)
from tls_certs import pki


def test_mtls_bad_certificates_matrix(ctx):
    """Row 23: use_mutual_tls_auth with client_ca_file: no certificate and a certificate from
    another CA -> 401 / grpc-status 16; a valid certificate not in client_certificates
    -> 403 / 7; the allowed one -> proxied. Without an allow-list any valid certificate
    passes. A keyless API on the same TLS listener works without (and with a bad)
    certificate. The cleartext listener's requests to the mTLS API get 401 / 16."""
    p = pki(ctx)
    b = ctx.backend()
    s = grpc_server(ctx)
    allowed = p.fp("client-allowed")
    # Upper case with ':' separators for the gRPC API: both are to be ignored.
    allowed_colons = ":".join(allowed[i:i + 2] for i in range(0, 64, 2)).upper()
    mtls = {"use_keyless": False, "use_mutual_tls_auth": True}
    apis = {
        "grpc": dict(mtls, listen_path=SERVICE, target_url="h2c://" + s.target,
                     client_certificates=allowed_colons + ", " + p.fp("upstream-client")),
        "mtls": dict(mtls, listen_path="/mtls/", strip_listen_path=True, target_url=b.url(),
                     client_certificates=allowed),
        "mtls-any": dict(mtls, listen_path="/mtls-any/", strip_listen_path=True,
                         target_url=b.url()),
        "open": {"listen_path": "/open/", "strip_listen_path": True, "target_url": b.url()},
    }
    g = tls_gateway(ctx, apis, tls={"client_ca_file": p.cert("ca")})
    gtarget = "127.0.0.1:%d" % g.tls_port
    matrix = (  # (client cert, HTTP status on /mtls/, on /mtls-any/, grpc-status)
        (None, 401, 401, UNAUTHENTICATED),
        ("client-wrongca", 401, 401, UNAUTHENTICATED),
        ("client-other", 403, 200, PERMISSION_DENIED),
        ("client-allowed", 200, 200, OK),
    )
    frame = ctx.tmp("unary.grpc")
    with open(frame, "wb") as f:
        f.write(tg._grpc_frame(tg._pb_field(1, b"ping")))
    for cert, status, status_any, code in matrix:
        who = cert or "no certificate"
        for flag in ("--http1.1", "--http2"):
            for path, want in (("/mtls/hello", status), ("/mtls-any/hello", status_any)):
                r = tcurl_ok(ctx, flag, *client_cert_args(ctx, cert), surl(g, path))
                what = "%s, curl %s %s" % (who, flag, path)
                if want == 200:
                    check_eq((r.status, r.body), (200, b"hello\n"), what)
                else:
                    json_error(r, want, what)
            r = tcurl_ok(ctx, flag, *client_cert_args(ctx, cert), surl(g, "/open/hello"))
            check_eq((r.status, r.body), (200, b"hello\n"), "%s, curl %s keyless API" % (who, flag))
        res = gclient(ctx, gtarget, "raw", "--expect-code", code,
                      tls=grpc_tls_args(ctx, cert))
        tg.ok(res, "%s: gRPC call to the mTLS API, expected code %d" % (who, code))
        # The same as an HTTP/2 request: a trailers-only reply with HTTP status 200.
        r = tcurl_ok(ctx, "--http2", *client_cert_args(ctx, cert), "-H",
                     "content-type: application/grpc", "-H", "te: trailers",
                     "--data-binary", "@" + frame, surl(g, SERVICE + "Unary"))
        got = r.headers.get("grpc-status") or r.trailers.get("grpc-status")
        check_eq((r.status, got), (200, str(code)), "%s: curl gRPC request (HTTP status, "
                 "grpc-status) headers %r" % (who, r.headers))
    # The cleartext listener has no client certificate to offer.
    json_error(curl(g.url("/mtls/hello")), 401, "cleartext listener, mTLS API")
    json_error(curl(g.url("/mtls-any/hello")), 401, "cleartext listener, mTLS API (no list)")
    check_eq(curl(g.url("/open/hello")).status, 200, "cleartext listener, keyless API")
    tg.ok(gclient(ctx, "127.0.0.1:%d" % g.port, "raw", "--expect-code", UNAUTHENTICATED),
          "h2c gRPC call to the mTLS API")


test_mtls_bad_certificates_matrix.timeout = 120


def _issue(ctx, name, expired=False, usage="clientAuth"):
    """A client certificate |name| signed by the test CA (python3-cryptography): expired
    a year ago, or with extendedKeyUsage |usage|. Returns (cert path, key path)."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID
    p = pki(ctx)
    with open(p.cert("ca"), "rb") as f:
        ca = x509.load_pem_x509_certificate(f.read())
    with open(p.key("ca"), "rb") as f:
        ca_key = serialization.load_pem_private_key(f.read(), None)
    key = ec.generate_private_key(ec.SECP256R1())
    now = datetime.datetime.now(datetime.timezone.utc)
    if expired:
        not_before = now - datetime.timedelta(days=400)
        not_after = now - datetime.timedelta(days=35)
    else:
        not_before, not_after = now - datetime.timedelta(days=1), now + datetime.timedelta(days=30)
    eku = {"clientAuth": ExtendedKeyUsageOID.CLIENT_AUTH,
           "serverAuth": ExtendedKeyUsageOID.SERVER_AUTH}[usage]
    cert = (x509.CertificateBuilder()
            .subject_name(x509.Name([x509.NameAttribute(NameOID.ORGANIZATION_NAME, "Ringway Tests"),
                                     x509.NameAttribute(NameOID.COMMON_NAME, name)]))
            .issuer_name(ca.subject).public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(not_before).not_valid_after(not_after)
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
            .add_extension(x509.KeyUsage(True, False, False, False, False, False, False, False,
                                         False), critical=True)
            .add_extension(x509.ExtendedKeyUsage([eku]), critical=False)
            .sign(ca_key, hashes.SHA256()))
    cert_path, key_path = ctx.tmp(name + ".pem"), ctx.tmp(name + ".key")
    with open(cert_path, "wb") as f:
        f.write(cert.public_bytes(serialization.Encoding.PEM))
    with open(key_path, "wb") as f:
        f.write(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                  serialization.NoEncryption()))
    return cert_path, key_path


def test_mtls_expired_and_wrong_usage_certificates(ctx):
    """Row 23: a certificate from the right CA that expired, and one whose
    extendedKeyUsage is serverAuth only: the handshake completes and the mTLS API
    answers 401 (JSON) over HTTP/1.1 and HTTP/2, even when the certificate's
    fingerprint is in client_certificates; the keyless API on the same listener serves
    them; the unauthenticated local-reply counter grew by one per refusal."""
    p = pki(ctx)
    b = ctx.backend()
    certs = {"expired": _issue(ctx, "client-expired", expired=True),
             "wrong usage": _issue(ctx, "client-serverauth", usage="serverAuth"),
             "valid control": _issue(ctx, "client-fresh")}
    fps = ", ".join(tls_certs.fingerprint(c) for c, _ in certs.values())
    admin_port = free_port()
    apis = {"mtls": {"use_keyless": False, "use_mutual_tls_auth": True, "listen_path": "/mtls/",
                     "strip_listen_path": True, "target_url": b.url(),
                     "client_certificates": fps},
            "open": {"listen_path": "/open/", "strip_listen_path": True, "target_url": b.url()}}
    g = tls_gateway(ctx, apis, tls={"client_ca_file": p.cert("ca")},
                    sections=admin_section(admin_port))

    def unauthenticated():
        samples, _ = scrape(admin_port)
        return metric(samples, "ringway_local_replies_total", cause="unauthenticated", flag="UA")

    before = unauthenticated()
    refusals = 0
    for what, (cert, key) in certs.items():
        for flag in ("--http1.1", "--http2"):
            r = tcurl_ok(ctx, flag, "--cert", cert, "--key", key, surl(g, "/mtls/hello"))
            if what == "valid control":
                check_eq((r.status, r.body), (200, b"hello\n"), "%s, curl %s" % (what, flag))
            else:
                json_error(r, 401, "%s certificate, curl %s" % (what, flag))
                refusals += 1
            r = tcurl_ok(ctx, flag, "--cert", cert, "--key", key, surl(g, "/open/hello"))
            check_eq((r.status, r.body), (200, b"hello\n"),
                     "%s certificate, curl %s, keyless API" % (what, flag))
    check_eq(unauthenticated() - before, refusals, "unauthenticated local replies")
