"""Key and Basic-auth authentication (Tyk's use_standard_auth / use_basic_auth) end to
end: Tyk's key API on the admin listener (/tyk/keys), the SQLite key store ([store]),
the replies Tyk gives (statuses, bodies, headers; gRPC statuses), session states
(access_rights, expiry, is_inactive, rate limits, quotas), revocation reaching every
shard at once, persistence across restarts, path normalisation in front of routing and
auth, the bcrypt queue under a wrong-password flood, and the configuration checks.

Every test runs real processes: the gateway, ringway-test-backend (its /inspect shows
what reached the upstream), the gRPC fixtures, curl, h2load.
"""

import base64
import hashlib
import http.client
import json
import os
import re
import signal
import threading
import time

import test_grpc as tg
from harness import (ADMIN_SECRET, GatewayStartError, Headers, RawConn, START_TIMEOUT_S,
                     admin_section, check, check_eq, curl, curl_ok, fail, free_port, h2load,
                     make_ini, metric, port_accepts, scrape, wait_for)

SERVICE = tg.SERVICE
UNAUTHENTICATED, PERMISSION_DENIED, RESOURCE_EXHAUSTED = 16, 7, 8

# Tyk's reply texts.
FIELD_MISSING = "Authorization field missing"
DISALLOWED = "Access to this API has been disallowed"
NOT_AUTHORISED = "User not authorised"
EXPIRED = "Key has expired, please renew"
INACTIVE = "Key is inactive, please renew"
RATE_LIMITED = "Rate limit exceeded"
QUOTA_EXCEEDED = "Quota exceeded"
MALFORMED = "Attempted access with malformed header, "
ADMIN_REFUSED = {"status": "error",
                 "message": "Attempted administrative access with invalid or missing key!"}
KEY_NOT_FOUND = {"status": "error", "message": "Key not found"}

FRONTS = {"h1": ["--http1.1"], "h2": ["--http2-prior-knowledge"]}


# ---------------------------------------------------------------------------
# Plain HTTP/1.1 requests (http.client: one connection per request, the path sent as
# given, nothing normalised on the client side)


class Resp:
    def __init__(self, status, headers, body):
        self.status = status
        self.headers = headers
        self.body = body

    def json(self):
        try:
            return json.loads(self.body)
        except ValueError:
            fail("response body is not JSON: %r" % self.body[:300])

    def __repr__(self):
        return "Resp(%r, %r, %r)" % (self.status, self.headers, self.body[:200])


def request(port, method, path, headers=(), body=None, timeout=10):
    """One request on a new HTTP/1.1 connection; returns a Resp."""
    if isinstance(headers, dict):
        headers = list(headers.items())
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    try:
        conn.putrequest(method, path, skip_accept_encoding=True)
        for n, v in headers:
            conn.putheader(n, v)
        if body is not None:
            if isinstance(body, str):
                body = body.encode()
            conn.putheader("Content-Length", str(len(body)))
        elif method in ("POST", "PUT"):
            conn.putheader("Content-Length", "0")
        conn.endheaders(body)
        r = conn.getresponse()
        data = r.read()
        return Resp(r.status, Headers(r.getheaders()), data)
    finally:
        conn.close()


def sha256_hex(text):
    return hashlib.sha256(text.encode()).hexdigest()


def basic(user, password):
    return "Basic " + base64.b64encode(("%s:%s" % (user, password)).encode()).decode()


def expect_error(r, status, message, what, www=None):
    """A local reply in Tyk's shape: |status|, application/json {"error": message}
    and (Basic-auth 401s only) WWW-Authenticate."""
    check_eq(r.status, status, "%s: status (body %r)" % (what, r.body[:200]))
    check_eq(r.headers.get("content-type"), "application/json", what + ": content-type")
    try:
        body = json.loads(r.body)
    except ValueError:
        fail("%s: body is not JSON: %r" % (what, r.body[:200]))
    check_eq(body, {"error": message}, what + ": body")
    check_eq(r.headers.get("www-authenticate"), www, what + ": WWW-Authenticate")


def inspect(r, what):
    """The backend's /inspect JSON of a 200 response."""
    check_eq(r.status, 200, "%s: status (body %r)" % (what, r.body[:200]))
    return r.json()


# ---------------------------------------------------------------------------
# Tyk's key API


def session(apis=None, **fields):
    """A Tyk session: access_rights for |apis| (none = every API), no limits."""
    s = {"rate": 0, "per": 0, "quota_max": -1, "quota_renewal_rate": 0, "expires": 0,
         "org_id": "", "access_rights": {}}
    for a in apis or ():
        s["access_rights"][a] = {"api_id": a, "api_name": a, "versions": ["Default"]}
    s.update(fields)
    return s


class KeyApi:
    """/tyk/keys on the admin listener at |port|."""

    def __init__(self, port):
        self.port = port

    def call(self, method, path, body=None, secret=ADMIN_SECRET, header="x-tyk-authorization"):
        headers = [] if secret is None else [(header, secret)]
        if body is not None and not isinstance(body, (str, bytes)):
            body = json.dumps(body)
        if body is not None:
            headers.append(("Content-Type", "application/json"))
        return request(self.port, method, path, headers, body)

    def ok(self, method, path, body=None, what=""):
        r = self.call(method, path, body)
        check_eq(r.status, 200, "%s %s %s: status (body %r)" % (what, method, path, r.body[:300]))
        check_eq(r.headers.get("content-type"), "application/json", "%s %s: content-type"
                 % (method, path))
        return r.json()

    def create(self, sess):
        """POST /tyk/keys/create; returns the generated key (reply checked)."""
        j = self.ok("POST", "/tyk/keys/create", sess)
        key = j.get("key")
        check(isinstance(key, str) and len(key) >= 16, "generated key %r" % j)
        check_eq(j, {"key": key, "status": "ok", "action": "added", "key_hash": sha256_hex(key),
                     "key_hashed": sha256_hex(key)}, "POST /tyk/keys/create reply")
        return key

    def add(self, name, sess):
        j = self.ok("POST", "/tyk/keys/" + name, sess)
        check_eq(j, {"key": name, "status": "ok", "action": "added", "key_hash": sha256_hex(name),
                     "key_hashed": sha256_hex(name)}, "POST /tyk/keys/%s reply" % name)
        return name

    def update(self, name, sess):
        j = self.ok("PUT", "/tyk/keys/" + name, sess)
        check_eq((j.get("key"), j.get("status"), j.get("action")), (name, "ok", "modified"),
                 "PUT /tyk/keys/%s reply %r" % (name, j))
        return j

    def get(self, name, hashed=False):
        return self.ok("GET", "/tyk/keys/%s%s" % (name, "?hashed=true" if hashed else ""))

    def delete(self, name):
        j = self.ok("DELETE", "/tyk/keys/" + name)
        check_eq(j, {"key": name, "status": "ok", "action": "deleted"},
                 "DELETE /tyk/keys/%s reply" % name)

    def list(self):
        j = self.ok("GET", "/tyk/keys")
        check(isinstance(j.get("keys"), list), "GET /tyk/keys: %r" % j)
        return sorted(j["keys"])


# ---------------------------------------------------------------------------
# Gateways


_db_serial = [0]


def store_path(ctx):
    _db_serial[0] += 1
    return ctx.tmp("keys-%d.db" % _db_serial[0])


def auth_gateway(ctx, apis, store=None, db=None, admin_keys=None, extra_sections=None,
                 **gateway_keys):
    """A gateway with |apis|, an admin listener (ADMIN_SECRET) and a [store] at |db|
    (default: a new file in the test's directory) with bcrypt_cost 4 plus |store|.
    Sets g.admin (port), g.keys (KeyApi), g.db (the store's path)."""
    db = db or store_path(ctx)
    store_keys = {"path": db, "bcrypt_cost": 4}
    store_keys.update(store or {})
    last = None
    for _ in range(3):
        admin = free_port()
        sections = dict(admin_section(admin, **(admin_keys or {})))
        sections["store"] = store_keys
        sections.update(extra_sections or {})
        try:
            g = ctx.gateway(apis, sections=sections, **gateway_keys)
            break
        except GatewayStartError as e:
            last = e
            if "in use" not in str(e):
                raise
    else:
        raise last
    wait_for(lambda: curl("http://127.0.0.1:%d/hello" % admin).status == 200, 5,
             what="the admin listener")
    g.admin = admin
    g.keys = KeyApi(admin)
    g.db = db
    return g


def protected(target, listen_path, mode="token", strip=True, **keys):
    """An API at |listen_path| -> |target| with token ("token"), Basic ("basic") auth."""
    api = {"listen_path": listen_path, "strip_listen_path": strip, "target_url": target,
           "use_keyless": False}
    if mode == "token":
        api["use_standard_auth"] = True
    elif mode == "basic":
        api["use_basic_auth"] = True
    api.update(keys)
    return api


def local_replies(samples, cause):
    """ringway_local_replies_total for |cause| (any flag)."""
    return sum(v for k, v in samples.items() if k[0] == "ringway_local_replies_total"
               and dict(k[1]).get("cause") == cause)


def per_shard(samples, name):
    return {dict(k[1])["shard"]: v for k, v in samples.items()
            if k[0] == name and "shard" in dict(k[1])}


def gcall(ctx, target, scenario, *args, timeout=60):
    return tg.client(ctx, target, scenario, *args, timeout=timeout)


