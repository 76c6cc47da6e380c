"""A small Flask (Debian python3-flask 2.2) app served end to end by test_frameworks.py.

Its static folder is flaskapp_static/ beside this file, at Flask's usual /static URL:
with STATIC_MAP=/static=<that folder> wsginit serves it and Flask never sees it.
"""
import threading

from flask import Flask, Response, abort, jsonify, render_template_string, request, stream_with_context

app = Flask(__name__, static_folder="flaskapp_static", static_url_path="/static")

SEEN = [0]  # requests that reached the app in this worker
SEEN_LOCK = threading.Lock()


def count_requests(wsgi_app):
    def counted(environ, start_response):
        with SEEN_LOCK:
            SEEN[0] += 1
        return wsgi_app(environ, start_response)
    return counted


app.wsgi_app = count_requests(app.wsgi_app)


@app.route("/")
def index():
    return "flask index"


@app.route("/count")
def count():
    """Requests the app has seen in this worker, this one included (wire.count reads it)."""
    return str(SEEN[0])


@app.route("/page")
def page():
    return render_template_string(
        '<!doctype html><link rel="stylesheet" href="{{ url_for("static", filename="css/site.css") }}">'
        '<img src="{{ url_for("static", filename="img/dot.svg") }}">')


@app.route("/api/items/<int:item_id>")
def item(item_id):
    return jsonify(id=item_id, name="item-%d" % item_id, q=request.args.get("q"))


@app.route("/api/echo", methods=["POST"])
def echo_json():
    data = request.get_json(force=True)
    return jsonify(received=data, length=request.content_length), 201


@app.route("/form", methods=["GET", "POST"])
def form():
    if request.method == "GET":
        return ('<form method="post"><input name="name"><input name="age"></form>', 200,
                {"Content-Type": "text/html; charset=utf-8"})
    name = request.form.get("name", "")
    age = request.form.get("age", "")
    if not name:
        abort(400)
    return "hello %s, %s" % (name, age)


@app.route("/upload", methods=["POST"])
def upload():
    f = request.files["file"]
    data = f.read()
    return jsonify(filename=f.filename, size=len(data), head=data[:8].decode("latin-1"))


@app.route("/stream")
def stream():
    n = int(request.args.get("n", "5"))

    def generate():
        for i in range(n):
            yield "line %d\n" % i

    return Response(stream_with_context(generate()), mimetype="text/plain")


@app.route("/headers")
def headers():
    return jsonify(host=request.host, remote_addr=request.remote_addr,
                   script_root=request.script_root, path=request.path,
                   url=request.url, user_agent=request.headers.get("User-Agent"))


@app.route("/boom")
def boom():
    raise RuntimeError("flask boom")


@app.errorhandler(404)
def not_found(e):
    return jsonify(error="not found", path=request.path), 404
