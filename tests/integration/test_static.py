"""STATIC_MAP: files answered by the worker in C (issue 11), over raw sockets and curl.

The trees live under /tmp with 0755 directories and 0644 files: started as root,
wsginit runs its workers as 65532, who must be able to read them.
"""
import email.utils
import gzip
import hashlib
import os
import shutil
import socket
import subprocess
import tempfile
import threading
import time

import pytest

import wire
from conftest import children, readable_dir
from wire import Conn, get

MTIME = 1700000000
MTIME_DATE = email.utils.formatdate(MTIME, usegmt=True)  # Tue, 14 Nov 2023 22:13:20 GMT
MAX_AGE = "600"
IMMUTABLE = "public, max-age=31536000, immutable"
BIG = os.urandom(1 << 20)
HELLO = b"hello static\n"
CSS = b"body { color: red }\n" * 20
CSS_BR = b"pretend brotli bytes of app.css"  # never decoded: the server does not look inside
ONLY_JS = b"console.log('only a gzip sibling');\n" * 30
FILES = {
    "hello.txt": HELLO,
    "big.bin": BIG,
    "app.css": CSS,
    "app.css.br": CSS_BR,
    "app.css.gz": gzip.compress(CSS, mtime=0),
    "only.js": ONLY_JS,
    "only.js.gz": gzip.compress(ONLY_JS, mtime=0),
    "app.3f2a9c1b7d4e.css": b"hashed { }\n",
    "app.min.css": b"min { }\n",
    "app.3f2a.css": b"short hash { }\n",
    "data.json": b'{"a": 1}\n',
    "script.js": b"var a = 1;\n",
    "logo.svg": b"<svg xmlns='http://www.w3.org/2000/svg'/>\n",
    "pixel.png": b"\x89PNG\r\n\x1a\n",
    "site.webmanifest": b"{}\n",
    "README.TXT": b"upper-case extension\n",
    "noext": b"no extension\n",
    "caf\u00e9.txt": b"caf\xc3\xa9 au lait\n",
    "with space.txt": b"spaced\n",
    "deeper.txt": b"under /static, not /static/deep\n",
    ".env": b"SECRET=1\n",
    ".git/config": b"[core]\n",
    "sub/nested.txt": b"nested\n",
    "sub/.hidden": b"hidden\n",
}


def etag(data, suffix=""):
    return '"%x-%x%s"' % (MTIME, len(data), suffix)


def write_tree(root, files):
    for rel, data in files.items():
        path = os.path.join(root, rel)
        os.makedirs(os.path.dirname(path), mode=0o755, exist_ok=True)
        with open(path, "wb") as f:
            f.write(data)
        os.chmod(path, 0o644)
        os.utime(path, (MTIME, MTIME))


@pytest.fixture(scope="module")
def trees():
    root, deep, media, outside = (readable_dir("wsginit-static-%s-" % n) for n in ("root", "deep", "media", "outside"))
    write_tree(root, FILES)
    write_tree(deep, {"x.txt": b"from deep\n"})
    write_tree(media, {"upload.txt": b"media file\n"})
    write_tree(outside, {"real.css": b"collected by --link\n", "dir/inner.txt": b"inner\n"})
    os.symlink("hello.txt", os.path.join(root, "link.txt"))
    os.symlink(os.path.join(outside, "real.css"), os.path.join(root, "linked.css"))
    os.symlink(os.path.join(outside, "dir"), os.path.join(root, "linkdir"))
    os.mkfifo(os.path.join(root, "fifo"), 0o644)
    secret = os.path.join(root, "secret.txt")  # unreadable for RUN_AS when started as root
    with open(secret, "wb") as f:
        f.write(b"root only\n")
    os.chmod(secret, 0o600)
    yield {"root": root, "deep": deep, "media": media}
    for d in (root, deep, media, outside):
        shutil.rmtree(d, ignore_errors=True)


def static_env(trees, **extra):
    env = {"APP": "static_app:application", "STATIC_MAX_AGE": MAX_AGE,
           "STATIC_MAP": "/static=%s,/static/deep=%s,/media=%s" % (trees["root"], trees["deep"], trees["media"])}
    env.update(extra)
    return env


