"""Settings for the test project: sqlite at $DJANGO_DB_PATH, CSRF and admin enabled.

Static files are collected (`manage.py collectstatic`) into $DJANGO_STATIC_ROOT and
served by wsginit itself: STATIC_MAP=/static=$DJANGO_STATIC_ROOT, as the README's
Django recipe does. $DJANGO_STATICFILES_STORAGE picks the storage class, e.g.
django.contrib.staticfiles.storage.ManifestStaticFilesStorage for hashed names.
"""
import os

from django.core.exceptions import ImproperlyConfigured

BASE_DIR = os.path.dirname(os.path.abspath(__file__))

DB_PATH = os.environ.get("DJANGO_DB_PATH")
if not DB_PATH:
    raise ImproperlyConfigured("set DJANGO_DB_PATH to the sqlite file to use")

SECRET_KEY = "wsginit-test-only-not-secret-0123456789abcdefghijklmnopqrstuvwxyz"
DEBUG = False
ALLOWED_HOSTS = ["127.0.0.1", "localhost", "[::1]"]

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
]

MIDDLEWARE = [
    "djangoproject.views.count_requests",
    "django.middleware.security.SecurityMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
]

ROOT_URLCONF = "djangoproject.urls"
WSGI_APPLICATION = "djangoproject.wsgi.application"

TEMPLATES = [{
    "BACKEND": "django.template.backends.django.DjangoTemplates",
    "DIRS": [os.path.join(BASE_DIR, "templates")],
    "APP_DIRS": True,
    "OPTIONS": {"context_processors": [
        "django.template.context_processors.request",
        "django.contrib.auth.context_processors.auth",
        "django.contrib.messages.context_processors.messages",
    ]},
}]

DATABASES = {"default": {"ENGINE": "django.db.backends.sqlite3", "NAME": DB_PATH}}
DEFAULT_AUTO_FIELD = "django.db.models.AutoField"

LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

# What STATIC_MAP serves: STATIC_URL is its prefix, STATIC_ROOT its directory.
STATIC_URL = "/static/"
STATIC_ROOT = os.environ.get("DJANGO_STATIC_ROOT")  # unset: collectstatic refuses to run
STATICFILES_STORAGE = os.environ.get("DJANGO_STATICFILES_STORAGE",
                                     "django.contrib.staticfiles.storage.StaticFilesStorage")

# Errors go to the server's error log (stderr) through Django's default logging.
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "handlers": {"stderr": {"class": "logging.StreamHandler"}},
    "loggers": {"django": {"handlers": ["stderr"], "level": "WARNING"}},
}
