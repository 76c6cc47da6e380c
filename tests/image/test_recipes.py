"""README's recipes under the real engine, each taken from README.md's own text
so the two cannot drift: the Django project (tests/apps/djangosite) with its
SQLite volume and with a PostgreSQL server on an internal network, the pip
builder stage, and `docker run -p` on a user-defined network. Published ports
are on 127.0.0.1 only; the database is on a network the test makes, with
nothing published."""
import base64
import functools
import hashlib
import http.client
import http.cookies
import http.server
import importlib.metadata
import os
import re
import shlex
import shutil
import subprocess
import sys
import threading
import time
import urllib.parse
import zipfile

import pytest

from conftest import ROOT, docker, free_port, wait_200

sys.path.insert(0, os.path.join(ROOT, "tests"))
import pythons  # noqa: E402  tests/pythons.py: the pyenv CPythons

DJANGOSITE = os.path.join(ROOT, "tests", "apps", "djangosite")
NAME = "wsginit-recipes-%d" % os.getpid()  # networks, volumes and containers of this run
ADMIN_PASSWORD = "recipe-admin-pass-8f3a"
PG_PASSWORD = "mysite-password"  # the role POSTGRES_DOCKERFILE makes


# ---------------------------------------------------------------- README

def readme_blocks():
    """README's indented code blocks, each as (the heading above it, its dedented text)."""
    with open(os.path.join(ROOT, "README.md")) as f:
        lines = f.read().splitlines()
    blocks, heading, current, previous = [], None, None, ""
    for line in lines + [""]:
        if current is not None and (line.startswith("    ") or not line.strip()):
            current.append(line[4:])
            continue
        if current is not None:
            blocks.append((heading, "\n".join(current).strip("\n")))
            current = None
        if line.startswith("    ") and not previous.strip():
            current = [line[4:]]
        elif line.startswith("#"):
            heading = line.lstrip("#").strip()
        previous = line
    return blocks


def readme_block(heading, marker):
    """The code block under `heading` that contains `marker`."""
    found = [text for h, text in readme_blocks() if h == heading and marker in text]
    assert len(found) == 1, "README: %d code blocks under %r contain %r" % (len(found), heading, marker)
    return found[0]


def dockerfile(block):
    """The Dockerfile in a README block: from its first FROM to its ENV line."""
    lines = block.splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith("FROM "))
    end = next(i for i in range(start, len(lines)) if lines[i].startswith("ENV "))
    return "\n".join(lines[start:end + 1]) + "\n"


def commands(block):
    """The shell commands of a README block, continuation lines joined, split as sh would."""
    return [shlex.split(c) for c in block.replace("\\\n", " ").splitlines() if c.strip()]


# ---------------------------------------------------------------- engine helpers

@pytest.fixture
def network(engine):
    """network(internal=False) -> the name of a new user-defined bridge network."""
    made = []

    def make(internal=False):
        name = "%s-net%d" % (NAME, len(made))
        docker("network", "create", *(["--internal"] if internal else []), name)
        made.append(name)
        return name
    yield make
    for name in made:
        docker("network", "rm", name, check=False)


@pytest.fixture
def containers(engine):
    """A list to put container ids or names in: each is removed at the end, its log printed."""
    started = []
    yield started
    for cid in started:
        logs = docker("logs", cid, check=False)
        print(logs.stdout[-3000:], logs.stderr[-3000:])
        docker("rm", "-f", cid, check=False)


@pytest.fixture
def volume(engine):
    name = NAME + "-data"
    yield name
    docker("volume", "rm", "-f", name, check=False)


def build(tag, context, *args):
    start = time.monotonic()
    docker("build", "--network=host", *args, "-t", tag, str(context))
    print("docker build %s: %.1f s" % (tag, time.monotonic() - start))
    return tag