@pytest.fixture(scope="module")
def srv(trees):
    s = wire.Live(static_env(trees))
    yield s
    s.stop()


def assert_static_ok(r, body, ctype=None):
    assert r.status == 200, r
    assert r.body == body
    assert r.header("Content-Length") == str(len(body))
    assert r.header("Accept-Ranges") == "bytes"
    assert r.header("X-Content-Type-Options") == "nosniff"
    if ctype:
        assert r.header("Content-Type") == ctype


def curl(*args):
    r = subprocess.run(["curl", "-sS", "--max-time", "10", *args], capture_output=True, timeout=20)
    assert r.returncode == 0, r.stderr
    return r.stdout


# ---------------------------------------------------------------- plain GET and HEAD


def test_get_sends_the_file_with_validators(srv):
    r = get(srv.port, "/static/hello.txt")
    assert_static_ok(r, HELLO, "text/plain; charset=utf-8")
    assert r.header("ETag") == etag(HELLO)
    assert r.header("Last-Modified") == MTIME_DATE
    assert r.header("Cache-Control") == "public, max-age=" + MAX_AGE
    assert r.header("Vary") is None and r.header("Content-Encoding") is None
    assert r.header("Date") and r.header("Server", "").startswith("wsginit")


@pytest.mark.parametrize("name,ctype", [
    ("app.css", "text/css; charset=utf-8"),
    ("script.js", "text/javascript; charset=utf-8"),
    ("data.json", "application/json; charset=utf-8"),
    ("site.webmanifest", "application/manifest+json; charset=utf-8"),
    ("logo.svg", "image/svg+xml"),
    ("pixel.png", "image/png"),
    ("README.TXT", "text/plain; charset=utf-8"),
    ("noext", "application/octet-stream"),
])
def test_content_type_from_mime_types(srv, name, ctype):
    assert_static_ok(get(srv.port, "/static/" + name), FILES[name], ctype)


def test_head_has_the_same_headers_and_no_body(srv):
    with Conn(srv.port) as c:
        g = c.request("GET", "/static/hello.txt")
        h = c.request("HEAD", "/static/hello.txt")
        again = c.request("GET", "/static/hello.txt")  # nothing of a body was left on the wire
    assert h.status == 200 and h.body == b""
    drop = {"date"}
    assert [x for x in h.headers if x[0].lower() not in drop] == [x for x in g.headers if x[0].lower() not in drop]
    assert again.body == HELLO


def test_keep_alive_across_static_answers_and_the_app(srv):
    with Conn(srv.port) as c:
        for target, want in [("/static/hello.txt", HELLO), ("/other", b"app GET /other"),
                             ("/static/missing", None), ("/static/sub/nested.txt", b"nested\n")]:
            r = c.request("GET", target)
            if want is None:
                assert r.status == 404
            else:
                assert r.body == want
            assert (r.header("Connection") or "").lower() != "close"


def test_the_app_never_sees_static_requests(srv):
    before = wire.count(srv.port)
    for target in ["/static/hello.txt", "/static/missing", "/static/.env", "/static/%zz", "/media/upload.txt",
                   "/static", "/static/"]:
        get(srv.port, target)
    get(srv.port, "/static/hello.txt", method="POST", body=b"x=1")
    assert wire.count(srv.port) == before + 1


def test_query_string_is_ignored(srv):
    assert_static_ok(get(srv.port, "/static/hello.txt?v=3&x=../../etc/passwd"), HELLO)
    assert_static_ok(get(srv.port, "/static/hello.txt?"), HELLO)


def test_percent_encoded_utf8_and_space_names(srv):
    assert_static_ok(get(srv.port, "/static/caf%C3%A9.txt"), FILES["caf\u00e9.txt"])
    assert_static_ok(get(srv.port, "/static/caf%c3%a9.txt"), FILES["caf\u00e9.txt"])
    assert_static_ok(get(srv.port, "/static/with%20space.txt"), b"spaced\n")
    assert_static_ok(get(srv.port, "/static/%68ello.txt"), HELLO)


