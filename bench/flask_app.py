"""The Flask scenario's app (APP=flask_app:app): GET /json answers a small JSON
document through jsonify, the most common shape of a Flask API view. Other
people profile this same code: keep the endpoint as it is.
"""

from flask import Flask, jsonify

app = Flask(__name__)


@app.route("/json")
def json_view():
    return jsonify(message="Hello, World!", items=list(range(10)))
