"""Real frameworks served end to end through wsginit: Flask (python3-flask 2.2) and a
Django 3.2 project (python3-django) with a sqlite database, CSRF and the admin."""
import http.client
import http.cookies
import json
import os
import re
import shutil
import socket
import subprocess
import tempfile
import time
import urllib.parse

import pytest

from conftest import APPS, ROOT

PYTHON = "/usr/bin/python3"
CURL = shutil.which("curl") or "/usr/bin/curl"
CLIENT_TIMEOUT = 15


def request(port, method, path, body=None, headers=None, conn=None):
    """One request over http.client; returns (response, body bytes)."""
    own = conn is None
    if own:
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=CLIENT_TIMEOUT)
    try:
        conn.request(method, path, body=body, headers=headers or {})
        resp = conn.getresponse()
        return resp, resp.read()
    finally:
        if own:
            conn.close()


def raw_exchange(port, data, timeout=CLIENT_TIMEOUT):
    """Send raw bytes, read until the server closes; bounded by timeout."""
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as s:
        s.sendall(data)
        chunks = []
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            b = s.recv(65536)
            if not b:
                break
            chunks.append(b)
        else:
            raise AssertionError("server did not close the connection within %ss" % timeout)
    return b"".join(chunks)


def split_response(raw):
    head, _, body = raw.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    headers = {}
    for line in lines[1:]:
        k, _, v = line.partition(":")
        headers.setdefault(k.strip().lower(), []).append(v.strip())
    return lines[0], headers, body


def curl(*args, timeout=CLIENT_TIMEOUT):
    r = subprocess.run([CURL, "-sS", "--max-time", str(timeout), *args],
                       capture_output=True, timeout=timeout + 5)
    assert r.returncode == 0, "curl %s failed: %s" % (args, r.stderr.decode())
    return r.stdout


def cookies_of(resp):
    jar = http.cookies.SimpleCookie()
    for value in resp.headers.get_all("Set-Cookie") or []:
        jar.load(value)
    return {k: m.value for k, m in jar.items()}


# ---------------------------------------------------------------- the example `make run` serves

def test_hello_example(serve):
    s = serve(APP="hello:app", CHDIR=os.path.join(ROOT, "examples"))
    resp, body = request(s.port, "GET", "/")
    assert (resp.status, body) == (200, b"Hello, World!")
    assert resp.getheader("Content-Type") == "text/plain"
    assert resp.getheader("Content-Length") == "13"
    out = curl("-i", s.url("/anything?x=1")).replace(b"\r\n", b"\n")
    assert out.startswith(b"HTTP/1.1 200 OK\n"), out
    assert out.endswith(b"\n\nHello, World!"), out
    rc, out, err = s.stop()
    assert rc == 0, err


# ---------------------------------------------------------------- Flask

@pytest.fixture
def flask_server(serve):
    return serve(APP="flaskapp:app")


def test_flask_json_route(flask_server):
    resp, body = request(flask_server.port, "GET", "/api/items/42?q=x%20y")
    assert resp.status == 200
    assert resp.getheader("Content-Type") == "application/json"
    assert int(resp.getheader("Content-Length")) == len(body)
    assert json.loads(body) == {"id": 42, "name": "item-42", "q": "x y"}
    assert resp.getheader("Server") == "wsginit"
    assert resp.getheader("Date")


def test_flask_json_post(flask_server):
    payload = json.dumps({"a": [1, 2, 3], "b": "\u00e9t\u00e9"}).encode()
    resp, body = request(flask_server.port, "POST", "/api/echo", body=payload,
                         headers={"Content-Type": "application/json"})
    assert resp.status == 201
    assert json.loads(body) == {"received": {"a": [1, 2, 3], "b": "\u00e9t\u00e9"}, "length": len(payload)}


def test_flask_form_post(flask_server):
    form = urllib.parse.urlencode({"name": "Zo\u00eb & Ann", "age": "30"}).encode()
    resp, body = request(flask_server.port, "POST", "/form", body=form,
                         headers={"Content-Type": "application/x-www-form-urlencoded"})
    assert resp.status == 200
    assert body.decode() == "hello Zo\u00eb & Ann, 30"
    resp, body = request(flask_server.port, "POST", "/form", body=b"age=3",
                         headers={"Content-Type": "application/x-www-form-urlencoded"})
    assert resp.status == 400


def test_flask_form_post_with_curl(flask_server):
    out = curl("-d", "name=curl", "-d", "age=7", flask_server.url("/form"))
    assert out == b"hello curl, 7"