def test_a_1mib_file_whole(srv):
    r = get(srv.port, "/static/big.bin", timeout=20)
    assert r.status == 200 and r.header("Content-Length") == str(len(BIG))
    assert hashlib.sha256(r.body).hexdigest() == hashlib.sha256(BIG).hexdigest()
    out = curl(srv.url("/static/big.bin"))
    assert hashlib.sha256(out).hexdigest() == hashlib.sha256(BIG).hexdigest()


# ---------------------------------------------------------------- prefixes and symlinks


def test_prefix_matches_only_at_a_segment_boundary(srv):
    assert get(srv.port, "/staticfoo").body == b"app GET /staticfoo"
    assert get(srv.port, "/static-x/hello.txt").body == b"app GET /static-x/hello.txt"
    assert get(srv.port, "/stat").body == b"app GET /stat"
    assert get(srv.port, "/mediax/upload.txt").body == b"app GET /mediax/upload.txt"
    assert_static_ok(get(srv.port, "/media/upload.txt"), b"media file\n")


def test_longest_prefix_wins(srv):
    assert_static_ok(get(srv.port, "/static/deep/x.txt"), b"from deep\n")
    assert get(srv.port, "/static/deep/hello.txt").status == 404  # not in the /static tree
    assert_static_ok(get(srv.port, "/static/deeper.txt"), FILES["deeper.txt"])


def test_symlinks_inside_the_directory_are_followed(srv):
    assert_static_ok(get(srv.port, "/static/link.txt"), HELLO)
    # collectstatic --link: links to files (and directories) outside STATIC_ROOT
    assert_static_ok(get(srv.port, "/static/linked.css"), b"collected by --link\n", "text/css; charset=utf-8")
    assert_static_ok(get(srv.port, "/static/linkdir/inner.txt"), b"inner\n")


# ---------------------------------------------------------------- refused paths

REFUSED = [
    ("/static/../static/hello.txt", 404),
    ("/static/sub/../hello.txt", 404),
    ("/static/..", 404),
    ("/static/%2e%2e/static/hello.txt", 404),
    ("/static/%2E%2E/%2E%2E/%2E%2E/etc/passwd", 404),
    ("/static/.%2e/hello.txt", 404),
    ("/static/sub%2Fnested.txt", 404),
    ("/static/sub%2fnested.txt", 404),
    ("/static/%2Fetc%2Fpasswd", 404),
    ("/static/hello.txt%00", 404),
    ("/static/hello.txt%00.png", 404),
    ("/static/.env", 404),
    ("/static/%2eenv", 404),
    ("/static/.git/config", 404),
    ("/static/sub/.hidden", 404),
    ("/static/sub", 404),
    ("/static/sub/", 404),
    ("/static/", 404),
    ("/static", 404),
    ("/static/hello.txt/", 404),
    ("/static//hello.txt", 404),
    ("/static/fifo", 404),
    ("/static/missing.txt", 404),
    ("/static/%zz", 400),
    ("/static/hello%2", 400),
    ("/static/hello.txt%", 400),
    ("/static/%4", 400),
]


@pytest.mark.parametrize("target,status", REFUSED, ids=[t for t, _ in REFUSED])
def test_refused_paths(srv, target, status):
    with Conn(srv.port, timeout=5) as c:
        r = c.request("GET", target)
        assert r.status == status, r
        assert r.header("Content-Type", "").startswith("text/plain")
        assert r.header("X-Content-Type-Options") == "nosniff"
        assert not r.body.startswith(b"app ") and len(r.body) < 100
        assert r.header("ETag") is None
        # a refusal keeps the connection
        assert c.request("GET", "/static/hello.txt").body == HELLO


@pytest.mark.skipif(os.geteuid() != 0, reason="workers run as 65532 only when started as root")
def test_a_file_the_workers_cannot_read_is_404(srv):
    assert get(srv.port, "/static/secret.txt").status == 404


@pytest.mark.parametrize("method", ["POST", "PUT", "DELETE", "PATCH", "OPTIONS"])
def test_other_methods_get_405_with_allow(srv, method):
    with Conn(srv.port) as c:
        r = c.request(method, "/static/hello.txt", body=b"payload" if method in ("POST", "PUT") else b"")
        assert r.status == 405
        assert r.header("Allow") == "GET, HEAD"
        assert r.header("Content-Type", "").startswith("text/plain")
        assert c.request("GET", "/static/hello.txt").body == HELLO
    assert get(srv.port, "/static/missing", method=method).status == 405