# ---------------------------------------------------------------------------
# 1. Tyk's flow with token keys


def test_auth_token_tyk_flow(ctx):
    """A key made with POST /tyk/keys/create opens the token API with "Authorization:
    KEY", "Bearer KEY" and "bearer KEY" over HTTP/1.1 and HTTP/2; the upstream never sees
    the credential (unless strip_auth_data = false); no header 401, an unknown key 403,
    in Tyk's words; a custom auth_header (x-api-key) is read instead of Authorization."""
    b = ctx.backend()
    apis = {
        "tok": protected(b.url(), "/tok/"),
        "keep": protected(b.url(), "/keep/", strip_auth_data=False),
        "xkey": protected(b.url(), "/xkey/", auth_header="x-api-key"),
    }
    g = auth_gateway(ctx, apis, shards=2)
    key = g.keys.create(session(["tok", "keep", "xkey"], meta_data={"team": "a"},
                                custom_field={"kept": [1, 2]}))
    # GET gives the session back in Tyk's shape, unknown fields kept.
    s = g.keys.get(key)
    for field in ("rate", "per", "expires", "quota_max", "quota_remaining", "quota_renews",
                  "quota_renewal_rate", "access_rights", "org_id", "is_inactive", "alias",
                  "tags", "meta_data", "basic_auth_data", "date_created", "last_updated"):
        check(field in s, "GET /tyk/keys/KEY lacks %r: %r" % (field, s))
    check_eq(sorted(s["access_rights"]), ["keep", "tok", "xkey"], "access_rights")
    check_eq((s["meta_data"], s.get("custom_field"), s["is_inactive"]),
             ({"team": "a"}, {"kept": [1, 2]}, False),
             "meta_data, unknown field, is_inactive")
    check(re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ", s["date_created"]),
          "date_created %r" % s["date_created"])
    check_eq(g.keys.list(), [sha256_hex(key)], "GET /tyk/keys")

    for front, flags in FRONTS.items():
        for value in (key, "Bearer " + key, "bearer " + key, "BEARER  " + key):
            r = curl_ok(*flags, "-H", "Authorization: " + value, g.url("/tok/inspect"))
            j = inspect(r, "%s, Authorization: %r" % (front, value[:12]))
            check_eq(r.version, "2" if front == "h2" else "1.1", "HTTP version")
            check_eq(j["path"], "/inspect", "path upstream")
            check("authorization" not in j["headers"],
                  "%s: the credential reached the upstream: %r" % (front, j["headers"]))
        # strip_auth_data = false: the header goes upstream as sent.
        r = curl_ok(*flags, "-H", "Authorization: Bearer " + key, g.url("/keep/inspect"))
        check_eq(inspect(r, front + " /keep/")["headers"].get("authorization"), "Bearer " + key,
                 front + ": authorization kept with strip_auth_data = false")
        # No credential, an empty one, a bare "Bearer", an unknown key.
        expect_error(curl_ok(*flags, g.url("/tok/inspect")), 401, FIELD_MISSING,
                     front + ": no Authorization")
        expect_error(curl_ok(*flags, "-H", "Authorization: Bearer", g.url("/tok/inspect")), 401,
                     FIELD_MISSING, front + ": bare Bearer")
        expect_error(curl_ok(*flags, "-H", "Authorization: " + key + "x", g.url("/tok/inspect")),
                     403, DISALLOWED, front + ": unknown key")
        # Two Authorization headers: the first is the credential, neither goes upstream.
        r = curl_ok(*flags, "-H", "Authorization: " + key, "-H", "Authorization: second",
                    g.url("/tok/inspect"))
        check("authorization" not in inspect(r, front + " two Authorization headers")["headers"],
              front + ": a second Authorization header reached the upstream")
        # The custom header (any case): Authorization means nothing there, and is passed on.
        r = curl_ok(*flags, "-H", ("X-API-Key: " if front == "h1" else "x-api-key: ") + key,
                    "-H", "Authorization: other", g.url("/xkey/inspect"))
        j = inspect(r, front + " x-api-key")
        check("x-api-key" not in j["headers"], "x-api-key reached the upstream: %r" % j["headers"])
        check_eq(j["headers"].get("authorization"), "other", "Authorization on an x-api-key API")
        expect_error(curl_ok(*flags, "-H", "Authorization: " + key, g.url("/xkey/inspect")),
                     401, FIELD_MISSING, front + ": key in Authorization, API reads x-api-key")
        expect_error(curl_ok(*flags, "-H", "x-api-key: nope", g.url("/xkey/inspect")), 403,
                     DISALLOWED, front + ": unknown key in x-api-key")
    s, _ = scrape(g.admin)
    check(sum(per_shard(s, "ringway_auth_allowed_total").values()) >= 12,
          "ringway_auth_allowed_total %r" % per_shard(s, "ringway_auth_allowed_total"))


# ---------------------------------------------------------------------------
# 2. Basic auth


def test_auth_basic_users(ctx):
    """A Basic-auth user made with POST /tyk/keys/alice and a password: curl -u passes
    (HTTP/1.1 and HTTP/2), the credential is not forwarded; a wrong password and an
    unknown user 401 "User not authorised" with WWW-Authenticate; malformed headers 400
    with Tyk's texts; the stored password is a bcrypt hash, never the clear text."""
    b = ctx.backend()
    g = auth_gateway(ctx, {"basic": protected(b.url(), "/basic/", mode="basic")})
    password = "pw-Alice-7"
    j = g.keys.ok("POST", "/tyk/keys/alice", session(basic_auth_data={"password": password}))
    check_eq(j, {"key": "alice", "status": "ok", "action": "added",
                 "key_hash": sha256_hex("alice"), "key_hashed": sha256_hex("alice")},
             "POST /tyk/keys/alice")
    www = 'Basic realm="basic"'
    url = g.url("/basic/inspect")
    for front, flags in FRONTS.items():
        r = curl_ok(*flags, "-u", "alice:" + password, url)
        j = inspect(r, front + " alice")
        check("authorization" not in j["headers"], "credential forwarded: %r" % j["headers"])
        expect_error(curl_ok(*flags, "-u", "alice:wrong", url), 401, NOT_AUTHORISED,
                     front + ": wrong password", www)
        expect_error(curl_ok(*flags, "-u", "bob:" + password, url), 401, NOT_AUTHORISED,
                     front + ": unknown user", www)
        expect_error(curl_ok(*flags, url), 401, FIELD_MISSING, front + ": no Authorization", www)
    b64 = lambda s: base64.b64encode(s.encode()).decode()  # noqa: E731
    malformed = [
        ("Basic !!!", "auth data not encoded correctly"),
        ("Basic " + b64("nocolon"), "values not in basic auth format"),
        ("Basic " + b64(":pw"), "values not in basic auth format"),
        ("Bearer " + b64("alice:" + password), "header not in basic auth format"),
        ("Basic", "header not in basic auth format"),
    ]
    for value, text in malformed:
        r = request(g.port, "GET", "/basic/inspect", [("Authorization", value)])
        expect_error(r, 400, MALFORMED + text, "Authorization: %r" % value)
        r = curl_ok("--http2-prior-knowledge", "-H", "Authorization: " + value, url)
        expect_error(r, 400, MALFORMED + text, "h2 Authorization: %r" % value)
    # The right password still works after all that (nothing cached wrongly), and
    # bcrypt runs once for it, not per request: the rest come from the shard's cache.
    before, _ = scrape(g.admin)
    for i in range(10):
        check_eq(request(g.port, "GET", "/basic/hello",
                         [("Authorization", basic("alice", password))]).status, 200,
                 "alice again (%d)" % i)
    after, _ = scrape(g.admin)
    delta = lambda name, **l: metric(after, name, **l) - metric(before, name, **l)  # noqa: E731
    check_eq(delta("ringway_store_password_checks_total"), 0,
             "bcrypt checks for a credential already in the cache")
    check_eq(delta("ringway_auth_cache_hits_total", shard="0"), 10, "cache hits")
    check_eq(delta("ringway_auth_store_lookups_total", shard="0"), 0, "store lookups")
    r = request(g.port, "GET", "/basic/hello", [("Authorization", basic("alice", "third"))])
    check_eq(r.status, 401, "a new wrong password")
    after2, _ = scrape(g.admin)
    check_eq(metric(after2, "ringway_store_password_checks_total")
             - metric(after, "ringway_store_password_checks_total"), 1,
             "bcrypt checks for a new wrong password")
    check_eq(metric(after2, "ringway_auth_cache_misses_total", shard="0")
             - metric(after, "ringway_auth_cache_misses_total", shard="0"), 1, "cache misses")
    s = g.keys.get("alice")
    bad = s["basic_auth_data"]
    check(re.fullmatch(r"\$2[aby]\$04\$[./A-Za-z0-9]{53}", bad.get("password", "")),
          "basic_auth_data.password is not a cost-4 bcrypt hash: %r" % bad)
    check_eq(bad.get("hash_type"), "bcrypt", "hash_type")
    check(password not in json.dumps(s), "the clear password is in GET's reply: %r" % s)
    ctx.note("stored hash prefix %s" % bad["password"][:7])
    # A password change through PUT takes effect at once.
    g.keys.update("alice", session(basic_auth_data={"password": "new-pw"}))
    expect_error(request(g.port, "GET", "/basic/hello",
                         [("Authorization", basic("alice", password))]),
                 401, NOT_AUTHORISED, "old password after PUT", www)
    check_eq(request(g.port, "GET", "/basic/hello", [("Authorization", basic("alice", "new-pw"))]
                     ).status, 200, "new password after PUT")


