# The wsginit image: a rootfs with only the binary, the libraries it loads,
# Debian's Python 3.11 stdlib, tzdata and CA certificates. No shell.
FROM debian:bookworm-slim AS build
RUN apt-get update -qq && apt-get install -y -qq --no-install-recommends make
WORKDIR /src
COPY Makefile .
RUN make deps
COPY . .
RUN make image-rootfs

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