# ---------------------------------------------------------------- conditional requests


def assert_not_modified(r, tag):
    assert r.status == 304, r
    assert r.body == b""
    assert r.header("ETag") == tag
    assert r.header("Cache-Control") == "public, max-age=" + MAX_AGE
    assert r.header("Content-Length") is None and r.header("Content-Type") is None


@pytest.mark.parametrize("inm", [
    etag(HELLO),
    '"nope", ' + etag(HELLO),
    '"a","b",  %s ,"c"' % etag(HELLO),
    "W/" + etag(HELLO),
    "*",
])
def test_if_none_match_hits(srv, inm):
    assert_not_modified(get(srv.port, "/static/hello.txt", [("If-None-Match", inm)]), etag(HELLO))


@pytest.mark.parametrize("inm", ['"nope"', '"nope", "other"', etag(HELLO)[:-1] + '0"', etag(HELLO).upper()])
def test_if_none_match_misses(srv, inm):
    assert_static_ok(get(srv.port, "/static/hello.txt", [("If-None-Match", inm)]), HELLO)


def test_if_modified_since(srv):
    assert_not_modified(get(srv.port, "/static/hello.txt", [("If-Modified-Since", MTIME_DATE)]), etag(HELLO))
    later = email.utils.formatdate(MTIME + 3600, usegmt=True)
    assert get(srv.port, "/static/hello.txt", [("If-Modified-Since", later)]).status == 304
    earlier = email.utils.formatdate(MTIME - 1, usegmt=True)
    assert_static_ok(get(srv.port, "/static/hello.txt", [("If-Modified-Since", earlier)]), HELLO)
    assert_static_ok(get(srv.port, "/static/hello.txt", [("If-Modified-Since", "yesterday")]), HELLO)
    rfc850 = time.strftime("%A, %d-%b-%y %H:%M:%S GMT", time.gmtime(MTIME))
    assert get(srv.port, "/static/hello.txt", [("If-Modified-Since", rfc850)]).status == 304


def test_if_none_match_takes_precedence(srv):
    r = get(srv.port, "/static/hello.txt", [("If-None-Match", '"nope"'), ("If-Modified-Since", MTIME_DATE)])
    assert_static_ok(r, HELLO)
    earlier = email.utils.formatdate(MTIME - 100, usegmt=True)
    r = get(srv.port, "/static/hello.txt", [("If-None-Match", etag(HELLO)), ("If-Modified-Since", earlier)])
    assert_not_modified(r, etag(HELLO))


def test_not_modified_on_head_and_keep_alive(srv):
    with Conn(srv.port) as c:
        r = c.request("HEAD", "/static/hello.txt", [("If-None-Match", etag(HELLO))])
        assert r.status == 304
        r = c.request("GET", "/static/hello.txt", [("If-None-Match", etag(HELLO))])
        assert r.status == 304
        assert c.request("GET", "/static/hello.txt").body == HELLO


def test_conditional_with_curl(srv):
    code = curl("-o", "/dev/null", "-w", "%{http_code}", "-z", MTIME_DATE, srv.url("/static/hello.txt"))
    assert code == b"304"
    code = curl("-o", "/dev/null", "-w", "%{http_code}", "-H", "If-None-Match: " + etag(HELLO),
                srv.url("/static/hello.txt"))
    assert code == b"304"


# ---------------------------------------------------------------- ranges

SIZE = len(BIG)


@pytest.mark.parametrize("spec,first,last", [
    ("bytes=0-99", 0, 99),
    ("bytes=1000-1000", 1000, 1000),
    ("bytes=%d-" % (SIZE - 576), SIZE - 576, SIZE - 1),
    ("bytes=-500", SIZE - 500, SIZE - 1),
    ("bytes=-%d" % (SIZE * 2), 0, SIZE - 1),
    ("bytes=100-%d" % (SIZE * 3), 100, SIZE - 1),
])
def test_single_ranges(srv, spec, first, last):
    r = get(srv.port, "/static/big.bin", [("Range", spec)])
    assert r.status == 206, r
    assert r.header("Content-Range") == "bytes %d-%d/%d" % (first, last, SIZE)
    assert r.header("Content-Length") == str(last - first + 1)
    assert r.body == BIG[first:last + 1]
    assert r.header("ETag") == etag(BIG)