# ---------------------------------------------------------------------------
# 3. gRPC


def _grpc_shapes(ctx, target, cred, what):
    """unary, client_stream, server_stream and bidi all succeed with |cred| metadata."""
    h = ["--header", "authorization=" + cred]
    res = tg.ok(gcall(ctx, target, "unary", "--count", 5, "--size", 100, *h), what + " unary")
    check_eq((res["good"], res["codes"]), (5, {"0": 5}), what + " unary results")
    res = tg.ok(gcall(ctx, target, "client_stream", "--count", 20, "--size", 1000, *h),
                what + " client_stream")
    check_eq((res["messages"], res["fnv1a_match"]), (20, True), what + " client_stream summary")
    res = tg.ok(gcall(ctx, target, "server_stream", "--count", 20, "--size", 1000, *h),
                what + " server_stream")
    check_eq(res["received"], 20, what + " server_stream messages")
    res = tg.ok(gcall(ctx, target, "bidi", "--count", 20, "--size", 100, *h), what + " bidi")
    check_eq(res["pongs"], 20, what + " bidi ping-pongs")


def _grpc_refused(ctx, target, header_args, code, message, what):
    """Every call shape ends with |code| (and grpc-message |message|)."""
    for scenario, args in (("raw", ()), ("client_stream", ("--count", 3, "--size", 10)),
                           ("server_stream", ("--count", 3, "--size", 10)),
                           ("bidi", ("--count", 1, "--size", 10))):
        res = gcall(ctx, target, scenario, "--expect-code", code, *(list(args) + header_args))
        tg.ok(res, "%s: %s expected code %d" % (what, scenario, code))
        if message is not None:
            check_eq(res.get("message"), message, "%s: %s grpc-message" % (what, scenario))


def test_auth_grpc_token_and_basic(ctx):
    """gRPC calls carry the credential as per-call metadata: with token auth and with
    Basic auth on the gRPC API, all four call shapes pass with the right credential;
    none or a wrong one ends every shape with 16 UNAUTHENTICATED; a key without the API
    in its access_rights or an inactive key 7; a rate-limited key 8."""
    s = tg.grpc_server(ctx)
    b = ctx.backend()
    apis = {"grpc": protected("h2c://" + s.target, SERVICE, strip=False),
            "other": protected(b.url(), "/other/")}
    g = auth_gateway(ctx, apis)
    target = "127.0.0.1:%d" % g.port
    key = g.keys.create(session(["grpc"]))
    _grpc_shapes(ctx, target, key, "token")
    _grpc_shapes(ctx, target, "Bearer " + key, "token with Bearer")
    _grpc_refused(ctx, target, [], UNAUTHENTICATED, FIELD_MISSING, "no key")
    _grpc_refused(ctx, target, ["--header", "authorization=wrong-key"], UNAUTHENTICATED,
                  DISALLOWED, "unknown key")
    other = g.keys.create(session(["other"]))
    _grpc_refused(ctx, target, ["--header", "authorization=" + other], PERMISSION_DENIED,
                  DISALLOWED, "API not in access_rights")
    inactive = g.keys.create(session(["grpc"], is_inactive=True))
    res = gcall(ctx, target, "raw", "--expect-code", PERMISSION_DENIED, "--header",
                "authorization=" + inactive)
    tg.ok(res, "inactive key")
    check_eq(res["message"], INACTIVE, "inactive key grpc-message")
    limited = g.keys.create(session(["grpc"], rate=2, per=60))
    res = gcall(ctx, target, "unary", "--count", 4, "--header", "authorization=" + limited)
    check_eq((res["good"], res["codes"]), (2, {"0": 2, str(RESOURCE_EXHAUSTED): 2}),
             "rate 2 per 60 s: 4 unary calls (codes %r)" % res.get("first_error"))
    # The gRPC replies are HTTP 200 trailers-only, as gRPC wants.
    r = curl("--http2-prior-knowledge", "-H", "content-type: application/grpc", "-H",
             "te: trailers", "--data-binary", "@/dev/null", g.url(SERVICE + "Unary"))
    check_eq((r.status, r.headers.get("grpc-status"), r.headers.get("grpc-message")),
             (200, "16", FIELD_MISSING), "curl gRPC request without a key (trailers-only)")

    # Basic auth on the gRPC API (a second gateway, its own store).
    g2 = auth_gateway(ctx, {"grpc": protected("h2c://" + s.target, SERVICE, strip=False,
                                              mode="basic")})
    target2 = "127.0.0.1:%d" % g2.port
    g2.keys.add("grpc-user", session(["grpc"], basic_auth_data={"password": "grpc-pw"}))
    _grpc_shapes(ctx, target2, basic("grpc-user", "grpc-pw"), "basic")
    _grpc_refused(ctx, target2, [], UNAUTHENTICATED, FIELD_MISSING, "basic, no credential")
    _grpc_refused(ctx, target2, ["--header", "authorization=" + basic("grpc-user", "nope")],
                  UNAUTHENTICATED, NOT_AUTHORISED, "basic, wrong password")
    _grpc_refused(ctx, target2, ["--header", "authorization=Basic !!!"], UNAUTHENTICATED,
                  MALFORMED + "auth data not encoded correctly", "basic, malformed")


test_auth_grpc_token_and_basic.timeout = 150


# ---------------------------------------------------------------------------
# 4. Revocation reaches every shard before the key API answers


def _h2load_statuses(g, key, n=64, c=16, path="/tok/hello"):
    r = h2load("-n", n, "-c", c, "-m", 1, "-H", "authorization: " + key, g.url(path), timeout=60)
    check_eq(r.done, n, "h2load requests done (%s)" % r.output[-500:])
    return r


def test_auth_revocation_reaches_every_shard(ctx):
    """shards = 2: a key cached as valid on both shards is refused on both as soon as
    DELETE /tyk/keys/KEY returns (no sleep): every request on new connections over both
    shards gets 403. PUT is_inactive = true is likewise immediate (403 "Key is inactive"),
    and PUT back active is 200 at once."""
    b = ctx.backend()
    g = auth_gateway(ctx, {"tok": protected(b.url(), "/tok/")}, shards=2)

    def warm(key):
        """Requests over many connections until both shards answered from the cache."""
        for _ in range(10):
            r = _h2load_statuses(g, key)
            check_eq(r.s2xx, 64, "warming: 200s")
            hits = per_shard(scrape(g.admin)[0], "ringway_auth_cache_hits_total")
            if hits.get("0", 0) > 0 and hits.get("1", 0) > 0:
                return hits
        fail("the connections never reached both shards: cache hits %r" % hits)

    def counts():
        s, _ = scrape(g.admin)
        return {sh: per_shard(s, "ringway_auth_cache_hits_total").get(sh, 0)
                + per_shard(s, "ringway_auth_cache_misses_total").get(sh, 0) for sh in "01"}

    def both_shards_refuse(key, what, body):
        before = counts()
        r = _h2load_statuses(g, key)
        check_eq((r.s2xx, r.s4xx), (0, 64), what + ": h2load statuses (2xx, 4xx)")
        for i in range(12):
            expect_error(request(g.port, "GET", "/tok/hello", [("Authorization", key)]), 403,
                         body, "%s: request %d" % (what, i))
        after = counts()
        check(all(after[sh] > before[sh] for sh in "01"),
              "%s: not both shards decided (hits+misses before %r, after %r)"
              % (what, before, after))

    key = g.keys.create(session(["tok"]))
    warm(key)
    inv_before = per_shard(scrape(g.admin)[0], "ringway_auth_cache_invalidations_total")
    g.keys.delete(key)
    both_shards_refuse(key, "after DELETE", DISALLOWED)
    inv = per_shard(scrape(g.admin)[0], "ringway_auth_cache_invalidations_total")
    check(all(inv.get(sh, 0) > inv_before.get(sh, 0) for sh in "01"),
          "invalidations per shard before %r after %r" % (inv_before, inv))
    r = g.keys.call("GET", "/tyk/keys/" + key)
    check_eq((r.status, r.json()), (404, KEY_NOT_FOUND), "GET after DELETE")

    name = "revocable-key-2"
    g.keys.add(name, session(["tok"]))
    warm(name)
    g.keys.update(name, session(["tok"], is_inactive=True))
    both_shards_refuse(name, "after PUT is_inactive", INACTIVE)
    g.keys.update(name, session(["tok"], is_inactive=False))
    r = _h2load_statuses(g, name)
    check_eq((r.s2xx, r.s4xx), (64, 0), "after PUT back active: h2load statuses")
    for i in range(8):
        check_eq(request(g.port, "GET", "/tok/hello", [("Authorization", name)]).status, 200,
                 "after PUT back active: request %d" % i)