def test_flask_multipart_upload_with_curl(flask_server, tmp_path):
    # 2.5 MB: past the 1 MiB point where the server spools the body to a memfd.
    data = os.urandom(2_500_000)
    f = tmp_path / "blob.bin"
    f.write_bytes(data)
    out = curl("-F", "file=@%s" % f, flask_server.url("/upload"))
    got = json.loads(out)
    assert got == {"filename": "blob.bin", "size": len(data), "head": data[:8].decode("latin-1")}


def test_flask_streaming_response_is_chunked_on_http11(flask_server):
    resp, body = request(flask_server.port, "GET", "/stream?n=50")
    assert resp.status == 200
    assert resp.getheader("Transfer-Encoding") == "chunked"
    assert resp.getheader("Content-Length") is None
    assert body == b"".join(b"line %d\n" % i for i in range(50))


def test_flask_streaming_response_on_http10_is_close_delimited(flask_server):
    raw = raw_exchange(flask_server.port, b"GET /stream?n=20 HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n")
    status, headers, body = split_response(raw)
    assert status.split()[1] == "200", status
    assert "transfer-encoding" not in headers
    assert body == b"".join(b"line %d\n" % i for i in range(20))


def test_flask_404_handler(flask_server):
    resp, body = request(flask_server.port, "GET", "/no/such/page")
    assert resp.status == 404
    assert resp.getheader("Content-Type") == "application/json"
    assert json.loads(body) == {"error": "not found", "path": "/no/such/page"}


def test_flask_405(flask_server):
    resp, body = request(flask_server.port, "DELETE", "/api/items/1")
    assert resp.status == 405
    assert "GET" in resp.getheader("Allow")


def test_flask_head_has_no_body_and_keeps_connection(flask_server):
    conn = http.client.HTTPConnection("127.0.0.1", flask_server.port, timeout=CLIENT_TIMEOUT)
    try:
        resp, get_body = request(flask_server.port, "GET", "/api/items/7", conn=conn)
        assert resp.status == 200
        resp, body = request(flask_server.port, "HEAD", "/api/items/7", conn=conn)
        assert resp.status == 200
        assert body == b""
        assert resp.getheader("Content-Length") == str(len(get_body))
        # Same connection still usable: HEAD did not leave stray body bytes behind.
        resp, body = request(flask_server.port, "GET", "/api/items/8", conn=conn)
        assert json.loads(body)["id"] == 8
    finally:
        conn.close()


def test_flask_keep_alive_many_requests_one_connection(flask_server):
    conn = http.client.HTTPConnection("127.0.0.1", flask_server.port, timeout=CLIENT_TIMEOUT)
    try:
        conn.connect()
        first = conn.sock
        for i in range(20):
            resp, body = request(flask_server.port, "GET", "/api/items/%d" % i, conn=conn)
            assert json.loads(body)["id"] == i
            assert conn.sock is first, "server closed a keep-alive connection"
    finally:
        conn.close()


def test_flask_sees_host_url_and_peer(flask_server):
    resp, body = request(flask_server.port, "GET", "/headers", headers={"User-Agent": "ua-test/1"})
    got = json.loads(body)
    assert got == {"host": "127.0.0.1:%d" % flask_server.port, "remote_addr": "127.0.0.1",
                   "script_root": "", "path": "/headers",
                   "url": "http://127.0.0.1:%d/headers" % flask_server.port,
                   "user_agent": "ua-test/1"}


def test_flask_under_root_path(serve):
    s = serve(APP="flaskapp:app", ROOT_PATH="/prefix")
    resp, body = request(s.port, "GET", "/prefix/headers")
    got = json.loads(body)
    assert (got["script_root"], got["path"]) == ("/prefix", "/headers")
    assert got["url"] == "http://127.0.0.1:%d/prefix/headers" % s.port


def test_flask_exception_is_500_and_worker_keeps_serving(flask_server):
    resp, body = request(flask_server.port, "GET", "/boom")
    assert resp.status == 500
    resp, body = request(flask_server.port, "GET", "/")
    assert (resp.status, body) == (200, b"flask index")
    rc, out, err = flask_server.stop()
    assert rc == 0
    # Flask logs the traceback to wsgi.errors, which is the server's stderr.
    assert "RuntimeError: flask boom" in err


# ---------------------------------------------------------------- Django

ADMIN_USER, ADMIN_PASSWORD = "admin", "s3cret-pass-w0rd"