@pytest.mark.parametrize("spec", ["bytes=%d-" % SIZE, "bytes=%d-%d" % (SIZE + 5, SIZE + 10), "bytes=-0"])
def test_unsatisfiable_range_is_416(srv, spec):
    with Conn(srv.port) as c:
        r = c.request("GET", "/static/big.bin", [("Range", spec)])
        assert r.status == 416
        assert r.header("Content-Range") == "bytes */%d" % SIZE
        assert c.request("GET", "/static/hello.txt").body == HELLO


@pytest.mark.parametrize("spec", ["bytes=0-1,5-6", "bytes=0-99, 200-299", "bytes=5-1", "items=0-1", "bytes=x-y"])
def test_several_or_invalid_ranges_get_the_whole_file(srv, spec):
    r = get(srv.port, "/static/big.bin", [("Range", spec)])
    assert r.status == 200 and r.body == BIG


def test_if_range(srv):
    rng = ("Range", "bytes=0-9")
    for validator, status in [(etag(BIG), 206), (MTIME_DATE, 206), ('"other"', 200), ("W/" + etag(BIG), 200),
                              (email.utils.formatdate(MTIME + 1, usegmt=True), 200)]:
        r = get(srv.port, "/static/big.bin", [rng, ("If-Range", validator)])
        assert r.status == status, (validator, r)
        assert r.body == (BIG[:10] if status == 206 else BIG)


def test_range_with_curl(srv):
    out = curl("-r", "0-99", srv.url("/static/big.bin"))
    assert out == BIG[:100]
    code = curl("-o", "/dev/null", "-w", "%{http_code}", "-r", "100-199", srv.url("/static/big.bin"))
    assert code == b"206"


# ---------------------------------------------------------------- precompressed siblings


@pytest.mark.parametrize("accept,coding", [
    ("gzip, deflate, br", "br"),
    ("br", "br"),
    ("gzip", "gzip"),
    ("br;q=0, gzip", "gzip"),
    ("gzip;q=0.5, br;q=0.4", "gzip"),
    ("gzip;q=0.5, br;q=0.5", "br"),
    ("*", "br"),
    ("*, br;q=0", "gzip"),
    ("br;q=0, gzip;q=0", None),
    ("identity", None),
    ("deflate", None),
    (None, None),
])
def test_precompressed_choice(srv, accept, coding):
    headers = [("Accept-Encoding", accept)] if accept is not None else []
    r = get(srv.port, "/static/app.css", headers)
    assert r.status == 200
    assert r.header("Content-Encoding") == coding
    assert r.header("Vary") == "Accept-Encoding"  # whichever variant is sent
    assert r.header("Content-Type") == "text/css; charset=utf-8"
    want = {"br": CSS_BR, "gzip": FILES["app.css.gz"], None: CSS}[coding]
    assert r.body == want and r.header("Content-Length") == str(len(want))


def test_variants_have_their_own_etags(srv):
    tags = {ae: get(srv.port, "/static/app.css", [("Accept-Encoding", ae)]).header("ETag")
            for ae in ("br", "gzip", "identity")}
    assert tags == {"br": etag(CSS_BR, "-br"), "gzip": etag(FILES["app.css.gz"], "-gz"), "identity": etag(CSS)}
    br_tag = tags["br"]
    r = get(srv.port, "/static/app.css", [("Accept-Encoding", "br"), ("If-None-Match", br_tag)])
    assert r.status == 304 and r.header("Vary") == "Accept-Encoding"
    # the identity tag does not validate the br variant
    r = get(srv.port, "/static/app.css", [("Accept-Encoding", "br"), ("If-None-Match", etag(CSS))])
    assert r.status == 200 and r.body == CSS_BR