def test_auth_cache_ttl_and_entries(ctx):
    """[store] cache_ttl_ms bounds how long a shard trusts a decision the key API did not
    change: a key deleted from the SQLite file behind the gateway's back still passes from
    the cache, and is refused once cache_ttl_ms (1 s) has passed since it was cached —
    not before. cache_entries = 16 bounds the cache (evictions counted)."""
    import sqlite3
    b = ctx.backend()
    g = auth_gateway(ctx, {"tok": protected(b.url(), "/tok/")},
                     store={"cache_ttl_ms": 1000, "cache_entries": 16})
    key = g.keys.create(session(["tok"]))
    t_cached = time.monotonic()
    check_eq(request(g.port, "GET", "/tok/hello", [("Authorization", key)]).status, 200,
             "first request (a store lookup)")
    db = sqlite3.connect(g.db, timeout=5)
    try:
        cur = db.execute("DELETE FROM keys WHERE key_hash = ?", (sha256_hex(key),))
        db.commit()
        check_eq(cur.rowcount, 1, "rows deleted behind the gateway's back")
    finally:
        db.close()
    r = request(g.port, "GET", "/tok/hello", [("Authorization", key)])
    if time.monotonic() - t_cached < 0.8:
        check_eq(r.status, 200, "within cache_ttl_ms the cached decision stands")
    else:
        ctx.note("the cached-decision check was skipped (the machine is slow)")
    r = wait_for(lambda: (lambda r: r if r.status != 200 else None)(
        request(g.port, "GET", "/tok/hello", [("Authorization", key)])), 5, interval=0.02,
        what="the deleted key refused after cache_ttl_ms")
    elapsed = time.monotonic() - t_cached
    expect_error(r, 403, DISALLOWED, "after cache_ttl_ms")
    check(elapsed >= 0.9, "the cached decision was dropped after %.2fs (cache_ttl_ms 1000)"
          % elapsed)
    ctx.note("refused %.2fs after being cached (cache_ttl_ms 1000)" % elapsed)
    # 24 distinct keys through a 16-entry cache.
    keys = [g.keys.create(session()) for _ in range(24)]
    for k in keys:
        check_eq(request(g.port, "GET", "/tok/hello", [("Authorization", k)]).status, 200,
                 "key %s" % k[:8])
    s, _ = scrape(g.admin)
    check(metric(s, "ringway_auth_cache_entries", shard="0") <= 16,
          "ringway_auth_cache_entries %r" % metric(s, "ringway_auth_cache_entries", shard="0"))
    check(metric(s, "ringway_auth_cache_evictions_total", shard="0") >= 8,
          "ringway_auth_cache_evictions_total %r"
          % metric(s, "ringway_auth_cache_evictions_total", shard="0"))
    # Evicted keys still work (looked up again).
    for k in keys[:4]:
        check_eq(request(g.port, "GET", "/tok/hello", [("Authorization", k)]).status, 200,
                 "evicted key %s" % k[:8])


# ---------------------------------------------------------------------------
# 5. Restart


def _store_bytes(db):
    data = b""
    for suffix in ("", "-wal", "-shm"):
        try:
            with open(db + suffix, "rb") as f:
                data += f.read()
        except FileNotFoundError:
            pass
    return data


def test_auth_store_survives_restart(ctx):
    """Keys and users live in the [store] SQLite file: after SIGTERM and a new start on
    the same file both still work. The file (and its WAL) never holds the clear key or
    password, but does hold the key's SHA-256 hex."""
    b = ctx.backend()
    apis = {"tok": protected(b.url(), "/tok/"), "basic": protected(b.url(), "/basic/",
                                                                  mode="basic")}
    db = ctx.tmp("persist.db")
    check(not os.path.exists(db), "store file exists before the first start")
    g = auth_gateway(ctx, apis, db=db)
    check(os.path.exists(db), "the store file was not created at start")
    key = g.keys.create(session(["tok"]))
    password = "Clear-Text-Passw0rd-xyz"
    g.keys.add("carol", session(["basic"], basic_auth_data={"password": password}))

    def works(gw, when):
        check_eq(request(gw.port, "GET", "/tok/hello", [("Authorization", key)]).status, 200,
                 when + ": the key")
        check_eq(request(gw.port, "GET", "/basic/hello",
                         [("Authorization", basic("carol", password))]).status, 200,
                 when + ": the user")
        expect_error(request(gw.port, "GET", "/tok/hello", [("Authorization", "x" + key)]), 403,
                     DISALLOWED, when + ": another key")

    def no_secrets(when):
        data = _store_bytes(db)
        check(data, "%s: the store files are empty" % when)
        check(key.encode() not in data, "%s: the clear key is in the store files" % when)
        check(password.encode() not in data, "%s: the clear password is in the store" % when)
        check(sha256_hex(key).encode() in data, "%s: the key's SHA-256 hex is not in the "
              "store files" % when)

    works(g, "first run")
    no_secrets("while running")
    check_eq(g.stop(signal.SIGTERM), 0, "exit status on SIGTERM")
    no_secrets("after SIGTERM")
    g2 = auth_gateway(ctx, apis, db=db)
    works(g2, "after restart")
    check_eq(g2.keys.list(), sorted([sha256_hex(key), sha256_hex("carol")]), "GET /tyk/keys")
    check_eq(g2.keys.get("carol")["basic_auth_data"]["hash_type"], "bcrypt", "user's hash type")
    # Deleted before the second restart: gone after it.
    g2.keys.delete("carol")
    check_eq(g2.stop(signal.SIGTERM), 0, "exit status on SIGTERM (second run)")
    g3 = auth_gateway(ctx, apis, db=db)
    expect_error(request(g3.port, "GET", "/basic/hello",
                         [("Authorization", basic("carol", password))]), 401, NOT_AUTHORISED,
                 "deleted user after a restart", 'Basic realm="basic"')
    check_eq(request(g3.port, "GET", "/tok/hello", [("Authorization", key)]).status, 200,
             "the key after the second restart")


# ---------------------------------------------------------------------------
# 6. The key API's own errors


def test_auth_key_api_errors(ctx):
    """The admin secret guards every key route (403, nothing created, nothing changed);
    malformed JSON or wrong field types get 400 "Request malformed: ..." and nothing is
    written; unknown keys 404 on GET, PUT and DELETE; ?hashed=true finds a key by its
    SHA-256."""
    b = ctx.backend()
    g = auth_gateway(ctx, {"tok": protected(b.url(), "/tok/")})
    k = g.keys
    k.add("victim", session(["tok"], alias="original"))
    before = k.get("victim")
    routes = [("POST", "/tyk/keys/create", session()), ("POST", "/tyk/keys/newkey", session()),
              ("GET", "/tyk/keys/victim", None), ("PUT", "/tyk/keys/victim",
                                                  session(is_inactive=True)),
              ("DELETE", "/tyk/keys/victim", None), ("GET", "/tyk/keys", None),
              ("POST", "/tyk/keys", session()), ("GET", "/tyk/keys/victim?hashed=true", None)]
    for method, path, body in routes:
        for what, secret, header in (("no secret", None, None),
                                     ("wrong secret", "nope", "x-tyk-authorization"),
                                     ("secret + suffix", ADMIN_SECRET + "x", "x-tyk-authorization"),
                                     ("empty secret", "", "x-tyk-authorization"),
                                     ("secret in Authorization", ADMIN_SECRET, "authorization")):
            r = k.call(method, path, body, secret=secret, header=header or "x-tyk-authorization")
            check_eq((r.status, r.json()), (403, ADMIN_REFUSED), "%s %s, %s" % (method, path, what))
    check_eq(k.list(), [sha256_hex("victim")], "keys after the refused calls")
    check_eq(k.get("victim"), before, "victim after the refused calls")
    check_eq(request(g.port, "GET", "/tok/hello", [("Authorization", "victim")]).status, 200,
             "victim still works")

    bodies = ["{", "[]", "null", "", "   ", '"text"', "42", '{"rate": "ten"}',
              '{"access_rights": []}', '{"access_rights": {"tok": 5}}', '{"is_inactive": "yes"}',
              '{"expires": 1.5}', '{"expires": "tomorrow"}', '{"tags": [1]}',
              '{"basic_auth_data": {"password": 5}}', '{"meta_data": []}',
              '{"quota_max": 1e400}', '{"rate": 1} trailing', '{"date_created": "yesterday"}',
              '{"a": 1, "rate": "x"}', '{"org_id": 7}']
    for body in bodies:
        for method, path in (("POST", "/tyk/keys/create"), ("POST", "/tyk/keys/malformed"),
                             ("PUT", "/tyk/keys/victim"), ("POST", "/tyk/keys")):
            r = k.call(method, path, body)
            check_eq(r.status, 400, "%s %s with %r: status (body %r)" % (method, path, body,
                                                                          r.body[:200]))
            j = r.json()
            check(j.get("status") == "error" and isinstance(j.get("message"), str)
                  and j["message"].startswith("Request malformed: ") and len(j["message"]) > 19,
                  "%s %s with %r: body %r" % (method, path, body, j))
    check_eq(k.list(), [sha256_hex("victim")], "keys after the malformed calls")
    check_eq(k.get("victim"), before, "victim after the malformed calls")

    for method, body in (("GET", None), ("PUT", session()), ("DELETE", None)):
        r = k.call(method, "/tyk/keys/no-such-key", body)
        check_eq((r.status, r.json()), (404, KEY_NOT_FOUND), "%s unknown key" % method)
    check_eq(k.list(), [sha256_hex("victim")], "PUT of an unknown key created nothing")

    # The key API over HTTP/2 (the admin listener speaks h2c too).
    r = curl_ok("--http2-prior-knowledge", "-H", "x-tyk-authorization: " + ADMIN_SECRET,
                "-X", "POST", "--data-binary", json.dumps(session(["tok"])),
                "http://127.0.0.1:%d/tyk/keys/h2-key" % g.admin)
    check_eq((r.version, r.status, r.json().get("action")), ("2", 200, "added"),
             "POST /tyk/keys/h2-key over HTTP/2")
    check_eq(request(g.port, "GET", "/tok/hello", [("Authorization", "h2-key")]).status, 200,
             "the key made over HTTP/2")
    k.delete("h2-key")
    r = curl_ok("--http2-prior-knowledge", "-X", "POST", "--data-binary", "{}",
                "http://127.0.0.1:%d/tyk/keys/h2-key" % g.admin)
    check_eq((r.status, r.json()), (403, ADMIN_REFUSED), "HTTP/2 without the secret")
    check_eq(k.list(), [sha256_hex("victim")], "keys after the HTTP/2 calls")

    by_hash = k.get(sha256_hex("victim"), hashed=True)
    check_eq(by_hash, before, "GET ?hashed=true")
    r = k.call("GET", "/tyk/keys/%s?hashed=true" % sha256_hex("other"))
    check_eq((r.status, r.json()), (404, KEY_NOT_FOUND), "GET ?hashed=true, unknown hash")
    r = k.call("GET", "/tyk/keys/victim?hashed=true")
    check_eq(r.status, 400, "GET ?hashed=true with a name that is not a hash")
    # The hash is not a key: sent as a credential it is refused.
    expect_error(request(g.port, "GET", "/tok/hello", [("Authorization", sha256_hex("victim"))]),
                 403, DISALLOWED, "the key's hash used as a key")


