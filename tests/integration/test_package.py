"""Installation: scripts/package-deb builds ringway_VERSION_ARCH.deb with dpkg-deb; the
package is installed into a scratch root (dpkg --root, maintainer scripts run
chrootless with DPKG_ROOT) and its files, control data, system user and removal are
checked, with the host's accounts and dpkg database untouched. The postinst also runs
as on a live system, against a copy of /etc in a private mount namespace. Then
`meson install` with the default prefix (/usr/local) from the same build directory.

Needs root (dpkg --root, chown in the postinst), dpkg-dev (dpkg-shlibdeps) and passwd
(useradd/groupadd --prefix). The package is built from this source tree into the
test's own directory (a release build: under a minute on two cores)."""

import os
import re
import shutil
import stat
import subprocess

from harness import check, check_eq, fail

HERE = os.path.dirname(os.path.abspath(__file__))
SRC = os.path.dirname(os.path.dirname(HERE))
PACKAGE_DEB = os.path.join(SRC, "scripts", "package-deb")

BUILD_TIMEOUT_S = 840  # scripts/package-deb from an empty build directory
STEP_TIMEOUT_S = 120  # every other command

HOST_FILES = ("/etc/passwd", "/etc/group", "/etc/shadow", "/etc/gshadow",
              "/var/lib/dpkg/statoverride")


def run(cmd, what, timeout=STEP_TIMEOUT_S, env=None, ok=(0,)):
    """Runs cmd (bounded); fails with the end of its output unless it exits in ok."""
    try:
        p = subprocess.run([str(c) for c in cmd], stdin=subprocess.DEVNULL,
                           stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                           timeout=timeout, env=env)
    except subprocess.TimeoutExpired:
        fail("%s did not finish within %ss: %s" % (what, timeout, " ".join(map(str, cmd))))
    except OSError as e:
        fail("%s: cannot run %s: %s" % (what, cmd[0], e))
    out = p.stdout.decode(errors="replace")
    err = p.stderr.decode(errors="replace")
    if p.returncode not in ok:
        # scripts/package-deb's own messages first (compiler output can be long).
        own = [l for l in err.splitlines() if l.startswith("package-deb:")]
        fail("%s exited %d: %s\n%s\nstderr (end):\n%s\nstdout (end):\n%s" % (
            what, p.returncode, " ".join(map(str, cmd)), "\n".join(own), err[-2500:],
            out[-1000:]))
    p.out, p.err = out, err
    return p


def meson_version():
    with open(os.path.join(SRC, "meson.build")) as f:
        m = re.search(r"project\((?:[^()]|\([^()]*\))*?version\s*:\s*'([^']+)'", f.read())
    check(m, "no project version in meson.build")
    return m.group(1)


def control_fields(text):
    """Fields of a control stanza (continuation lines joined with newlines)."""
    fields, key = {}, None
    for line in text.splitlines():
        if line[:1] in (" ", "\t") and key:
            fields[key] += "\n" + line.strip()
        elif ":" in line:
            key, _, value = line.partition(":")
            key = key.strip()
            fields[key] = value.strip()
    return fields


def unit_entries(text):
    """{(section, key): [values]} of a systemd unit."""
    entries, section = {}, None
    for line in text.splitlines():
        line = line.strip()
        if not line or line[0] in "#;":
            continue
        if line.startswith("[") and line.endswith("]"):
            section = line[1:-1]
            continue
        key, sep, value = line.partition("=")
        if sep:
            entries.setdefault((section, key.strip()), []).append(value.strip())
    return entries


def account(path, name):
    """NAME's entry in an /etc/passwd-style file, as a list of fields, or None."""
    try:
        with open(path) as f:
            for line in f:
                fields = line.rstrip("\n").split(":")
                if fields[0] == name:
                    return fields
    except FileNotFoundError:
        return None
    return None


def file_bytes(path):
    try:
        with open(path, "rb") as f:
            return f.read()
    except FileNotFoundError:
        return None