def test_only_a_gzip_sibling(srv):
    r = get(srv.port, "/static/only.js", [("Accept-Encoding", "br, gzip")])
    assert r.header("Content-Encoding") == "gzip" and r.header("Vary") == "Accept-Encoding"
    assert gzip.decompress(r.body) == ONLY_JS
    r = get(srv.port, "/static/only.js", [("Accept-Encoding", "br")])
    assert r.header("Content-Encoding") is None and r.body == ONLY_JS
    assert r.header("Vary") == "Accept-Encoding"
    out = curl("--compressed", srv.url("/static/only.js"))  # a real client decodes it
    assert out == ONLY_JS


def test_no_vary_without_siblings(srv):
    r = get(srv.port, "/static/hello.txt", [("Accept-Encoding", "gzip, br")])
    assert r.header("Vary") is None and r.header("Content-Encoding") is None and r.body == HELLO


def test_range_applies_to_the_variant_sent(srv):
    r = get(srv.port, "/static/app.css", [("Accept-Encoding", "br"), ("Range", "bytes=0-6")])
    assert r.status == 206
    assert r.header("Content-Encoding") == "br"
    assert r.header("Content-Range") == "bytes 0-6/%d" % len(CSS_BR)
    assert r.body == CSS_BR[:7]


# ---------------------------------------------------------------- caching of hashed names


@pytest.mark.parametrize("name,cache", [
    ("app.3f2a9c1b7d4e.css", IMMUTABLE),
    ("app.min.css", "public, max-age=" + MAX_AGE),
    ("app.3f2a.css", "public, max-age=" + MAX_AGE),
    ("hello.txt", "public, max-age=" + MAX_AGE),
])
def test_hashed_names_are_immutable(srv, name, cache):
    r = get(srv.port, "/static/" + name)
    assert r.status == 200 and r.header("Cache-Control") == cache


# ---------------------------------------------------------------- descriptors and seccomp

EVERY_ANSWER = [  # (method, target, headers, status): each way a static answer ends
    ("GET", "/static/hello.txt", [], 200),
    ("HEAD", "/static/hello.txt", [], 200),
    ("GET", "/static/hello.txt", [("If-None-Match", etag(HELLO))], 304),
    ("GET", "/static/big.bin", [("Range", "bytes=0-9")], 206),
    ("GET", "/static/big.bin", [("Range", "bytes=%d-" % SIZE)], 416),
    ("GET", "/static/app.css", [("Accept-Encoding", "br")], 200),
    ("GET", "/static/app.css", [("Accept-Encoding", "gzip"), ("If-None-Match", "*")], 304),
    ("GET", "/static/linked.css", [], 200),
    ("GET", "/static/missing", [], 404),
    ("GET", "/static/fifo", [], 404),
    ("GET", "/static/sub", [], 404),
    ("GET", "/static/.env", [], 404),
    ("GET", "/static/%zz", [], 400),
    ("DELETE", "/static/hello.txt", [], 405),
]


def answer_all(c):
    for method, target, headers, status in EVERY_ANSWER:
        r = c.request(method, target, headers)
        assert r.status == status, (method, target, headers, r)


def test_no_descriptor_is_left_open(srv):
    (worker,) = children(srv.proc.pid)
    with Conn(srv.port) as c:
        c.request("GET", "/static/hello.txt")
        before = sorted(os.listdir("/proc/%d/fd" % worker))
        for _ in range(20):
            answer_all(c)
        assert sorted(os.listdir("/proc/%d/fd" % worker)) == before


def test_under_the_strict_seccomp_profile(serve, trees):
    s = serve(**static_env(trees, SECCOMP="strict"))
    with Conn(s.port) as c:
        answer_all(c)
        r = c.request("GET", "/static/app.css", [("Accept-Encoding", "br"), ("Range", "bytes=0-3")])
        assert r.status == 206 and r.body == CSS_BR[:4]
        assert c.request("GET", "/static/big.bin").body == BIG


# ---------------------------------------------------------------- bad STATIC_MAP


def assert_static_map_error(proc):
    out, err = proc.communicate(timeout=5)
    assert proc.returncode == 2, (proc.returncode, err)
    lines = [l for l in err.decode("utf-8", "replace").splitlines() if "STATIC_MAP" in l]
    assert len(lines) == 1, err
    return lines[0]


def wait_exit(proc, timeout=15):
    try:
        proc.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        pytest.fail("wsginit kept running with a bad STATIC_MAP")


