"""Real frameworks served end to end through wsginit: Flask (python3-flask 2.2) and a
Django 3.2 project (python3-django) with a sqlite database, CSRF and the admin; their
static files (Flask's static folder, Django's collectstatic output) from STATIC_MAP,
as the README's recipes set it up."""
import gzip
import http.client
import http.cookies
import json
import os
import re
import shutil
import subprocess
import tempfile
import urllib.parse

import pytest

import wire
from conftest import APPS, PYTHON, ROOT, readable_dir, require_django

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
    raw, closed = wire.raw_exchange(flask_server.port, b"GET /stream?n=20 HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n",
                                    timeout=CLIENT_TIMEOUT)
    assert closed, "the server did not close the connection"
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


@pytest.mark.parametrize("root_path", ["", "/prefix"])
def test_flask_static_folder_from_static_map(serve, root_path):
    """Flask's static folder mapped at its URL: url_for('static', ...) links are
    answered by the worker (Flask's own static route never runs). Under ROOT_PATH
    the links carry the prefix, and so must the mapping."""
    folder = os.path.join(APPS, "flaskapp_static")
    env = {"ROOT_PATH": root_path} if root_path else {}
    s = serve(APP="flaskapp:app", STATIC_MAP="%s/static=%s" % (root_path, folder), **env)
    before = wire.count(s.port)
    resp, body = request(s.port, "GET", root_path + "/page")
    assert resp.status == 200
    links = re.findall(r'(?:href|src)="([^"]+)"', body.decode())
    assert links == [root_path + "/static/css/site.css", root_path + "/static/img/dot.svg"]
    for url, ctype in zip(links, ["text/css; charset=utf-8", "image/svg+xml"]):
        resp, data = request(s.port, "GET", url)
        assert resp.status == 200, url
        with open(os.path.join(folder, url.split("/static/", 1)[1]), "rb") as f:
            assert data == f.read()
        assert resp.getheader("Content-Type") == ctype
        assert resp.getheader("Cache-Control") == "public, max-age=3600"  # Flask's would be no-cache
    assert wire.count(s.port) == before + 2, "Flask saw a static request"


# ---------------------------------------------------------------- Django

ADMIN_USER, ADMIN_PASSWORD = "admin", "s3cret-pass-w0rd"
MANAGE = os.path.join(APPS, "djangoproject", "manage.py")
MANIFEST_STORAGE = "django.contrib.staticfiles.storage.ManifestStaticFilesStorage"
IMMUTABLE = "public, max-age=31536000, immutable"


