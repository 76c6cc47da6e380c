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
EXPOSE 8080
HEALTHCHECK --interval=10s --timeout=6s CMD ["/wsginit", "--probe", "http://127.0.0.1:8080/"]
STOPSIGNAL SIGTERM
ENTRYPOINT ["/wsginit"]
