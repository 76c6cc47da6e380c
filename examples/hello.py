"""The hello-world app `make run` serves: APP=hello:app, from this directory.

The body is a one-element list, so the server sends Content-Length: 13 itself.
"""


def app(environ, start_response):
    start_response("200 OK", [("Content-Type", "text/plain")])
    return [b"Hello, World!"]