# ---------------------------------------------------------------------------
# 7. access_rights, expiry, is_inactive


def test_auth_session_states(ctx):
    """access_rights naming API a only: a passes, b 403; empty access_rights: both
    pass; expires in the past 401, in the future passes; is_inactive 403 (the checks'
    order as Tyk's: inactive before expiry before access rights)."""
    b = ctx.backend()
    apis = {"a": protected(b.url(), "/a/"), "b": protected(b.url(), "/b/"),
            "basic-b": protected(b.url(), "/basic-b/", mode="basic")}
    g = auth_gateway(ctx, apis)
    now = int(time.time())
    k = g.keys

    def status(key, api):
        return request(g.port, "GET", "/%s/hello" % api, [("Authorization", key)])

    only_a = k.create(session(["a"]))
    check_eq(status(only_a, "a").status, 200, "key for a on a")
    expect_error(status(only_a, "b"), 403, DISALLOWED, "key for a on b")
    every = k.create(session())
    for api in ("a", "b"):
        check_eq(status(every, api).status, 200, "empty access_rights on " + api)
    expired = k.create(session(expires=now - 60))
    expect_error(status(expired, "a"), 401, EXPIRED, "expired key")
    future = k.create(session(["a"], expires=now + 3600))
    check_eq(status(future, "a").status, 200, "key expiring in an hour")
    inactive = k.create(session(["a"], is_inactive=True))
    expect_error(status(inactive, "a"), 403, INACTIVE, "inactive key")
    both = k.create(session(["a"], is_inactive=True, expires=now - 60))
    expect_error(status(both, "b"), 403, INACTIVE, "inactive, expired, not for b")
    expired_b = k.create(session(["a"], expires=now - 60))
    expect_error(status(expired_b, "b"), 401, EXPIRED, "expired and not for b")
    # A key expiring in two seconds: passes, then (after expiry) 401 — cached or not.
    soon = k.create(session(["a"], expires=now + 2))
    check_eq(status(soon, "a").status, 200, "key expiring in 2 s, before")
    deadline = time.monotonic() + 6
    while time.time() < now + 3 and time.monotonic() < deadline:
        time.sleep(0.1)
    expect_error(status(soon, "a"), 401, EXPIRED, "key expiring in 2 s, after")
    # Basic users follow the same rules (with the Basic realm on 401s).
    k.add("eve", session(["a"], basic_auth_data={"password": "pw"}))
    expect_error(request(g.port, "GET", "/basic-b/hello", [("Authorization", basic("eve", "pw"))]),
                 403, DISALLOWED, "Basic user without basic-b in access_rights")
    k.add("old", session(expires=now - 60, basic_auth_data={"password": "pw"}))
    expect_error(request(g.port, "GET", "/basic-b/hello", [("Authorization", basic("old", "pw"))]),
                 401, EXPIRED, "expired Basic user", 'Basic realm="basic-b"')


# ---------------------------------------------------------------------------
# 8. Rate limits and quotas


def test_auth_rate_limit_and_quota(ctx):
    """rate 4 per 60 s (shards = 1): four requests pass, the fifth gets 429 "Rate limit
    exceeded" with X-RateLimit-Limit 4, -Remaining 0 and a positive -Reset; a gRPC call
    on a spent key ends with 8. quota_max 3: three pass, then 403 "Quota exceeded" (gRPC
    8); the store shows quota_remaining 0 shortly after."""
    b = ctx.backend()
    s = tg.grpc_server(ctx)
    apis = {"tok": protected(b.url(), "/tok/"),
            "grpc": protected("h2c://" + s.target, SERVICE, strip=False)}
    g = auth_gateway(ctx, apis, shards=1)
    k = g.keys
    key = k.create(session(["tok"], rate=4, per=60))
    for i in range(4):
        r = request(g.port, "GET", "/tok/hello", [("Authorization", key)])
        check_eq(r.status, 200, "request %d within the rate" % (i + 1))
    r = curl_ok("--http1.1", "-H", "Authorization: " + key, g.url("/tok/hello"))
    expect_error(r, 429, RATE_LIMITED, "fifth request")
    check_eq((r.headers.get("x-ratelimit-limit"), r.headers.get("x-ratelimit-remaining")),
             ("4", "0"), "X-RateLimit-Limit, -Remaining")
    reset = r.headers.get("x-ratelimit-reset")
    check(reset is not None and reset.isdigit() and 0 < int(reset) <= 60,
          "X-RateLimit-Reset %r" % reset)
    r = curl_ok("--http2-prior-knowledge", "-H", "Authorization: " + key, g.url("/tok/hello"))
    expect_error(r, 429, RATE_LIMITED, "sixth request over HTTP/2")
    check_eq(r.headers.get("x-ratelimit-limit"), "4", "X-RateLimit-Limit over HTTP/2")
    # Another key has its own bucket.
    other = k.create(session(["tok"], rate=4, per=60))
    check_eq(request(g.port, "GET", "/tok/hello", [("Authorization", other)]).status, 200,
             "another key with the same limit")
    # gRPC.
    target = "127.0.0.1:%d" % g.port
    gkey = k.create(session(["grpc"], rate=1, per=60))
    tg.ok(gcall(ctx, target, "raw", "--header", "authorization=" + gkey), "gRPC within the rate")
    res = gcall(ctx, target, "raw", "--expect-code", RESOURCE_EXHAUSTED, "--header",
                "authorization=" + gkey)
    tg.ok(res, "gRPC over the rate")
    check_eq(res["message"], RATE_LIMITED, "gRPC over the rate: grpc-message")
    sm, _ = scrape(g.admin)
    check_eq(local_replies(sm, "rate_limited"), 3, "ringway_local_replies_total rate_limited")

    # Quota.
    k.add("quota-key", session(["tok", "grpc"], quota_max=3, quota_renewal_rate=3600))
    check_eq(k.get("quota-key")["quota_remaining"], 3, "quota_remaining when created")
    for i in range(3):
        check_eq(request(g.port, "GET", "/tok/hello", [("Authorization", "quota-key")]).status,
                 200, "request %d within the quota" % (i + 1))
    expect_error(request(g.port, "GET", "/tok/hello", [("Authorization", "quota-key")]), 403,
                 QUOTA_EXCEEDED, "fourth request")
    res = gcall(ctx, target, "raw", "--expect-code", RESOURCE_EXHAUSTED, "--header",
                "authorization=quota-key")
    tg.ok(res, "gRPC with the quota spent")
    check_eq(res["message"], QUOTA_EXCEEDED, "gRPC quota grpc-message")
    t0 = time.monotonic()
    seen = []
    while True:  # the shard sends its counts every quota_flush_ms (100)
        seen.append(k.get("quota-key")["quota_remaining"])
        if seen[-1] == 0:
            break
        if time.monotonic() - t0 > 3:
            fail("quota_remaining in the store never reached 0 within 3 s: %r" % seen[-5:])
        time.sleep(0.1)
    ctx.note("quota_remaining reached 0 in the store %.2fs after the check started"
             % (time.monotonic() - t0))
    sm, _ = scrape(g.admin)
    check_eq(local_replies(sm, "quota_exceeded"), 2, "ringway_local_replies_total quota_exceeded")