def owning_package(path):
    """The Debian package that ships |path| on this host (merged /usr aware)."""
    candidates = [path, os.path.realpath(path)]
    for p in list(candidates):
        if p.startswith("/usr/"):
            candidates.append(p[len("/usr"):])
        else:
            candidates.append("/usr" + p)
    for p in candidates:
        r = run(["dpkg", "-S", p], "dpkg -S", ok=(0, 1))
        if r.returncode == 0:
            return r.out.split(":", 1)[0].split(",")[0].strip()
    return None


def depends_names(depends):
    """Package names in a Depends value (alternatives included, versions dropped)."""
    names = set()
    for clause in depends.split(","):
        for alt in clause.split("|"):
            name = alt.strip().split(" ")[0].split("(")[0].split(":")[0]
            if name:
                names.add(name)
    return names


def host_state():
    """What installing into the scratch root must not change on this host."""
    state = {p: file_bytes(p) for p in HOST_FILES}
    state["dpkg ringway"] = run(["dpkg-query", "-W", "-f", "${db:Status-Abbrev}", "ringway"],
                                "dpkg-query on the host", ok=(0, 1)).out
    for p in ("/etc/ringway", "/usr/bin/ringway", "/usr/lib/systemd/system/ringway.service",
              "/lib/systemd/system/ringway.service", "/var/log/ringway"):
        state["exists " + p] = os.path.lexists(p)
    for p in ("/var/log/lastlog", "/var/log/faillog"):  # useradd's other files
        try:
            st = os.stat(p)
            state[p] = (st.st_size, st.st_mtime_ns)
        except FileNotFoundError:
            state[p] = None
    return state


def make_scratch_root(root):
    """An empty dpkg installation with minimal account files."""
    for d in ("etc", "var/lib/dpkg/info", "var/lib/dpkg/updates", "var/log"):
        os.makedirs(os.path.join(root, d))
    for name in ("status", "available"):
        open(os.path.join(root, "var/lib/dpkg", name), "w").close()
    seeds = {"passwd": ("root:x:0:0:root:/root:/bin/bash\n", 0o644),
             "group": ("root:x:0:\n", 0o644),
             "shadow": ("root:*:19000:0:99999:7:::\n", 0o640),
             "gshadow": ("root:*::\n", 0o640)}
    for name, (text, mode) in seeds.items():
        path = os.path.join(root, "etc", name)
        with open(path, "w") as f:
            f.write(text)
        os.chmod(path, mode)


def dpkg_in(root, *args):
    """dpkg acting on the scratch root only: its admin dir and log, maintainer
    scripts run here with DPKG_ROOT=root, dependencies not installed there."""
    return run(["dpkg", "--root=" + root, "--log=" + os.path.join(root, "var/log/dpkg.log"),
                "--force-script-chrootless", "--force-depends"] + list(args),
               "dpkg --root " + " ".join(args))


# The postinst as on a running system (DPKG_ROOT empty), in a private mount
# namespace whose /etc is a tmpfs copy of the host's and whose /run/systemd is hidden:
# useradd and chown act on the copy, and systemctl is not called.
POSTINST_IN_NAMESPACE = r"""
set -e
copy=$1 postinst=$2
mount -t tmpfs tmpfs "$copy"
cp -a /etc/. "$copy/"
mount --bind "$copy" /etc
mountpoint -q /etc
if [ -d /run/systemd ]; then mount -t tmpfs tmpfs /run/systemd; fi
mkdir -p /etc/ringway
DPKG_ROOT= DPKG_ADMINDIR=/var/lib/dpkg DPKG_MAINTSCRIPT_PACKAGE=ringway "$postinst" configure ""
DPKG_ROOT= DPKG_ADMINDIR=/var/lib/dpkg DPKG_MAINTSCRIPT_PACKAGE=ringway "$postinst" configure 0
getent passwd ringway
getent group ringway
stat -c '%a %u %g' /etc/ringway
grep -c '^ringway:' /etc/passwd
"""