@pytest.fixture(scope="module")
def django_db():
    """A migrated sqlite database with one superuser, in a fresh temporary directory.

    The directory is world-writable because the server may drop root to RUN_AS
    (65532 by default) and sqlite needs to create its journal next to the file.
    """
    d = tempfile.mkdtemp(prefix="wsginit-django-")
    os.chmod(d, 0o777)
    db = os.path.join(d, "db.sqlite3")
    env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "DJANGO_DB_PATH": db,
           "DJANGO_SUPERUSER_PASSWORD": ADMIN_PASSWORD}
    manage = os.path.join(APPS, "djangoproject", "manage.py")
    for args in (["migrate", "--noinput", "-v", "0"],
                 ["createsuperuser", "--noinput", "--username", ADMIN_USER, "--email", "admin@example.com"]):
        r = subprocess.run([PYTHON, manage, *args], env=env, capture_output=True, text=True, timeout=120)
        assert r.returncode == 0, "manage.py %s failed:\n%s%s" % (args[0], r.stdout, r.stderr)
    os.chmod(db, 0o666)
    yield db
    shutil.rmtree(d, ignore_errors=True)


@pytest.fixture
def django_server(serve, django_db):
    return serve(APP="djangoproject.wsgi:application", DJANGO_DB_PATH=django_db)


def test_django_view(django_server):
    resp, body = request(django_server.port, "GET", "/")
    assert (resp.status, body) == (200, b"django index")
    resp, body = request(django_server.port, "GET", "/hello/w%C3%B6rld/?q=1")
    assert resp.status == 200
    assert json.loads(body) == {"hello": "w\u00f6rld", "path": "/hello/w\u00f6rld/", "q": "1",
                                "method": "GET", "script_name": ""}


def test_django_reads_sqlite(django_server):
    resp, body = request(django_server.port, "GET", "/users/")
    assert resp.status == 200
    assert json.loads(body) == {"users": [ADMIN_USER]}


def test_django_404_and_disallowed_host(django_server):
    resp, body = request(django_server.port, "GET", "/nope/")
    assert resp.status == 404
    resp, body = request(django_server.port, "GET", "/", headers={"Host": "evil.example"})
    assert resp.status == 400


def test_django_streaming_response(django_server):
    resp, body = request(django_server.port, "GET", "/stream/")
    assert resp.status == 200
    assert resp.getheader("Transfer-Encoding") == "chunked"
    assert body == b"chunk 0\nchunk 1\nchunk 2\nchunk 3\n"


def get_form(port, path):
    """GET a page with a CSRF-protected form: (csrftoken cookie, hidden field value, html)."""
    resp, body = request(port, "GET", path)
    assert resp.status == 200, (resp.status, body[:500])
    cookie = cookies_of(resp).get("csrftoken")
    assert cookie, "no csrftoken cookie in %r" % resp.headers.get_all("Set-Cookie")
    html = body.decode()
    m = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', html)
    assert m, "no csrfmiddlewaretoken field in the form:\n" + html
    return cookie, m.group(1), html


def test_django_csrf_form_post(django_server):
    port = django_server.port
    cookie, token, html = get_form(port, "/contact/")
    assert 'name="name"' in html and 'name="message"' in html
    form = urllib.parse.urlencode({"csrfmiddlewaretoken": token, "name": "Ann",
                                   "message": "hi there \u2713"}).encode()
    resp, body = request(port, "POST", "/contact/", body=form, headers={
        "Content-Type": "application/x-www-form-urlencoded", "Cookie": "csrftoken=" + cookie})
    assert resp.status == 200, body[:1000]
    assert body.decode() == "thanks Ann: hi there \u2713"

    # The form is validated too: a missing field is the view's 400, not a CSRF failure.
    form = urllib.parse.urlencode({"csrfmiddlewaretoken": token, "name": "Ann"}).encode()
    resp, body = request(port, "POST", "/contact/", body=form, headers={
        "Content-Type": "application/x-www-form-urlencoded", "Cookie": "csrftoken=" + cookie})
    assert resp.status == 400


def test_django_csrf_post_without_token_is_403(django_server):
    port = django_server.port
    form = b"name=Ann&message=hi"
    resp, body = request(port, "POST", "/contact/", body=form,
                         headers={"Content-Type": "application/x-www-form-urlencoded"})
    assert resp.status == 403
    assert b"CSRF" in body
    # Cookie present, hidden field missing: still refused.
    cookie, token, _ = get_form(port, "/contact/")
    resp, body = request(port, "POST", "/contact/", body=form, headers={
        "Content-Type": "application/x-www-form-urlencoded", "Cookie": "csrftoken=" + cookie})
    assert resp.status == 403
    # Hidden field present, cookie missing: refused.
    resp, body = request(port, "POST", "/contact/",
                         body=form + b"&csrfmiddlewaretoken=" + token.encode(),
                         headers={"Content-Type": "application/x-www-form-urlencoded"})
    assert resp.status == 403