def request(port, method, path, body=None, headers=None):
    """(status, headers as a Message, body bytes) of one request to 127.0.0.1:port."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    try:
        conn.request(method, path, body=body, headers=headers or {})
        resp = conn.getresponse()
        return resp.status, resp.headers, resp.read()
    finally:
        conn.close()


def wait_status(port, path, status=200, timeout=60.0):
    """The body of the first `status` answer to GET path."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            got, _, body = request(port, "GET", path)
            if got == status:
                return body
        except OSError:
            pass
        assert time.monotonic() < deadline, "no %d for %s on port %d within %ss" % (status, path, port, timeout)
        time.sleep(0.05)


def cookies(headers):
    jar = http.cookies.SimpleCookie()
    for value in headers.get_all("Set-Cookie") or []:
        jar.load(value)
    return {k: m.value for k, m in jar.items()}


# ---------------------------------------------------------------- Django

@pytest.fixture(scope="module")
def mysite_image(image, tmp_path_factory):
    """tests/apps/djangosite built with the Dockerfile of README's Django recipe."""
    context = tmp_path_factory.mktemp("mysite")
    shutil.copytree(DJANGOSITE, context, dirs_exist_ok=True,
                    ignore=shutil.ignore_patterns("__pycache__", "staticfiles"))
    (context / "Dockerfile").write_text(dockerfile(readme_block("Django", "FROM wsginit")))
    return build("wsginit-mysite", context)


def test_readme_django_settings_are_the_projects():
    """Every line of the README's settings.py is in tests/apps/djangosite's settings."""
    snippet = readme_block("Django", "# settings.py")
    with open(os.path.join(DJANGOSITE, "mysite", "settings.py")) as f:
        settings = f.read().splitlines()
    lines = snippet[:snippet.index("\nFROM ")].splitlines()[1:]
    missing = [line for line in lines if line.strip() and not line.startswith("#") and line not in settings]
    assert not missing, "README's settings lines not in mysite/settings.py: %s" % missing


def deploy_mysite(tag, envfile, port, volume, containers, job_network, serve_network):
    """Runs README's Django commands (all but `docker build`) with this test's names:
    the image, env file and volume, `-p 127.0.0.1:PORT:8080`, and a network after
    `docker run` (job_network for the --rm jobs, serve_network for the server).
    `-e NAME` passes this process's NAME, as from a shell. Returns the server's
    container id and each job's output."""
    block = readme_block("Django", "--python manage.py migrate")
    names = {"mysite": tag, "mysite.env": str(envfile), "8080:8080": "127.0.0.1:%d:8080" % port}
    outputs, server = [], None
    for cmd in commands(block):
        if cmd[:2] == ["docker", "build"]:
            continue
        assert cmd[:2] == ["docker", "run"], cmd
        args = [names.get(a, a.replace("mysite-data:", volume + ":")) for a in cmd[2:]]
        detached = "-d" in args
        done = docker("run", "--network", serve_network if detached else job_network, *args)
        if detached:
            server = done.stdout.strip()
            containers.append(server)
        else:
            outputs.append(done.stdout + done.stderr)
    assert server, "README's Django commands start no server (`docker run -d`)"
    return server, outputs


def superuser_name():
    block = readme_block("Django", "--python manage.py migrate")
    return re.search(r"DJANGO_SUPERUSER_USERNAME=(\S+)", block).group(1)


def write_env(path, **env):
    path.write_text("".join("%s=%s\n" % kv for kv in env.items()))
    return path


def admin_login(port, user, password):
    """Logs in through the admin's own form, CSRF included; returns the /admin/ page
    and the login page."""
    status, headers, page = request(port, "GET", "/admin/login/?next=/admin/")
    assert status == 200, page[:2000]
    csrf = cookies(headers)["csrftoken"]
    token = re.search(rb'name="csrfmiddlewaretoken" value="([^"]+)"', page).group(1).decode()
    form = urllib.parse.urlencode({"csrfmiddlewaretoken": token, "username": user,
                                   "password": password, "next": "/admin/"})
    status, headers, body = request(port, "POST", "/admin/login/?next=/admin/", form, {
        "Content-Type": "application/x-www-form-urlencoded", "Cookie": "csrftoken=" + csrf})
    assert status == 302, body[:2000]
    assert headers["Location"] == "/admin/"
    session = cookies(headers)["sessionid"]
    status, _, admin = request(port, "GET", headers["Location"], headers={"Cookie": "sessionid=" + session})
    assert status == 200
    return admin.decode(), page.decode()