def manage(*args, **env):
    """Runs tests/apps/djangoproject/manage.py with env (DJANGO_DB_PATH at least)."""
    full = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), **env}
    r = subprocess.run([PYTHON, MANAGE, *args], env=full, capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, "manage.py %s failed:\n%s%s" % (args[0], r.stdout, r.stderr)


@pytest.fixture(scope="module")
def django_db():
    """A migrated sqlite database with one superuser, in a fresh temporary directory.

    The directory is world-writable because the server may drop root to RUN_AS
    (65532 by default) and sqlite needs to create its journal next to the file.
    """
    require_django()
    d = tempfile.mkdtemp(prefix="wsginit-django-")
    os.chmod(d, 0o777)
    db = os.path.join(d, "db.sqlite3")
    manage("migrate", "--noinput", "-v", "0", DJANGO_DB_PATH=db)
    manage("createsuperuser", "--noinput", "--username", ADMIN_USER, "--email", "admin@example.com",
           DJANGO_DB_PATH=db, DJANGO_SUPERUSER_PASSWORD=ADMIN_PASSWORD)
    os.chmod(db, 0o666)
    yield db
    shutil.rmtree(d, ignore_errors=True)


# The README's Django recipe: gzip siblings for STATIC_MAP to choose from.
PRECOMPRESS = r"find . -type f \( -name '*.css' -o -name '*.js' -o -name '*.svg' \) -exec gzip -9 -k {} +"


def collect_static(db, compress=False, **env):
    """`manage.py collectstatic` into a new STATIC_ROOT under /tmp, made readable by
    RUN_AS (tmp_path's parents are 0700); returns the env that serves it, STATIC_MAP included."""
    root = readable_dir("wsginit-django-static-")
    env = dict(env, DJANGO_DB_PATH=db, DJANGO_STATIC_ROOT=root)
    manage("collectstatic", "--noinput", "-v", "0", **env)
    if compress:
        subprocess.run(PRECOMPRESS, shell=True, cwd=root, check=True, timeout=120)
    for d, _, files in os.walk(root):
        os.chmod(d, 0o755)
        for f in files:
            os.chmod(os.path.join(d, f), 0o644)
    return dict(env, STATIC_MAP="/static=" + root)


@pytest.fixture(scope="module")
def django_static(django_db):
    env = collect_static(django_db)
    yield env
    shutil.rmtree(env["DJANGO_STATIC_ROOT"], ignore_errors=True)


@pytest.fixture(scope="module")
def django_manifest_static(django_db):
    """Hashed names (ManifestStaticFilesStorage) and gzip siblings, as in production."""
    env = collect_static(django_db, compress=True, DJANGO_STATICFILES_STORAGE=MANIFEST_STORAGE)
    yield env
    shutil.rmtree(env["DJANGO_STATIC_ROOT"], ignore_errors=True)


@pytest.fixture
def django_server(serve, django_static):
    return serve(APP="djangoproject.wsgi:application", **django_static)


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


def stylesheets(html):
    return re.findall(r'<link rel="stylesheet" type="text/css" href="([^"]+)"', html)


def scripts(html):
    return re.findall(r'<script src="([^"]+)"', html)


def css_references(css):
    """What a stylesheet loads: @import url(...) and url(...) values."""
    return [u.strip("'\"") for u in re.findall(r"url\(([^)]+)\)", css) if not u.startswith("data:")]


def static_file(env, url):
    with open(os.path.join(env["DJANGO_STATIC_ROOT"], url[len("/static/"):]), "rb") as f:
        return f.read()


STATIC_TYPES = {".css": "text/css; charset=utf-8", ".js": "text/javascript; charset=utf-8",
                ".svg": "image/svg+xml", ".woff": "font/woff"}


def test_django_admin_login_page_css_comes_from_static_map(django_server, django_static):
    """The admin login page as a browser loads it: the page from Django; its
    stylesheets, what they load (fonts, icons) and its script from STATIC_MAP."""
    port = django_server.port
    before = wire.count(port)
    resp, body = request(port, "GET", "/admin/login/")
    assert resp.status == 200
    html = body.decode()
    links = stylesheets(html)
    assert {"/static/admin/css/base.css", "/static/admin/css/login.css"} <= set(links), links
    todo, fetched = links + scripts(html), set()
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=CLIENT_TIMEOUT)
    try:
        while todo:
            url = todo.pop()
            if url in fetched:
                continue
            fetched.add(url)
            resp, data = request(port, "GET", url, conn=conn)
            assert resp.status == 200, url
            assert data == static_file(django_static, url), url
            assert resp.getheader("Content-Type") == STATIC_TYPES[os.path.splitext(url)[1]], url
            assert resp.getheader("Cache-Control") == "public, max-age=3600", url
            assert resp.getheader("ETag") and resp.getheader("Last-Modified"), url
            if url.endswith(".css"):
                todo += [urllib.parse.urljoin(url, u) for u in css_references(data.decode())]
    finally:
        conn.close()
    assert {"/static/admin/css/fonts.css", "/static/admin/js/nav_sidebar.js"} <= fetched  # @import, <script>
    assert any(u.endswith(".woff") for u in fetched) and any(u.endswith(".svg") for u in fetched), fetched
    assert wire.count(port) == before + 2, "Django saw a static request"


def test_django_manifest_storage_names_are_immutable(serve, django_manifest_static):
    """ManifestStaticFilesStorage's hashed names (base.1f418065fc2c.css) get a year and
    `immutable`; the gzip siblings the recipe makes are sent to clients that take gzip."""
    s = serve(APP="djangoproject.wsgi:application", **django_manifest_static)
    resp, body = request(s.port, "GET", "/admin/login/")
    assert resp.status == 200
    links = stylesheets(body.decode())
    hashed = r"/static/admin/css/%s\.[0-9a-f]{12}\.css"
    assert any(re.fullmatch(hashed % "base", u) for u in links), links
    assert any(re.fullmatch(hashed % "login", u) for u in links), links
    before = wire.count(s.port)
    for url in links:
        css = static_file(django_manifest_static, url)
        resp, data = request(s.port, "GET", url)
        assert (resp.status, data) == (200, css), url
        assert resp.getheader("Content-Type") == "text/css; charset=utf-8"
        assert resp.getheader("Cache-Control") == IMMUTABLE, url
        assert resp.getheader("Content-Encoding") is None
        resp, data = request(s.port, "GET", url, headers={"Accept-Encoding": "gzip, deflate"})
        assert resp.status == 200 and resp.getheader("Content-Encoding") == "gzip", url
        assert resp.getheader("Vary") == "Accept-Encoding"
        assert resp.getheader("Cache-Control") == IMMUTABLE, url
        assert gzip.decompress(data) == css, url
    # base.css's @import was rewritten to the hashed fonts.css, also immutable.
    base = static_file(django_manifest_static, next(u for u in links if "/base." in u)).decode()
    (fonts,) = [u for u in css_references(base) if u.startswith("fonts.")]
    resp, _ = request(s.port, "GET", "/static/admin/css/" + fonts)
    assert resp.status == 200 and resp.getheader("Cache-Control") == IMMUTABLE
    # The unhashed names are still there (collectstatic keeps both), with the usual max-age.
    resp, _ = request(s.port, "GET", "/static/admin/css/base.css")
    assert resp.status == 200 and resp.getheader("Cache-Control") == "public, max-age=3600"
    assert wire.count(s.port) == before + 1


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
