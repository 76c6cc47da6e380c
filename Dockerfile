# The wsginit image: a rootfs with only the binary, the libraries it loads, the
# embedded Python's stdlib, tzdata and CA certificates. No shell.
# BASE chooses the Python: debian:bookworm-slim (the default) builds against
# Debian's 3.11 and its static libpython; python:3.X-slim-bookworm against that
# image's /usr/local/bin/python3 and its shared libpython (the only one it has).
ARG BASE=debian:bookworm-slim
FROM $BASE AS build
RUN apt-get update -qq && apt-get install -y -qq --no-install-recommends make
WORKDIR /src
COPY Makefile .
RUN make deps PY=$(ls /usr/local/bin/python3 2>/dev/null || echo /usr/bin/python3)
COPY . .
RUN make image-rootfs PY=$(ls /usr/local/bin/python3 2>/dev/null || echo /usr/bin/python3)

FROM scratch
COPY --from=build /src/build/rootfs /
ENV CHDIR=/app PYTHONUNBUFFERED=1 PYTHONDONTWRITEBYTECODE=1
# Answered by the workers in C, never by the app (an app that serves /healthz
# itself sets another HEALTH_PATH). `wsginit --probe` asks what the environment
# names: ADMIN_BIND's /readyz when set, else HEALTH_PATH on PORT/HOST/BIND, so
# the check holds for any app and any PORT; the probe gives up after 5 s.
ENV HEALTH_PATH=/healthz
EXPOSE 8080
HEALTHCHECK --interval=10s --timeout=6s --start-period=30s CMD ["/wsginit", "--probe"]
STOPSIGNAL SIGTERM
ENTRYPOINT ["/wsginit"]