def check_admin_css(port, login_page):
    """The stylesheet the login page links to comes from STATIC_MAP, not Django."""
    href = re.search(r'<link rel="stylesheet" type="text/css" href="(/static/admin/css/base\.[0-9a-f]{12}\.css)"',
                     login_page).group(1)
    status, headers, css = request(port, "GET", href)
    assert status == 200 and b".module" in css
    assert headers["Content-Type"] == "text/css; charset=utf-8"
    assert headers["Cache-Control"] == "public, max-age=31536000, immutable"  # a hashed name
    assert headers["ETag"]
    # Django adds X-Frame-Options to every response it makes (XFrameOptionsMiddleware);
    # with DEBUG off it has no static view at all.
    assert "X-Frame-Options" not in headers
    status, headers, gz = request(port, "GET", href, headers={"Accept-Encoding": "gzip"})
    assert status == 200 and headers["Content-Encoding"] == "gzip" and len(gz) < len(css)


def test_django_recipe_sqlite_volume_admin_login(mysite_image, network, volume, containers, tmp_path,
                                                 monkeypatch):
    """README's Django image: migrate and createsuperuser with --python into a fresh
    named volume, then the admin login (CSRF, session in SQLite) and its CSS."""
    net, port = network(), free_port()
    env = write_env(tmp_path / "mysite.env", SECRET_KEY="recipe-test-" + "k" * 40,
                    ALLOWED_HOSTS="127.0.0.1,localhost", DEBUG="false")
    monkeypatch.setenv("DJANGO_SUPERUSER_PASSWORD", ADMIN_PASSWORD)
    start = time.monotonic()
    _, (migrate, createsuperuser) = deploy_mysite(mysite_image, env, port, volume, containers, net, net)
    assert "Applying admin.0001_initial... OK" in migrate and "Applying notes.0001_initial... OK" in migrate
    assert "Superuser created successfully." in createsuperuser
    wait_status(port, "/admin/login/")
    print("migrate, createsuperuser, run -> login page: %.1f s" % (time.monotonic() - start))
    user = superuser_name()
    admin, login_page = admin_login(port, user, ADMIN_PASSWORD)
    assert "Welcome," in admin and "<strong>%s</strong>" % user in admin
    check_admin_css(port, login_page)
    # The volume took /data's owner from the image: the database is 65532's.
    owners = docker("run", "--rm", "--network", "none", "-v", volume + ":/data:ro", "--entrypoint",
                    "/wsginit", mysite_image, "--python", "-c",
                    "import os; print(*(os.stat(p).st_uid for p in ('/data', '/data/db.sqlite3')))")
    assert owners.stdout.split() == ["65532", "65532"]


# ---------------------------------------------------------------- PostgreSQL

