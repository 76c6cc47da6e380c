"""Settings of the bench's Django project: production-like (DEBUG off, the
stateless default middleware), nothing that needs a session or a migration."""

import os

HERE = os.path.dirname(os.path.abspath(__file__))

DEBUG = False
SECRET_KEY = "bench-only, never deployed"
ALLOWED_HOSTS = ["127.0.0.1", "localhost"]
ROOT_URLCONF = "django_app.urls"
INSTALLED_APPS = ["django_app"]  # for models.World
# CommonMiddleware also sets Content-Length, which keeps uWSGI's connections alive
MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "django.middleware.common.CommonMiddleware",
]
TEMPLATES = [{
    "BACKEND": "django.template.backends.django.DjangoTemplates",
    "DIRS": [os.path.join(HERE, "templates")],  # DEBUG off: the cached loader
}]
DATABASES = {"default": {
    "ENGINE": "django.db.backends.sqlite3",
    "NAME": os.environ["BENCH_SQLITE"],  # made by bench.py, read-only here
    "CONN_MAX_AGE": None,  # one connection per thread, kept, as a deployment would
}}
