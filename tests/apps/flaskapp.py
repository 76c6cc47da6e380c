"""A small Flask (Debian python3-flask 2.2) app served end to end by test_frameworks.py."""
from flask import Flask, Response, abort, jsonify, request, stream_with_context

app = Flask(__name__)


@app.route("/")
def index():
    return "flask index"


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