POSTGRES_DOCKERFILE = """\
FROM debian:bookworm-slim
RUN mkdir -p /etc/postgresql-common/createcluster.d \\
 && echo "create_main_cluster = false" > /etc/postgresql-common/createcluster.d/no-main.conf \\
 && apt-get update -qq && apt-get install -y -qq --no-install-recommends postgresql-15 \\
 && rm -rf /var/lib/apt/lists/*
USER postgres
ENV PATH=/usr/lib/postgresql/15/bin:$PATH PGDATA=/var/lib/postgresql/data
RUN echo pg-password > /tmp/pw && initdb -U postgres --pwfile=/tmp/pw --auth=scram-sha-256 >/dev/null \\
 && echo "host all all all scram-sha-256" >> $PGDATA/pg_hba.conf \\
 && printf "listen_addresses = '*'\\nunix_socket_directories = '/tmp'\\n" >> $PGDATA/postgresql.conf \\
 && pg_ctl -w -o "-c listen_addresses=''" start >/dev/null \\
 && PGPASSWORD=pg-password psql -q -h /tmp -U postgres -d postgres \\
      -c "CREATE ROLE mysite LOGIN PASSWORD '%s'" -c "CREATE DATABASE mysite OWNER mysite" \\
 && pg_ctl -w stop >/dev/null && rm /tmp/pw
CMD ["postgres"]
""" % PG_PASSWORD


@pytest.fixture(scope="module")
def postgres_image(engine, image, tmp_path_factory):
    """Debian's PostgreSQL 15 with a role and a database `mysite`."""
    context = tmp_path_factory.mktemp("postgres")
    (context / "Dockerfile").write_text(POSTGRES_DOCKERFILE)
    return build("wsginit-test-postgres", context)


def test_django_recipe_postgresql(mysite_image, postgres_image, network, volume, containers, tmp_path,
                                  monkeypatch):
    """README's Django image with psycopg2 (its libpq and what that links, copied by
    copy-libs) against a real PostgreSQL server that only an internal network reaches:
    migrate with --python, a write and a read through a view, the admin login."""
    internal, public, port = network(internal=True), network(), free_port()
    db = NAME + "-db"
    containers.append(docker("run", "-d", "--name", db, "--network", internal, postgres_image).stdout.strip())
    deadline = time.monotonic() + 60
    while docker("exec", db, "pg_isready", "-q", "-h", "/tmp", check=False).returncode != 0:
        assert time.monotonic() < deadline, "PostgreSQL did not start"
        time.sleep(0.1)
    env = write_env(tmp_path / "mysite.env", SECRET_KEY="recipe-test-" + "p" * 40,
                    ALLOWED_HOSTS="127.0.0.1", PGHOST=db, PGUSER="mysite", PGPASSWORD=PG_PASSWORD)
    # The jobs run on the internal network only; the server is published on the
    # public one and joins the internal one before its first request.
    monkeypatch.setenv("DJANGO_SUPERUSER_PASSWORD", ADMIN_PASSWORD)
    server, (migrate, _) = deploy_mysite(mysite_image, env, port, volume, containers, internal, public)
    docker("network", "connect", internal, server)
    assert "Applying notes.0001_initial... OK" in migrate
    wait_status(port, "/admin/login/")

    text = "written through wsginit at %d" % time.time_ns()
    status, _, body = request(port, "POST", "/notes/", text.encode(), {"Content-Type": "text/plain"})
    assert status == 200, body[:2000]
    status, _, body = request(port, "GET", "/notes/")
    assert status == 200 and b'"database": "postgresql"' in body and text.encode() in body
    stored = docker("exec", "-e", "PGPASSWORD=" + PG_PASSWORD, db, "psql", "-h", "/tmp", "-U", "mysite",
                    "-d", "mysite", "-tAc", "SELECT text FROM notes_note").stdout
    assert text in stored.splitlines()
    admin, _ = admin_login(port, superuser_name(), ADMIN_PASSWORD)
    assert "<strong>%s</strong>" % superuser_name() in admin

    networks = docker("inspect", "-f", "{{range $name, $_ := .NetworkSettings.Networks}}{{$name}} {{end}}",
                      db).stdout.split()
    assert networks == [internal]
    assert docker("port", db).stdout.strip() == ""  # nothing published


# ---------------------------------------------------------------- pip

DEMO = "wsginit_recipe_demo"