def test_auth_quota_max_zero_is_no_quota(ctx):
    """Tyk reads quota_max 0 like -1: no quota (SessionLimiter.RedisQuotaExceeded:
    "if limit.QuotaMax == -1 || limit.QuotaMax == 0 { // No quota set"), and 0 is what a
    Go client sends when it leaves the field unset. Such a key passes, repeatedly, and
    quota_max 1 still allows exactly one request."""
    b = ctx.backend()
    g = auth_gateway(ctx, {"tok": protected(b.url(), "/tok/")})
    g.keys.add("zero-quota", session(["tok"], quota_max=0, quota_renewal_rate=3600))
    g.keys.add("one-quota", session(["tok"], quota_max=1, quota_renewal_rate=3600))
    check_eq(request(g.port, "GET", "/tok/hello", [("Authorization", "one-quota")]).status, 200,
             "quota_max 1: first request")
    expect_error(request(g.port, "GET", "/tok/hello", [("Authorization", "one-quota")]), 403,
                 QUOTA_EXCEEDED, "quota_max 1: second request")
    for i in range(3):
        r = request(g.port, "GET", "/tok/hello", [("Authorization", "zero-quota")])
        check_eq((r.status, r.body), (200, b"hello\n"), "quota_max 0 (no quota in Tyk), "
                 "request %d" % (i + 1))


# ---------------------------------------------------------------------------
# 9. Path normalisation before routing and auth


NORMALISED_TO_SECURE = ["/x/../secure/inspect", "/%73ecure/inspect", "//secure/inspect",
                        "/secure/./inspect", "/%2e%2e/secure/inspect", "/%2E%2E/secure/inspect",
                        "/secure//inspect", "/./secure/inspect", "/x/y/../../secure/inspect",
                        "/\\secure/inspect", "/SECURE/../secure/inspect", "/secure/x/../inspect"]
BAD_PATHS = ["/secure%2F..", "/secure%2finspect", "/secure%5Cinspect", "/a%zz", "/a%2",
             "/secure/%zzinspect", "/x%2F..%2Fsecure/inspect"]


def _raw(port, path, headers=()):
    with RawConn(port) as c:
        return c.request("GET", path, headers=list(headers))


def _h2(g, path, headers=()):
    args = ["--http2-prior-knowledge", "--path-as-is"]
    for h in headers:
        args += ["-H", "%s: %s" % h]
    r = curl_ok(*args, g.url(path))
    check_eq(r.version, "2", "HTTP/2")
    return r


def test_auth_path_normalisation(ctx):
    """Paths are normalised before routing and auth: /x/../secure/, /%73ecure/,
    //secure/, /secure/./, /%2e%2e/secure/ ... reach the "secure" API (401 without its
    key, 200 with it, the upstream sees the normalised, stripped path), over HTTP/1.1
    and HTTP/2, never the keyless "/" API; encoded slashes and invalid escapes 400; with
    allow_encoded_slashes on "open", /x%2Fy is forwarded still encoded."""
    b = ctx.backend()
    apis = {"secure": protected(b.url(), "/secure/"),
            "open": {"listen_path": "/", "target_url": b.url()}}
    g = auth_gateway(ctx, apis)
    key = g.keys.create(session(["secure"]))
    auth = [("Authorization", key)]
    for path in NORMALISED_TO_SECURE:
        for proto, send in (("h1", lambda p, h=(): _raw(g.port, p, h)),
                            ("h2", lambda p, h=(): _h2(g, p, h))):
            what = "%s %s" % (proto, path)
            expect_error(send(path), 401, FIELD_MISSING, what + " without a key")
            expect_error(send(path, [("Authorization", "wrong")]), 403, DISALLOWED,
                         what + " with a wrong key")
            j = inspect(send(path, auth), what + " with the key")
            check_eq(j["path"], "/inspect", what + ": path upstream")
            check("authorization" not in j["headers"], what + ": credential forwarded")
    # The open API gets the normalised path too.
    for path in ("/x/../inspect", "/%69nspect", "//inspect", "/a/./b/../../inspect"):
        check_eq(inspect(_raw(g.port, path), "open " + path)["path"], "/inspect",
                 "h1 open %s: path upstream" % path)
        check_eq(inspect(_h2(g, path), "open " + path)["path"], "/inspect",
                 "h2 open %s: path upstream" % path)
    check_eq(inspect(_raw(g.port, "/inspect?q=%2F..%2Fsecure"), "query")["path"],
             "/inspect?q=%2F..%2Fsecure", "the query is not touched")
    for path in BAD_PATHS:
        for proto, send in (("h1", lambda p, h=(): _raw(g.port, p, h)),
                            ("h2", lambda p, h=(): _h2(g, p, h))):
            r = send(path, auth)
            check_eq(r.status, 400, "%s %s: status (body %r)" % (proto, path, r.body[:200]))
            check("error" in r.json(), "%s %s: body %r" % (proto, path, r.body[:200]))

    # allow_encoded_slashes on the "/" API: forwarded encoded, never split for routing.
    cap = ctx.capture_upstream()
    apis2 = {"secure": protected(b.url(), "/secure/"),
             "open": {"listen_path": "/", "target_url": cap.url(), "allow_encoded_slashes": True}}
    g2 = auth_gateway(ctx, apis2)
    for path in ("/x%2Fy", "/secure%2Finspect", "/x%2F..%2Fsecure/inspect"):
        r = _raw(g2.port, path)
        check_eq(r.status, 200, "allow_encoded_slashes: %s (body %r)" % (path, r.body[:200]))
        check_eq(r.json()["target"], path, "allow_encoded_slashes: %s upstream" % path)
    r = _h2(g2, "/x%2fy")
    check_eq((r.status, r.json()["target"]), (200, "/x%2Fy"),
             "h2 /x%2fy: forwarded encoded (upper-case hex)")
    expect_error(_raw(g2.port, "/x/../secure/inspect"), 401, FIELD_MISSING,
                 "allow_encoded_slashes elsewhere does not open /x/../secure/")


def _mtls_gateway(ctx, apis):
    from tls_certs import pki
    p = pki(ctx)
    last = None
    for _ in range(3):
        port, tls_port, admin = free_port(), free_port(), free_port()
        if len({port, tls_port, admin}) < 3:
            continue
        sections = dict(admin_section(admin))
        sections["store"] = {"path": store_path(ctx), "bcrypt_cost": 4}
        sections["tls"] = {"cert_file": p.cert("server-rsa"), "key_file": p.key("server-rsa"),
                           "client_ca_file": p.cert("ca")}
        text = make_ini(port, apis, sections, tls_listen="127.0.0.1:%d" % tls_port)
        try:
            g = ctx.gateway_from_text(text, port)
        except GatewayStartError as e:
            last = e
            if "in use" not in str(e) and "not accepting" not in str(e):
                raise
            continue
        wait_for(lambda: port_accepts(tls_port, timeout=0.2), START_TIMEOUT_S,
                 what="the TLS listener")
        wait_for(lambda: curl("http://127.0.0.1:%d/hello" % admin).status == 200, 5,
                 what="the admin listener")
        g.tls_port, g.admin, g.keys = tls_port, admin, KeyApi(admin)
        return g, p
    raise last or GatewayStartError("no three distinct free ports")


def test_auth_path_normalisation_mtls_and_combined(ctx):
    """An mTLS API cannot be reached through the keyless "/" API with /x/../mtls/ or
    /%6dtls/: the client certificate is still required. An API with mTLS and token auth
    needs both: certificate and key 200, certificate alone 401 (no key), key alone 401
    (no certificate)."""
    b = ctx.backend()
    apis = {"mtls": {"listen_path": "/mtls/", "strip_listen_path": True, "target_url": b.url(),
                     "use_keyless": False, "use_mutual_tls_auth": True},
            "both": protected(b.url(), "/both/", use_mutual_tls_auth=True),
            "open": {"listen_path": "/", "target_url": b.url()}}
    g, p = _mtls_gateway(ctx, apis)
    key = g.keys.create(session(["both"]))
    ca = ["--cacert", p.cert("ca")]
    cert = ["--cert", p.cert("client-allowed"), "--key", p.key("client-allowed")]
    base = "https://127.0.0.1:%d" % g.tls_port
    for flag in ("--http1.1", "--http2"):
        for path in ("/x/../mtls/inspect", "/%6dtls/inspect", "//mtls/inspect",
                     "/mtls/./inspect"):
            what = "%s %s" % (flag, path)
            r = curl_ok(flag, "--path-as-is", *ca, base + path)
            check_eq(r.status, 401, what + " without a certificate (body %r)" % r.body[:200])
            r = curl_ok(flag, "--path-as-is", *(ca + cert), base + path)
            check_eq(inspect(r, what + " with the certificate")["path"], "/inspect",
                     what + ": path upstream")
        # mTLS + token.
        url = base + "/both/inspect"
        r = curl_ok(flag, *(ca + cert), "-H", "Authorization: " + key, url)
        j = inspect(r, flag + " both: certificate and key")
        check("authorization" not in j["headers"], "credential forwarded")
        expect_error(curl_ok(flag, *(ca + cert), url), 401, FIELD_MISSING,
                     flag + " both: certificate, no key")
        r = curl_ok(flag, *ca, "-H", "Authorization: " + key, url)
        check_eq(r.status, 401, flag + " both: key, no certificate (body %r)" % r.body[:200])
        r = curl_ok(flag, *(ca + cert), "-H", "Authorization: wrong", url)
        expect_error(r, 403, DISALLOWED, flag + " both: certificate, wrong key")
    # Over cleartext the mTLS API is never reachable, normalised or not.
    for path in ("/x/../mtls/inspect", "/%6dtls/inspect"):
        check_eq(_raw(g.port, path).status, 401, "cleartext %s" % path)


# ---------------------------------------------------------------------------
# 10. A wrong-password flood


