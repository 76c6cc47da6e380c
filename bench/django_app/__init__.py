"""A minimal Django project for the Django scenarios (APP=django_app.wsgi:application).

/template  renders templates/table.html: 20 rows in a {% for %} loop
/query     one SELECT by primary key through the ORM, answered as JSON

One settings module, DEBUG off, no middleware that needs a database or a
session. The SQLite file ($BENCH_SQLITE, a `world` table of 100 rows) is made by
bench.py; the project is also its only app, for the World model.
"""