def write_wheel(index, name, version, files, requires=()):
    """A pure-Python wheel of files ({path in the wheel: bytes}) as `pip wheel` lays it
    out (py3-none-any), in index/<project>/, where a PEP 503 index has it."""
    info = "%s-%s.dist-info/" % (name.replace("-", "_"), version)
    files = dict(files)
    files[info + "METADATA"] = ("Metadata-Version: 2.1\nName: %s\nVersion: %s\n" % (name, version) +
                                "".join("Requires-Dist: %s\n" % r for r in requires)).encode()
    files[info + "WHEEL"] = b"Wheel-Version: 1.0\nGenerator: test_recipes\nRoot-Is-Purelib: true\nTag: py3-none-any\n"
    record = "".join("%s,sha256=%s,%d\n" % (path, base64.urlsafe_b64encode(
        hashlib.sha256(data).digest()).rstrip(b"=").decode(), len(data)) for path, data in files.items())
    files[info + "RECORD"] = (record + info + "RECORD,,\n").encode()
    directory = os.path.join(index, re.sub(r"[-_.]+", "-", name).lower())
    os.makedirs(directory, exist_ok=True)
    wheel = "%s-%s-py3-none-any.whl" % (name.replace("-", "_"), version)
    with zipfile.ZipFile(os.path.join(directory, wheel), "w") as whl:
        for path, data in files.items():
            whl.writestr(path, data)


def demo_wheel(index):
    """A wheel of a one-module package."""
    write_wheel(index, "wsginit-recipe-demo", "1.0", {DEMO + "/__init__.py": b'GREETING = "hello from a wheel"\n'})


@pytest.fixture
def serve_index():
    """serve_index(root) -> the URL of a PEP 503 simple index on 127.0.0.1 serving the
    directory root (one directory of wheels per project); all are stopped at the end."""
    servers = []

    class Quiet(http.server.SimpleHTTPRequestHandler):
        def log_message(self, *args):
            pass

    def serve(root):
        server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), functools.partial(Quiet, directory=str(root)))
        thread = threading.Thread(target=server.serve_forever)
        thread.start()
        servers.append((server, thread))
        return "http://127.0.0.1:%d/" % server.server_address[1]
    yield serve
    for server, thread in servers:
        server.shutdown()
        thread.join()
        server.server_close()


@pytest.fixture
def package_index(serve_index, tmp_path):
    """An index holding the demo wheel: its URL."""
    demo_wheel(str(tmp_path / "index"))
    return serve_index(tmp_path / "index")


def test_pip_recipe_installs_requirements(image, run, package_index, tmp_path):
    """README's pip stage: requirements.txt installed with --target from an index
    (PIP_INDEX_URL, the one build-arg the test sets), found by the image's Python."""
    block = readme_block("Container image", "pip install")
    context = tmp_path / "app"
    context.mkdir()
    (context / "Dockerfile").write_text(dockerfile(block))
    (context / "requirements.txt").write_text("wsginit-recipe-demo==1.0\n")
    (context / "app.py").write_text(
        "import %s as demo\n\ndef app(environ, start_response):\n"
        "    start_response('200 OK', [('Content-Type', 'text/plain')])\n"
        "    return [('%%s|%%s' %% (demo.GREETING, demo.__file__)).encode()]\n" % DEMO)
    tag = build("wsginit-pip-example", context, "--build-arg", "PIP_INDEX_URL=" + package_index)
    port = free_port()
    run("-e", "BIND=127.0.0.1:%d" % port, tag)
    greeting, path = wait_200(port).split("|")
    assert greeting == "hello from a wheel"
    assert path == "/usr/local/lib/python3.11/dist-packages/%s/__init__.py" % DEMO


# ---------------------------------------------------------------- docker run -p