def test_auth_wrong_password_flood(ctx):
    """bcrypt_workers = 1, bcrypt_queue = 4, bcrypt_cost = 10: at least 200 distinct
    wrong passwords (and at least 2 s of them) sent 40 at a time each get 401 or 503
    (none hangs; some 503 with cause auth_unavailable), the bcrypt queue gauge never
    exceeds 4, while a valid user in the cache keeps getting 200s, none slower than 2 s
    (a hang check, not a speed test)."""
    b = ctx.backend()
    g = auth_gateway(ctx, {"basic": protected(b.url(), "/basic/", mode="basic")},
                     store={"bcrypt_workers": 1, "bcrypt_queue": 4, "bcrypt_cost": 10,
                            "cache_ttl_ms": 120000})
    g.keys.add("valid", session(basic_auth_data={"password": "right"}))
    check(g.keys.get("valid")["basic_auth_data"]["password"].startswith(("$2a$10$", "$2b$10$")),
          "cost-10 hash")
    good = [("Authorization", basic("valid", "right"))]
    check_eq(request(g.port, "GET", "/basic/hello", good).status, 200, "warming the valid user")
    checks_before = metric(scrape(g.admin)[0], "ringway_store_password_checks_total")

    stop = threading.Event()
    valid_results = []  # (status, seconds)
    depths = []
    errors = []
    flood = []  # (status, seconds, body)
    sent = [0]
    lock = threading.Lock()
    t0 = time.monotonic()

    def valid_user():
        while not stop.is_set() and len(valid_results) < 3000:
            t = time.monotonic()
            try:
                st = request(g.port, "GET", "/basic/hello", good, timeout=10).status
            except Exception as e:  # noqa: BLE001 - counted as a failure
                st = repr(e)
            valid_results.append((st, time.monotonic() - t))
            time.sleep(0.01)

    def scraper():
        while not stop.is_set() and len(depths) < 3000:
            try:
                depths.append(metric(scrape(g.admin, timeout=5)[0], "ringway_bcrypt_queue_depth"))
            except Exception as e:  # noqa: BLE001
                errors.append("scrape: %r" % e)
            time.sleep(0.02)

    def attacker():
        # At least 200 distinct wrong passwords and at least 2 s of flood, at most 20000,
        # over one keep-alive connection per thread (a new one when the gateway closes it).
        conn = None
        while True:
            with lock:
                i = sent[0]
                if i >= 20000 or (i >= 200 and time.monotonic() - t0 >= 2.0):
                    break
                sent[0] += 1
            t = time.monotonic()
            try:
                if conn is None:
                    conn = http.client.HTTPConnection("127.0.0.1", g.port, timeout=20)
                conn.request("GET", "/basic/hello", headers={
                    "Authorization": basic("valid", "wrong-%d" % i)})
                r = conn.getresponse()
                body = r.read()
                flood.append((r.status, time.monotonic() - t, body))
                if r.will_close:
                    conn.close()
                    conn = None
            except Exception as e:  # noqa: BLE001 - reported as a status
                flood.append((repr(e), time.monotonic() - t, b""))
                if conn is not None:
                    conn.close()
                conn = None
        if conn is not None:
            conn.close()

    helpers = [threading.Thread(target=valid_user), threading.Thread(target=scraper)]
    attackers = [threading.Thread(target=attacker) for _ in range(40)]
    for t in helpers + attackers:
        t.start()
    try:
        for t in attackers:
            t.join(max(1.0, t0 + 120 - time.monotonic()))
        check(not any(t.is_alive() for t in attackers), "the flood did not end within 120 s")
    finally:
        stop.set()
        for t in helpers:
            t.join(30)
    elapsed = time.monotonic() - t0
    statuses = {}
    for st, _, _ in flood:
        statuses[st] = statuses.get(st, 0) + 1
    slowest = max(d for _, d, _ in flood)
    ctx.note("flood of %d wrong passwords in %.1fs: %r, slowest %.2fs; valid user: %d "
             "requests, slowest %.3fs; queue depth max %s"
             % (len(flood), elapsed, statuses, slowest, len(valid_results),
                max(d for _, d in valid_results) if valid_results else -1,
                max(depths) if depths else None))
    check(not errors, "scrapes failed: %s" % errors[:3])
    check(set(statuses) <= {401, 503}, "flood statuses %r" % statuses)
    check(statuses.get(503, 0) > 0, "no 503 in the flood: %r" % statuses)
    check(slowest < 5.0, "a wrong password waited %.1fs for its answer" % slowest)
    for st, _, body in flood:
        if st == 401:
            check_eq(json.loads(body), {"error": NOT_AUTHORISED}, "401 body")
    check(len(valid_results) >= 10, "the valid user got only %d requests in" % len(valid_results))
    bad = [r for r in valid_results if r[0] != 200 or r[1] > 2.0]
    check(not bad, "valid user during the flood: %d of %d not 200 within 2 s: %r"
          % (len(bad), len(valid_results), bad[:5]))
    check(depths and max(depths) <= 4, "ringway_bcrypt_queue_depth samples %r" % depths[-20:])
    check(g.alive(), "the gateway died")
    s, _ = scrape(g.admin)
    check(local_replies(s, "auth_unavailable") >= statuses.get(503, 0),
          "ringway_local_replies_total auth_unavailable %r < %d 503s"
          % (local_replies(s, "auth_unavailable"), statuses.get(503, 0)))
    ctx.note("%d bcrypt checks ran for %d 401s" % (
        metric(s, "ringway_store_password_checks_total") - checks_before, statuses.get(401, 0)))
    check(metric(s, "ringway_bcrypt_refused_total") > 0, "ringway_bcrypt_refused_total")
    # Afterwards everything still works, including a fresh wrong password.
    check_eq(request(g.port, "GET", "/basic/hello", good).status, 200, "valid user after")
    expect_error(wait_for(lambda: (lambda r: r if r.status != 503 else None)(
        request(g.port, "GET", "/basic/hello", [("Authorization", basic("valid", "late"))])),
        10, interval=0.1, what="a wrong password answered 401 after the flood"), 401,
        NOT_AUTHORISED, "wrong password after the flood", 'Basic realm="basic"')


test_auth_wrong_password_flood.timeout = 180


# ---------------------------------------------------------------------------
# 11. Configuration errors


def _line_of(text, section, key):
    current = None
    for i, line in enumerate(text.split("\n"), start=1):
        s = line.strip()
        if s.startswith("[") and s.endswith("]"):
            current = s[1:-1]
        elif current == section and s.split("=", 1)[0].strip() == key:
            return i
    raise KeyError("%s.%s not in the INI text" % (section, key))


def test_auth_config_errors(ctx):
    """--check: use_keyless with use_standard_auth, Basic and token auth both on
    Authorization, auth_header without use_standard_auth, [store] backend = redis and an
    unknown [store] key each give exit 2 and FILE:LINE: at the offending line; a valid
    auth configuration passes. A [store] path in a missing directory is a --check error
    and stops the gateway at start with a message naming the path."""
    target = "http://127.0.0.1:9"
    store = {"path": ctx.tmp("check.db"), "bcrypt_cost": 4}

    def ini(api=None, store_keys=None):
        a = {"listen_path": "/a/", "target_url": target, "use_keyless": False,
             "use_standard_auth": True}
        a.update(api or {})
        a = {k: v for k, v in a.items() if v is not None}
        st = dict(store)
        st.update(store_keys or {})
        return make_ini(free_port(), {"a": a, "open": {"listen_path": "/", "target_url": target}},
                        {"store": st})

    def run(name, text):
        path = ctx.tmp(name + ".ini")
        with open(path, "w") as f:
            f.write(text)
        rc, out, err = ctx.run_gateway_cli("--check", "--config", path)
        lines = {}
        for l in err.splitlines():
            m = re.match(re.escape(path) + r":(\d+): (.+)", l)
            if m:
                lines[int(m.group(1))] = m.group(2)
        return rc, err, lines

    for name, text in (("valid-token", ini()),
                       ("valid-basic", ini({"use_standard_auth": None, "use_basic_auth": True})),
                       ("valid-both", ini({"use_basic_auth": True, "auth_header": "x-api-key"})),
                       ("valid-store", ini(store_keys={"backend": "sqlite", "bcrypt_workers": 2,
                                                       "bcrypt_queue": 16, "cache_ttl_ms": 100,
                                                       "cache_entries": 16}))):
        rc, err, _ = run(name, text)
        check_eq((rc, err), (0, ""), "--check %s" % name)

    cases = [
        ("use_keyless with use_standard_auth", ini({"use_keyless": True}),
         [("api.a", "use_keyless"), ("api.a", "use_standard_auth")], "use_keyless"),
        ("basic and token both on Authorization", ini({"use_basic_auth": True}),
         [("api.a", "use_standard_auth"), ("api.a", "use_basic_auth")], "Authorization"),
        ("auth_header without use_standard_auth",
         ini({"use_standard_auth": None, "use_basic_auth": True, "auth_header": "x-api-key"}),
         [("api.a", "auth_header")], "auth_header"),
        ("[store] backend = redis", ini(store_keys={"backend": "redis"}),
         [("store", "backend")], "redis"),
        ("unknown [store] key", ini(store_keys={"bogus_key": 1}), [("store", "bogus_key")],
         "bogus_key"),
        ("bcrypt_cost out of range", ini(store_keys={"bcrypt_cost": 3}),
         [("store", "bcrypt_cost")], "bcrypt_cost"),
    ]
    bad = []
    for i, (what, text, where, word) in enumerate(cases):
        want = {_line_of(text, s, k) for s, k in where}
        rc, err, lines = run("case%d" % i, text)
        if (rc != 2 or not lines or not set(lines) <= want
                or not any(word in m for m in lines.values())):
            bad.append("%s: exit %d, want exit 2 and FILE:LINE: at line(s) %s naming %r; "
                       "stderr: %r" % (what, rc, sorted(want), word, err[-400:]))
    check(not bad, "%d of %d --check cases wrong:\n%s" % (len(bad), len(cases), "\n".join(bad)))

    # A store in a directory that does not exist: the gateway does not start.
    missing = ctx.tmp("no-such-dir/keys.db")
    path = ctx.tmp("missing-dir.ini")
    with open(path, "w") as f:
        f.write(ini(store_keys={"path": missing}))
    rc, out, err = ctx.run_gateway_cli("--config", path, timeout=15)
    check(rc not in (0, None) and rc > 0, "exit status %r when the store's directory is "
          "missing (stderr %r)" % (rc, err[-400:]))
    check(missing in err, "the error does not name the store's path %r: %r" % (missing, err[-600:]))
    check(not os.path.exists(os.path.dirname(missing)), "the missing directory was created")
    # --check says so too (as it does for TLS files), naming the directory.
    rc, out, err = ctx.run_gateway_cli("--check", "--config", path)
    check_eq(rc, 2, "--check exit status with the store's directory missing (%r)" % err[-300:])
    check("directory %s does not exist" % os.path.dirname(missing) in err,
          "--check names the missing directory: %r" % err[-400:])