def check_postinst_on_running_system(ctx, deb):
    if run(["unshare", "-m", "true"], "unshare -m", ok=(0, 1)).returncode != 0:
        ctx.note("postinst without DPKG_ROOT not run: no mount namespaces here (unshare -m)")
        return
    control = ctx.tmp("control")
    run(["dpkg-deb", "-e", deb, control], "dpkg-deb -e")
    copy = ctx.tmp("etc-copy")
    os.mkdir(copy)
    out = run(["unshare", "-m", "--propagation", "private", "sh", "-c", POSTINST_IN_NAMESPACE,
               "sh", copy, os.path.join(control, "postinst")],
              "the postinst in a mount namespace").out.splitlines()
    check_eq(len(out), 4, "output of the postinst check: %r" % out)
    user, group = out[0].split(":"), out[1].split(":")
    check_eq(user[0], "ringway", "user created by the postinst")
    check(0 < int(user[2]) < 1000, "ringway's uid %s is not a system uid" % user[2])
    check_eq(user[3], group[2], "ringway's primary group")
    check_eq(user[5:7], ["/nonexistent", "/usr/sbin/nologin"], "ringway's home and shell")
    check_eq(out[2], "750 0 %s" % group[2], "mode, owner and group of /etc/ringway")
    check_eq(out[3], "1", "ringway users after configuring twice")


def check_unit(path, bindir, config):
    check(os.path.isfile(path), "no unit at %s" % path)
    with open(path) as f:
        text = f.read()
    e = unit_entries(text)
    binary = bindir + "/ringway"
    check_eq(e.get(("Service", "User")), ["ringway"], "User= in %s" % path)
    check_eq(e.get(("Service", "Group")), ["ringway"], "Group= in %s" % path)
    check_eq(e.get(("Service", "ExecStart")), ["%s --config %s" % (binary, config)],
             "ExecStart= in %s" % path)
    check_eq(e.get(("Service", "ExecStartPre")), ["%s --check --config %s" % (binary, config)],
             "ExecStartPre= in %s" % path)
    reload = e.get(("Service", "ExecReload"), [])
    check(reload and reload[-1] == "/bin/kill -HUP $MAINPID",
          "ExecReload= in %s does not end by sending SIGHUP: %r" % (path, reload))
    for key in ("LimitMEMLOCK", "LimitNOFILE", "NoNewPrivileges", "ProtectSystem"):
        check(("Service", key) in e, "%s= missing from %s" % (key, path))
    check(("Service", "DynamicUser") not in e, "DynamicUser= in %s (runs as ringway)" % path)
    check_eq(e.get(("Install", "WantedBy")), ["multi-user.target"], "WantedBy= in %s" % path)
    check("@" not in "".join(v for vals in e.values() for v in vals),
          "unfilled @placeholder@ in %s" % path)


def check_binary(binary, version, config=None):
    st = os.stat(binary)
    check(stat.S_ISREG(st.st_mode) and st.st_mode & 0o111, "%s is not executable" % binary)
    line = run([binary, "--version"], binary + " --version").out.strip()
    check(line.startswith("ringway %s" % version),
          "%s --version: expected 'ringway %s ...', got %r" % (binary, version, line))
    if config:
        run([binary, "--check", "--config", config], "ringway --check on the installed config")
    return line