def test_readme_docker_run_publishes_the_port(image, network, containers):
    """README's `docker run --rm -p 8080:8080 ...` on a user-defined network (not the
    host's), reached from the host through the published port on 127.0.0.1."""
    block = readme_block("Container image", "-p 8080:8080")
    cmd = next(c for c in commands(block) if c[:2] == ["docker", "run"])
    port, net = free_port(), network()
    args = [a.replace("$PWD", ROOT) for a in cmd[2:]]
    args[args.index("8080:8080")] = "127.0.0.1:%d:8080" % port
    cid = docker("run", "-d", "--network", net, *args).stdout.strip()
    containers.append(cid)
    assert wait_200(port) == "Hello, World!"
    mode = docker("inspect", "-f", "{{.HostConfig.NetworkMode}}", cid).stdout.strip()
    assert mode == net


# ---------------------------------------------------------------- another Python

# Flask and what it needs, with the requirements their own wheels declare (Debian's
# egg-info leaves out those that dpkg installs).
FLASK_WHEELS = {"Flask": ["Werkzeug>=2.2.2", "Jinja2>=3.0", "itsdangerous>=2.0", "click>=8.0"],
                "Werkzeug": ["MarkupSafe>=2.1.1"], "Jinja2": ["MarkupSafe>=2.0"],
                "MarkupSafe": [], "itsdangerous": [], "click": []}
DIST_PACKAGES = "/usr/lib/python3/dist-packages"


def installed_wheel(index, name, requires):
    """A wheel of the Python files of Debian's installed distribution `name` (C speedups
    built for 3.11 and links to absent files left out)."""
    dist, files = importlib.metadata.distribution(name), {}
    for top in dist.read_text("top_level.txt").split():
        for directory, dirs, names in os.walk(os.path.join(DIST_PACKAGES, top)):
            dirs[:] = [d for d in dirs if d != "__pycache__"]
            for path in (os.path.join(directory, n) for n in names if not n.endswith(".so")):
                if os.path.exists(path):
                    with open(path, "rb") as f:
                        files[os.path.relpath(path, DIST_PACKAGES)] = f.read()
    write_wheel(index, dist.metadata["Name"], dist.version, files, requires)


def elf_files(root):
    """The ELF files under root (not the links to them)."""
    for directory, _, names in os.walk(root):
        for path in (os.path.join(directory, n) for n in names):
            if not os.path.islink(path):
                with open(path, "rb") as f:
                    if f.read(4) == b"\x7fELF":
                        yield path


def official_layout(prefix, dest):
    """The install under prefix copied to dest as the python:3.X-slim images have theirs
    under /usr/local: no libpython*.a, tests or bytecode, stripped, pip alone in
    site-packages, the scripts' #! lines naming /usr/local."""
    def ignore(directory, names):
        site = os.path.basename(directory) == "site-packages"
        return [n for n in names if n in ("test", "tests", "idle_test", "__pycache__")
                or n.endswith(".pyc") or re.fullmatch(r"libpython.*\.a", n) or (site and not n.startswith("pip"))]
    shutil.copytree(prefix, dest, symlinks=True, ignore=ignore)
    for path in elf_files(dest):  # linked with --strip-all there
        subprocess.run(["strip", "--strip-unneeded", path], check=True)
    for name in os.listdir(os.path.join(dest, "bin")):
        path = os.path.join(dest, "bin", name)
        if os.path.islink(path) or not os.path.isfile(path):
            continue
        with open(path, "rb") as f:
            data = f.read()
        if data.startswith(b"#!" + prefix.encode() + b"/"):
            with open(path, "wb") as f:
                f.write(data.replace(b"#!" + prefix.encode(), b"#!/usr/local", 1))


def runtime_packages(root):
    """The Debian packages of the shared libraries that the ELF files under root link,
    as the official images keep them (Tk's left out, as the wsginit image leaves _tkinter)."""
    libs = set()
    for path in elf_files(root):
        if "_tkinter" not in path:
            libs |= set(re.findall(r"=> (/\S+)", subprocess.run(["ldd", path], capture_output=True, text=True).stdout))
    owners = subprocess.run(["dpkg", "-S", *("*/x86_64-linux-gnu/" + os.path.basename(lib) for lib in libs
                                             if not lib.startswith("/root/"))],
                            capture_output=True, text=True).stdout
    return sorted({line.split(":")[0] for line in owners.splitlines()} - {"libc6"})