def test_django_admin_login_page(django_server):
    resp, body = request(django_server.port, "GET", "/admin/")
    assert resp.status == 302
    assert resp.getheader("Location") == "/admin/login/?next=/admin/"
    cookie, token, html = get_form(django_server.port, "/admin/login/?next=/admin/")
    assert 'id="login-form"' in html
    assert 'name="username"' in html and 'name="password"' in html


def test_django_admin_login_post(django_server):
    port = django_server.port
    cookie, token, _ = get_form(port, "/admin/login/?next=/admin/")
    headers = {"Content-Type": "application/x-www-form-urlencoded", "Cookie": "csrftoken=" + cookie}

    bad = urllib.parse.urlencode({"csrfmiddlewaretoken": token, "username": ADMIN_USER,
                                  "password": "wrong", "next": "/admin/"}).encode()
    resp, body = request(port, "POST", "/admin/login/?next=/admin/", body=bad, headers=headers)
    assert resp.status == 200
    assert b"Please enter the correct username and password" in body

    good = urllib.parse.urlencode({"csrfmiddlewaretoken": token, "username": ADMIN_USER,
                                   "password": ADMIN_PASSWORD, "next": "/admin/"}).encode()
    resp, body = request(port, "POST", "/admin/login/?next=/admin/", body=good, headers=headers)
    assert resp.status == 302, body[:1000]
    assert resp.getheader("Location") == "/admin/"
    session = cookies_of(resp).get("sessionid")
    assert session, "no session cookie after login"
    # The login rotated the CSRF token; the session is what matters now.
    resp, body = request(port, "GET", "/admin/", headers={"Cookie": "sessionid=" + session})
    assert resp.status == 200
    assert b"Site administration" in body


def test_django_admin_login_with_curl_cookie_jar(django_server, tmp_path):
    """The whole admin flow with curl, as a browser would do it (cookie jar, form fields)."""
    jar = str(tmp_path / "cookies.txt")
    page = curl("-c", jar, django_server.url("/admin/login/?next=/admin/")).decode()
    token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', page).group(1)
    out = curl("-b", jar, "-c", jar, "-o", "/dev/null", "-w", "%{http_code} %{redirect_url}",
               "--data-urlencode", "csrfmiddlewaretoken=" + token,
               "--data-urlencode", "username=" + ADMIN_USER,
               "--data-urlencode", "password=" + ADMIN_PASSWORD,
               "--data-urlencode", "next=/admin/",
               django_server.url("/admin/login/?next=/admin/")).decode()
    assert out == "302 " + django_server.url("/admin/")
    page = curl("-b", jar, django_server.url("/admin/")).decode()
    assert "Site administration" in page
    assert "Users" in page


def test_django_with_several_workers_shares_the_database(serve, django_db):
    """Sessions live in sqlite, so a login made through one worker is valid in all."""
    s = serve(APP="djangoproject.wsgi:application", DJANGO_DB_PATH=django_db, WORKERS="3")
    cookie, token, _ = get_form(s.port, "/admin/login/")
    good = urllib.parse.urlencode({"csrfmiddlewaretoken": token, "username": ADMIN_USER,
                                   "password": ADMIN_PASSWORD, "next": "/admin/"}).encode()
    resp, _ = request(s.port, "POST", "/admin/login/", body=good, headers={
        "Content-Type": "application/x-www-form-urlencoded", "Cookie": "csrftoken=" + cookie})
    assert resp.status == 302
    session = cookies_of(resp)["sessionid"]
    for _ in range(12):  # fresh connections, spread over the workers
        resp, body = request(s.port, "GET", "/admin/", headers={"Cookie": "sessionid=" + session})
        assert resp.status == 200 and b"Site administration" in body


def test_django_preloaded_in_the_master(serve, django_db):
    s = serve(APP="djangoproject.wsgi:application", DJANGO_DB_PATH=django_db, PRELOAD="true", WORKERS="2")
    for _ in range(6):
        resp, body = request(s.port, "GET", "/users/")
        assert resp.status == 200 and json.loads(body) == {"users": [ADMIN_USER]}
    rc, out, err = s.stop()
    assert rc == 0, err


def test_flask_concurrent_clients_with_threads(serve):
    import concurrent.futures
    s = serve(APP="flaskapp:app", WORKERS="2", THREADS="4")

    def one(i):
        resp, body = request(s.port, "GET", "/api/items/%d" % i)
        return resp.status, json.loads(body)["id"]

    with concurrent.futures.ThreadPoolExecutor(16) as pool:
        results = list(pool.map(one, range(64), timeout=60))
    assert results == [(200, i) for i in range(64)]