def test_package_deb(ctx):
    if os.geteuid() != 0:
        fail("needs root: dpkg --root installs the package into a scratch root and the "
             "postinst chowns there")
    for program, package in (("dpkg-shlibdeps", "dpkg-dev"), ("useradd", "passwd"),
                             ("dpkg-deb", "dpkg"), ("objdump", "binutils")):
        if not shutil.which(program) and not os.access("/usr/sbin/" + program, os.X_OK):
            fail("%s is not installed: install the Debian package %s" % (program, package))
    version = meson_version()
    arch = run(["dpkg", "--print-architecture"], "dpkg --print-architecture").out.strip()
    build = ctx.tmp("build-deb")
    out = ctx.tmp("out")
    expected_deb = os.path.join(out, "ringway_%s_%s.deb" % (version, arch))

    # --- build --------------------------------------------------------------
    r = run([PACKAGE_DEB, "--build-dir", build, out], "scripts/package-deb",
            timeout=BUILD_TIMEOUT_S)
    stdout_lines = r.out.strip().splitlines()
    check_eq(stdout_lines, [expected_deb], "scripts/package-deb's stdout (the .deb's path)")
    check(os.path.isfile(expected_deb), "%s was not written" % expected_deb)

    fields = control_fields(run(["dpkg-deb", "-f", expected_deb], "dpkg-deb -f").out)
    check_eq(fields.get("Package"), "ringway", "Package")
    check_eq(fields.get("Version"), version, "Version (meson.build's project version)")
    check_eq(fields.get("Architecture"), arch, "Architecture")
    check_eq(arch, "amd64", "the build architecture (BoringSSL's path is x86_64)")
    for key in ("Maintainer", "Description", "Installed-Size"):
        check(fields.get(key), "control field %s is empty" % key)
    depends = fields.get("Depends", "")
    check(depends, "Depends is empty")

    listing = run(["dpkg-deb", "-c", expected_deb], "dpkg-deb -c").out.splitlines()
    entries = {}
    for line in listing:
        parts = line.split(None, 5)
        entries[parts[5].split(" -> ")[0].lstrip(".")] = (parts[0], parts[1])
    unit_rel = None
    for candidate in ("/usr/lib/systemd/system/ringway.service",
                      "/lib/systemd/system/ringway.service"):
        if candidate in entries:
            unit_rel = candidate
    check(unit_rel, "no systemd unit in the package: %s" % sorted(entries))
    for path, mode in (("/usr/bin/ringway", "-rwxr-xr-x"),
                       ("/etc/ringway/ringway.ini", "-rw-r--r--"), (unit_rel, "-rw-r--r--")):
        check(path in entries, "%s not in the package: %s" % (path, sorted(entries)))
        check_eq(entries[path][0], mode, "mode of %s in the package" % path)
    owners = {owner for _, owner in entries.values()}
    check_eq(owners, {"root/root"}, "owners of the files in the package")

    conffiles = run(["dpkg-deb", "-I", expected_deb, "conffiles"], "dpkg-deb -I conffiles").out
    check_eq(conffiles.split(), ["/etc/ringway/ringway.ini"], "DEBIAN/conffiles")
    control_members = run(["dpkg-deb", "-I", expected_deb], "dpkg-deb -I").out
    for script in ("postinst", "prerm", "postrm"):
        check(re.search(r"\b%s\b" % script, control_members), "no %s in the package" % script)

    # Depends covers every library the binary links (its NEEDED entries, found where
    # the dynamic loader finds them, RUNPATH included): the package of each file.
    extract = ctx.tmp("extract")
    run(["dpkg-deb", "-x", expected_deb, extract], "dpkg-deb -x")
    packaged_bin = os.path.join(extract, "usr/bin/ringway")
    needed = re.findall(r"^\s*NEEDED\s+(\S+)", run(["objdump", "-p", packaged_bin],
                                                      "objdump -p").out, re.M)
    check(len(needed) >= 5, "too few NEEDED entries: %r" % needed)
    ldd = run(["ldd", packaged_bin], "ldd").out
    found = {}
    for m in re.finditer(r"^\s*(\S+) => (/\S+)", ldd, re.M):
        found[m.group(1)] = m.group(2)
    for m in re.finditer(r"^\s*(/\S+) \(0x", ldd, re.M):  # the loader itself
        found.setdefault(os.path.basename(m.group(1)), m.group(1))
    dep_names = depends_names(depends)
    for soname in needed:
        check(soname in found, "%s (NEEDED) is not found by the loader:\n%s" % (soname, ldd))
        pkg = owning_package(found[soname])
        check(pkg, "no Debian package ships %s (NEEDED %s)" % (found[soname], soname))
        check(pkg in dep_names, "Depends lacks %s (ships %s): %s" % (pkg, soname, depends))
    ctx.note("Depends: " + depends)

    # Running it again reuses the build directory and gives the same package.
    r2 = run([PACKAGE_DEB, "--build-dir", build, out], "scripts/package-deb (again)",
             timeout=BUILD_TIMEOUT_S)
    check_eq(r2.out.strip().splitlines(), [expected_deb], "stdout of the second run")
    listing2 = run(["dpkg-deb", "-c", expected_deb], "dpkg-deb -c").out.splitlines()
    check_eq([l.split(None, 5)[0::5] for l in listing2],
             [l.split(None, 5)[0::5] for l in listing], "files of the rebuilt package")

    # --- install into a scratch root ----------------------------------------
    before = host_state()
    root = ctx.tmp("root")
    make_scratch_root(root)
    dpkg_in(root, "--install", expected_deb)
    status = run(["dpkg-query", "--admindir=" + os.path.join(root, "var/lib/dpkg"), "-W",
                  "-f", "${Status}|${Version}|${Conffiles}", "ringway"], "dpkg-query").out
    st, ver, conf = status.split("|", 2)
    check_eq(st, "install ok installed", "package status in the scratch root")
    check_eq(ver, version, "installed version")
    check("/etc/ringway/ringway.ini" in conf, "conffile not registered: %r" % conf)

    binary = os.path.join(root, "usr/bin/ringway")
    config = os.path.join(root, "etc/ringway/ringway.ini")
    line = check_binary(binary, version, config)
    check_unit(root + unit_rel, "/usr/bin", "/etc/ringway/ringway.ini")

    user = account(os.path.join(root, "etc/passwd"), "ringway")
    group = account(os.path.join(root, "etc/group"), "ringway")
    check(user, "the postinst created no ringway user in the scratch root's /etc/passwd")
    check(group, "the postinst created no ringway group in the scratch root's /etc/group")
    uid, gid = int(user[2]), int(user[3])
    check(0 < uid < 1000, "ringway's uid %d is not a system uid" % uid)
    check_eq(gid, int(group[2]), "ringway's primary group")
    check_eq(user[5:7], ["/nonexistent", "/usr/sbin/nologin"], "ringway's home and shell")
    shadow = account(os.path.join(root, "etc/shadow"), "ringway")
    check(shadow and shadow[1] in ("!", "*", "!*"), "ringway's shadow entry: %r" % shadow)
    st = os.stat(os.path.join(root, "etc/ringway"))
    check_eq((oct(stat.S_IMODE(st.st_mode)), st.st_uid, st.st_gid), (oct(0o750), 0, gid),
             "mode, owner and group of /etc/ringway in the scratch root")

    # Configuring again (a reinstall) keeps the one user.
    dpkg_in(root, "--install", expected_deb)
    with open(os.path.join(root, "etc/passwd")) as f:
        check_eq(sum(1 for l in f if l.startswith("ringway:")), 1, "ringway users after reinstall")

    # Purge: files and conffile gone, the system user kept (by design, see postrm).
    dpkg_in(root, "--purge", "ringway")
    for path in ("usr/bin/ringway", "etc/ringway/ringway.ini", unit_rel.lstrip("/")):
        check(not os.path.lexists(os.path.join(root, path)), "%s left after purge" % path)
    check(account(os.path.join(root, "etc/passwd"), "ringway"), "purge removed the user")

    check_postinst_on_running_system(ctx, expected_deb)

    after = host_state()
    for key in before:
        check(before[key] == after[key], "the scratch-root install changed the host: %s" % key)
    had_user = b"\nringway:" in b"\n" + (before["/etc/passwd"] or b"")
    if not had_user:
        check(account("/etc/passwd", "ringway") is None, "the host got a ringway user")
    ctx.note("%s; host accounts, stat overrides and dpkg status of ringway unchanged "
             "(ringway user on the host: %s)" % (line, "yes, before and after" if had_user
                                                 else "no"))

    # --- meson install with the default prefix -------------------------------
    # The same build directory, reconfigured: /usr/local/bin, /usr/local/etc and the
    # unit naming them.
    run(["meson", "configure", build, "-Dprefix=/usr/local", "-Dsysconfdir=etc"],
        "meson configure -Dprefix=/usr/local")
    run(["ninja", "-C", build], "ninja (after the prefix change)", timeout=BUILD_TIMEOUT_S)
    dest = ctx.tmp("destdir")
    run(["meson", "install", "-C", build, "--no-rebuild", "--destdir", dest], "meson install")
    check_binary(os.path.join(dest, "usr/local/bin/ringway"), version,
                 os.path.join(dest, "usr/local/etc/ringway/ringway.ini"))
    check_unit(os.path.join(dest, "usr/local/lib/systemd/system/ringway.service"),
               "/usr/local/bin", "/usr/local/etc/ringway/ringway.ini")


test_package_deb.timeout = 1200