@pytest.fixture(scope="module")
def usr_local_python(image, tmp_path_factory):
    """A stand-in for python:3.X-slim-bookworm (no registry here): the Debian base with
    the newest pyenv CPython 3.10-3.13 under /usr/local, its shared libpython, pip and the
    Debian libraries its modules link (official_layout). (tag, (major, minor), version)."""
    found = pythons.pyenv_pythons()
    if not found:
        pytest.skip("no CPython 3.10-3.13 under %s/versions to lay out as python:3.X-slim" % pythons.pyenv_root())
    _, info = found[-1]
    context = tmp_path_factory.mktemp("python-base")
    official_layout(info["prefix"], str(context / "local"))
    (context / "Dockerfile").write_text(
        "FROM debian:bookworm-slim\n"
        "RUN apt-get update -qq && apt-get install -y -qq --no-install-recommends ca-certificates netbase tzdata "
        "%s && rm -rf /var/lib/apt/lists/*\n"
        "COPY local/ /usr/local/\n"
        "RUN ldconfig && python3 -c 'import ctypes, decimal, sqlite3, ssl, zlib' && pip --version\n"
        "ENV LANG=C.UTF-8\nCMD [\"python3\"]\n" % " ".join(runtime_packages(str(context / "local"))))
    minor = tuple(info["minor"])
    return build("local/python:%d.%d-slim-bookworm" % minor, context), minor, info["version"]


@pytest.fixture(scope="module")
def usr_local_image(usr_local_python):
    """The Dockerfile built with BASE= that stand-in: against its shared libpython."""
    base, minor, _ = usr_local_python
    return build("wsginit:python%d.%d" % minor, ROOT, "--build-arg", "BASE=" + base)


def test_usr_local_python_image_serves_flask_pip_installed_for_it(usr_local_python, usr_local_image, run,
                                                                 serve_index, tmp_path):
    """README's "Choosing the Python" recipe with the stand-in for python:3.X-slim: Flask
    (requirements.txt: Flask alone) installed by that Python's pip from an index on
    loopback (with the wheels it depends on), served by wsginit embedding that Python."""
    base, minor, version = usr_local_python
    short = "%d.%d" % minor
    recipe = dockerfile(readme_block("Choosing the Python", "pip install"))
    context = tmp_path / "app"
    context.mkdir()
    (context / "Dockerfile").write_text(recipe.replace("python:3.12-slim-bookworm", base)
                                        .replace("wsginit:python3.12", usr_local_image).replace("3.12", short))
    (context / "requirements.txt").write_text("Flask==2.2.2\n")
    (context / "app.py").write_text(
        "import platform\n\nimport flask\n\napp = flask.Flask(__name__)\n\n\n@app.get('/')\n"
        "def index():\n    return '|'.join((flask.__version__, flask.__file__, platform.python_version()))\n")
    for name, requires in FLASK_WHEELS.items():
        installed_wheel(str(tmp_path / "index"), name, requires)
    tag = build("wsginit-python-flask", context, "--build-arg", "PIP_INDEX_URL=" + serve_index(tmp_path / "index"))
    port = free_port()
    cid = run("-e", "BIND=127.0.0.1:%d" % port, tag)
    assert wait_200(port).split("|") == [
        "2.2.2", "/usr/local/lib/python%s/site-packages/flask/__init__.py" % short, version]
    about = docker("run", "--rm", "--network=none", "--entrypoint", "/wsginit", tag, "--version").stdout
    assert about.endswith(" with Python %s (/usr/local/bin/python3, shared libpython)\n" % version), about
    assert "Running as uid=65532 gid=65532" in docker("logs", cid).stderr
    print(docker("image", "ls", "--format", "{{.Repository}}:{{.Tag}} {{.Size}}").stdout)
