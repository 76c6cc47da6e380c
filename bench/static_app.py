"""gunicorn + WhiteNoise for the static-file scenarios (APP=static_app:app).

apps.app wrapped by WhiteNoise, which serves the files of $BENCH_STATIC (made by
bench.py) under /static/; everything else (the /hello readiness check) reaches
apps.app. Imported only by that server, so the other servers' memory figures do
not carry WhiteNoise.
"""

import os

from whitenoise import WhiteNoise

from apps import app as _app

app = WhiteNoise(_app, root=os.environ["BENCH_STATIC"], prefix="/static/")