def test_static_map_naming_a_missing_directory_exits_2(serve):
    s = serve(wait=False, APP="static_app:application", STATIC_MAP="/static=/no/such/dir")
    wait_exit(s.proc)
    line = assert_static_map_error(s.proc)
    assert "/no/such/dir" in line


@pytest.mark.skipif(os.geteuid() != 0, reason="needs root: the directory must be unreadable for RUN_AS only")
def test_static_map_unreadable_after_the_privilege_drop_exits_2(serve):
    d = tempfile.mkdtemp(prefix="wsginit-static-private-", dir="/tmp")  # 0700, owned by root
    try:
        os.chmod(d, 0o700)
        s = serve(wait=False, APP="static_app:application", STATIC_MAP="/static=%s" % d)
        wait_exit(s.proc)
        line = assert_static_map_error(s.proc)
        assert d in line
    finally:
        shutil.rmtree(d, ignore_errors=True)


# ---------------------------------------------------------------- slow readers

HUGE_SIZE = 50 << 20
READERS = 20


class SlowReader(threading.Thread):
    """GET of the huge file on a socket with a small receive buffer, read slowly until
    `fast` is set, then to the end; .digest and .received once done."""

    def __init__(self, port, fast):
        super().__init__(daemon=True)
        self.fast, self.received, self.digest, self.error = fast, 0, None, None
        self.widened = False
        self.sock = socket.socket()
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        self.sock.settimeout(60)
        self.sock.connect(("127.0.0.1", port))
        self.sock.sendall(wire.build("GET", "/static/huge.bin"))
        self.head = threading.Event()

    def run(self):
        try:
            self.read_all()
        except Exception as e:  # reported by the test
            self.error = e
        finally:
            self.head.set()
            self.sock.close()

    def read_all(self):
        buf = b""
        while b"\r\n\r\n" not in buf:
            chunk = self.sock.recv(4096)
            if not chunk:
                raise ConnectionError("closed before the head: %r" % buf)
            buf += chunk
        head, body = buf.split(b"\r\n\r\n", 1)
        assert head.startswith(b"HTTP/1.1 200 ") and b"Content-Length: %d" % HUGE_SIZE in head, head
        self.head.set()
        h = hashlib.sha256(body)
        self.received = len(body)
        while self.received < HUGE_SIZE:
            slow = not self.fast.is_set()
            if not slow and not self.widened:
                # the window was fixed small at connect; a larger buffer lets it open up to 64 KiB
                self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 1 << 20)
                self.widened = True
            chunk = self.sock.recv(4096 if slow else 1 << 20)
            if not chunk:
                raise ConnectionError("closed after %d bytes" % self.received)
            h.update(chunk)
            self.received += len(chunk)
            if slow:
                self.fast.wait(0.05)
        self.digest = h.hexdigest()


def test_slow_readers_of_a_big_file_do_not_hold_the_worker(serve, trees):
    huge = os.urandom(HUGE_SIZE)
    path = os.path.join(trees["root"], "huge.bin")
    with open(path, "wb") as f:
        f.write(huge)
    os.chmod(path, 0o644)
    want = hashlib.sha256(huge).hexdigest()
    del huge
    try:
        s = serve(**static_env(trees, WORKERS="1"))
        fast = threading.Event()
        readers = [SlowReader(s.port, fast) for _ in range(READERS)]
        for r in readers:
            r.start()
        for r in readers:
            assert r.head.wait(10), "no response head for a reader"
            assert r.error is None, r.error
        for i in range(20):
            t0 = time.monotonic()
            resp = get(s.port, "/short-%d" % i, timeout=5)
            elapsed = time.monotonic() - t0
            assert resp.status == 200 and resp.body == b"app GET /short-%d" % i
            assert elapsed < 2.0, "an app request waited %.2fs behind the static readers" % elapsed
        assert all(r.received < HUGE_SIZE for r in readers), "the readers finished before the app requests"
        fast.set()
        for r in readers:
            r.join(60)
            assert not r.is_alive(), "a reader did not finish"
            assert r.error is None, r.error
            assert r.received == HUGE_SIZE and r.digest == want
    finally:
        os.unlink(path)
