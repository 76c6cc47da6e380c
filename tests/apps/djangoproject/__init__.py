"""A minimal Django 3.2 project (Debian python3-django) served through wsginit.

APP=djangoproject.wsgi:application with CHDIR=tests/apps. The sqlite database
lives at $DJANGO_DB_PATH (the tests put it in a temporary directory and run
`manage.py migrate` first); `manage.py collectstatic` fills $DJANGO_STATIC_ROOT, which
wsginit serves with STATIC_MAP=/static=$DJANGO_STATIC_ROOT.
"""