# ---------------------------------------------------------------------------
# 12. Reload


def test_auth_reload_cannot_add_the_store(ctx):
    """A gateway started without a store: a reload that turns on use_standard_auth is
    rejected (GET /tyk/reload?block=true answers the error; SIGHUP logs it) and the
    running configuration stays (the API stays keyless). With a store running, the same
    change applies on reload and the API then wants a key."""
    b = ctx.backend()
    admin = free_port()
    keyless = {"a": {"listen_path": "/a/", "strip_listen_path": True, "target_url": b.url()}}
    locked = {"a": protected(b.url(), "/a/")}
    g = ctx.gateway(keyless, sections=admin_section(admin))
    wait_for(lambda: curl("http://127.0.0.1:%d/hello" % admin).status == 200, 5,
             what="the admin listener")

    def generation():
        return curl_ok("http://127.0.0.1:%d/hello" % admin).json()["details"]["config"][
            "observedValue"]

    check_eq(curl_ok(g.url("/a/hello")).status, 200, "keyless API before the reload")
    # A valid store path: the one thing wrong is that no store runs.
    sections = admin_section(admin)
    sections["store"] = {"path": os.path.join(g.dir, "keys.db")}
    with open(g.config_path, "w") as f:
        f.write(make_ini(g.port, locked, sections))
    r = curl("-H", "x-tyk-authorization: " + ADMIN_SECRET,
             "http://127.0.0.1:%d/tyk/reload?block=true" % admin)
    check_eq(r.status, 500, "blocking reload adding token auth without a store (body %r)"
             % r.body[:300])
    msg = r.json().get("message", "")
    check("key store" in msg and "restart" in msg, "reload error message %r" % msg)
    check_eq(generation(), 1, "configuration generation after the refused reload")
    check_eq(curl_ok(g.url("/a/hello")).status, 200, "the API is still keyless")
    rejected = g.stderr_text().count("reload rejected")
    check(rejected > 0, "the refused reload was not logged: %r" % g.stderr_text()[-500:])
    g.send_signal(signal.SIGHUP)
    wait_for(lambda: g.stderr_text().count("reload rejected") > rejected, 5,
             what="the SIGHUP reload's rejection in the log")
    check_eq(generation(), 1, "configuration generation after SIGHUP")
    check_eq(curl_ok(g.url("/a/hello")).status, 200, "the API is still keyless after SIGHUP")
    check(g.alive(), "the gateway died")

    # With a store running (a [store] section, every API keyless) the change applies.
    g2 = auth_gateway(ctx, keyless)
    gen = lambda: curl_ok("http://127.0.0.1:%d/hello" % g2.admin).json()[  # noqa: E731
        "details"]["config"]["observedValue"]
    check_eq(curl_ok(g2.url("/a/hello")).status, 200, "keyless with a store")
    with open(g2.config_path, "w") as f:
        f.write(make_ini(g2.port, locked, {"admin": {"listen": "127.0.0.1:%d" % g2.admin,
                                                     "secret": ADMIN_SECRET},
                                           "store": {"path": g2.db, "bcrypt_cost": 4}}))
    r = curl("-H", "x-tyk-authorization: " + ADMIN_SECRET,
             "http://127.0.0.1:%d/tyk/reload?block=true" % g2.admin)
    check_eq((r.status, r.json()), (200, {"status": "ok", "message": ""}), "reload with a store")
    check_eq(gen(), 2, "generation after the reload")
    expect_error(curl_ok(g2.url("/a/hello")), 401, FIELD_MISSING, "token auth after the reload")
    key = g2.keys.create(session(["a"]))
    check_eq(curl_ok("-H", "Authorization: " + key, g2.url("/a/hello")).status, 200,
             "key after the reload")


# ---------------------------------------------------------------------------
# Found in review


def test_auth_basic_user_name_is_not_a_token(ctx):
    """A Basic-auth user is a key named by the user name, which is not a secret: on a
    token API that name (without the password) is refused like an unknown key, and a
    token key is no Basic user."""
    b = ctx.backend()
    g = auth_gateway(ctx, {"tok": protected(b.url(), "/tok/"),
                           "basic": protected(b.url(), "/basic/", mode="basic")})
    k = g.keys
    k.add("alice", session(basic_auth_data={"password": "s3cret"}))
    k.add("tokenkey", session())
    check_eq(request(g.port, "GET", "/basic/hello", [("Authorization", basic("alice", "s3cret"))])
             .status, 200, "alice with her password")
    for value in ("alice", "Bearer alice"):
        r = request(g.port, "GET", "/tok/hello", [("Authorization", value)])
        expect_error(r, 403, DISALLOWED, "the user name %r as a token" % value)
    check_eq(request(g.port, "GET", "/tok/hello", [("Authorization", "tokenkey")]).status, 200,
             "a token key")
    r = request(g.port, "GET", "/basic/hello", [("Authorization", basic("tokenkey", ""))])
    expect_error(r, 401, NOT_AUTHORISED, "a token key as a Basic user",
                 www='Basic realm="basic"')


def test_auth_key_names_must_be_text(ctx):
    """Key names are echoed in JSON replies: a name that is not UTF-8 text (or holds
    control characters) is a 400 and the gateway keeps serving."""
    b = ctx.backend()
    g = auth_gateway(ctx, {"tok": protected(b.url(), "/tok/")})
    k = g.keys
    for name in ("%FF", "bad%C3", "a%00b", "a%0Ab", "a%2Fb"):
        for method, body in (("POST", session()), ("GET", None), ("DELETE", None)):
            r = k.call(method, "/tyk/keys/" + name, body)
            check_eq(r.status, 400, "%s /tyk/keys/%s (body %r)" % (method, name, r.body[:200]))
    check_eq(k.list(), [], "nothing was written")
    # UTF-8 text is a fine name.
    j = k.ok("POST", "/tyk/keys/jos%C3%A9", session())
    check_eq((j["key"], j["key_hash"]), ("jos\u00e9", sha256_hex("jos\u00e9")),
             "the percent-decoded UTF-8 name")
    check_eq(request(g.port, "GET", "/tok/hello", [("Authorization", "jos\u00e9".encode())])
             .status, 200, "a UTF-8 key")
    check(g.alive(), "the gateway died")


def test_auth_key_api_calls_apply_in_order(ctx):
    """A write whose password is being hashed (on a bcrypt worker) and the calls sent
    after it are applied in the order they came: POST a user with a password, then at
    once DELETE it, then GET: 404, every time."""
    b = ctx.backend()
    g = auth_gateway(ctx, {"basic": protected(b.url(), "/basic/", mode="basic")},
                     store={"bcrypt_cost": 8})
    k = g.keys
    for i in range(5):
        name = "racer%d" % i
        results = {}

        def post():
            results["post"] = k.call("POST", "/tyk/keys/" + name,
                                     session(basic_auth_data={"password": "pw"})).status

        t = threading.Thread(target=post)
        t.start()
        time.sleep(0.005)  # the POST is in (hashing); the DELETE comes behind it
        r = k.call("DELETE", "/tyk/keys/" + name)
        t.join(10)
        check_eq(results.get("post"), 200, "POST %s" % name)
        if r.status == 200:
            check_eq(k.call("GET", "/tyk/keys/" + name).status, 404,
                     "%s deleted after its POST" % name)
        else:
            # The DELETE reached the store first: the user exists and works.
            check_eq(r.status, 404, "DELETE %s" % name)
            check_eq(request(g.port, "GET", "/basic/hello",
                             [("Authorization", basic(name, "pw"))]).status, 200,
                     "%s created after the DELETE" % name)
