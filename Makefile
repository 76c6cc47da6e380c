# wsginit: `make run` serves examples/hello.py, `make test` runs every test.
# Both install the Debian packages they need first (idempotent).

SHELL   := /bin/bash
CC      := gcc
PYCONF  := /usr/bin/python3-config
PYTHON  := /usr/bin/python3
LLHTTP  := /usr/share/llhttp
PYLIB    = $(shell $(PYCONF) --configdir)/libpython3.11.a
LIBDIR  := /usr/lib/x86_64-linux-gnu

HARDEN  := -D_FORTIFY_SOURCE=2 -fstack-protector-strong -fno-omit-frame-pointer
CFLAGS  ?= -O2 -g
CFLAGS  += -std=gnu11 -Wall -Wextra -Werror $(HARDEN) -D_GNU_SOURCE \
           -isystem /usr/include/python3.11 -isystem /usr/share/include/llhttp
LDFLAGS += -no-pie -Wl,-E -Wl,-z,relro -Wl,-z,now
LDLIBS   = $(PYLIB) $(LIBDIR)/libcap.a $(LIBDIR)/libseccomp.a \
           $(LIBDIR)/libexpat.a $(LIBDIR)/libz.a -lpthread -ldl -lutil -lm

BUILD_DEPS := gcc make libc6-dev python3-dev libpython3.11-dev libexpat1-dev zlib1g-dev \
              node-llhttp libcap-dev libseccomp-dev
TEST_DEPS  := python3-pytest python3-flask python3-django python3-yaml curl clang \
              libclang-rt-14-dev slowhttptest wrk libjs-jquery nginx openssl

SRC     := $(wildcard src/*.c)
OBJ     := $(SRC:src/%.c=build/obj/%.o)
LLOBJ   := $(patsubst %,build/obj/llhttp_%.o,llhttp api http)
UNIT    := $(patsubst tests/unit/%.c,build/%,$(wildcard tests/unit/test_*.c))
LIBOBJ  := $(filter-out build/obj/main.o,$(OBJ)) $(LLOBJ)

.PHONY: all build run test test-asan fuzz soak bench clean deps test-deps
# The packages go in first, then a new make builds: one started before them
# has already looked for /usr/share/llhttp/*.c and found nothing.
all build: deps
	$(MAKE) build/wsginit

build/wsginit: $(OBJ) $(LLOBJ)
	$(CC) $(LDFLAGS) -o $@ $^ $(LDLIBS)

build/obj/%.o: src/%.c $(wildcard src/*.h) | build/obj
	$(CC) $(CFLAGS) -c -o $@ $<

# llhttp is Debian's generated C: compiled as shipped, without our -Werror.
build/obj/llhttp_%.o: $(LLHTTP)/%.c | build/obj
	$(CC) -O2 -g $(HARDEN) -I/usr/share/include/llhttp -c -o $@ $<

build/test_%: tests/unit/test_%.c $(LIBOBJ) tests/unit/unit.h
	$(CC) $(CFLAGS) -Isrc $(LDFLAGS) -o $@ $< $(LIBOBJ) $(LDLIBS)

build/obj:
	mkdir -p $@

run: build
	cd examples && APP=hello:app ../build/wsginit

test: deps test-deps
	$(MAKE) build $(UNIT) image-rootfs
	@for t in $(UNIT); do echo "== $$t"; $$t || exit 1; done
	$(MAKE) fuzz FUZZ_SECONDS=30
	$(PYTHON) -m pytest -q tests/integration

# The whole suite against an ASan+UBSan build (options built in, see
# tests/sanitizer_options.c).
ASAN_OBJ := $(OBJ:build/obj/%=build/asan/%) $(LLOBJ:build/obj/%=build/asan/%) build/asan/options.o
build/asan/%.o: src/%.c $(wildcard src/*.h) | build/asan
	$(CC) $(CFLAGS) -O1 -fsanitize=address,undefined -c -o $@ $<
build/asan/llhttp_%.o: $(LLHTTP)/%.c | build/asan
	$(CC) -O1 -g -fsanitize=address,undefined -I/usr/share/include/llhttp -c -o $@ $<
build/asan/options.o: tests/sanitizer_options.c | build/asan
	$(CC) -O1 -DREPORT='"$(CURDIR)/build/asan/report"' -c -o $@ $<
build/asan/wsginit: $(ASAN_OBJ)
	$(CC) -fsanitize=address,undefined $(LDFLAGS) -o $@ $^ $(LDLIBS)
build/asan:
	mkdir -p $@
test-asan: deps test-deps
	$(MAKE) build/asan/wsginit image-rootfs
	rm -f build/asan/report.*
	WSGINIT=$(CURDIR)/build/asan/wsginit WSGINIT_SANITIZED=1 $(PYTHON) -m pytest -q tests/integration
	@if ls build/asan/report.* >/dev/null 2>&1; then cat build/asan/report.*; exit 1; fi
	@echo "no sanitizer reports"

# wsginit beside gunicorn, uWSGI and nginx, one core each (minutes); writes
# bench/results/ and the README's table.
bench: build
	$(PYTHON) bench/bench.py

# The long fault runs: 20 s of kill -9 under load, 1,000,000 requests for
# RSS growth, a client that stops reading (minutes).
soak: deps test-deps build
	SOAK=1 $(PYTHON) -m pytest -q -s tests/integration/test_faults.py

# libFuzzer drivers (clang, ASan+UBSan); FUZZ_SECONDS per driver.
FUZZ_SECONDS ?= 600
FUZZFLAGS := -g -O1 -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=undefined \
             -D_GNU_SOURCE -Isrc -I/usr/share/include/llhttp
LLSRC     := $(LLHTTP)/llhttp.c $(LLHTTP)/api.c $(LLHTTP)/http.c
build/fuzz_http: tests/fuzz/fuzz_http.c src/http.c src/body.c src/http.h src/body.h | build/obj
	clang $(FUZZFLAGS) -o $@ tests/fuzz/fuzz_http.c src/http.c src/body.c $(LLSRC)
build/fuzz_config: tests/fuzz/fuzz_config.c src/config.c src/cpus.c src/config.h | build/obj
	clang $(FUZZFLAGS) -o $@ tests/fuzz/fuzz_config.c src/config.c src/cpus.c
# The response writer's framing, and STATIC_MAP's path checks (no path it
# accepts may leave the mapped directory).
RESPSRC   := src/response.c src/http.c src/body.c
build/fuzz_response: tests/fuzz/fuzz_response.c $(RESPSRC) src/response.h src/http.h | build/obj
	clang $(FUZZFLAGS) -o $@ tests/fuzz/fuzz_response.c $(RESPSRC) $(LLSRC)
build/fuzz_static: tests/fuzz/fuzz_static.c src/static.c src/log.c $(RESPSRC) $(wildcard src/*.h) | build/obj
	clang $(FUZZFLAGS) -o $@ tests/fuzz/fuzz_static.c src/static.c src/log.c $(RESPSRC) $(LLSRC)
# The forwarding-header walk, under random trust lists and header lines.
build/fuzz_proxy: tests/fuzz/fuzz_proxy.c src/proxy.c src/config.c src/cpus.c $(wildcard src/*.h) | build/obj
	clang $(FUZZFLAGS) -o $@ tests/fuzz/fuzz_proxy.c src/proxy.c src/config.c src/cpus.c
FUZZERS   := http config response static proxy
fuzz: test-deps $(FUZZERS:%=build/fuzz_%)
	@for f in $(FUZZERS); do mkdir -p build/corpus/$$f; \
	  build/fuzz_$$f -max_total_time=$(FUZZ_SECONDS) -max_len=8192 -print_final_stats=1 \
	    build/corpus/$$f tests/fuzz/corpus/$$f 2>&1 | grep -E '^(Done|stat::number_of_executed_units|==|SUMMARY)|ERROR' ; \
	  [ $${PIPESTATUS[0]} -eq 0 ] || exit 1; done

clean:
	rm -rf build

# Install the packages that are missing, and nothing when all are there.
apt_need = @missing=$$(for p in $(1); do dpkg-query -W -f='$${Status}\n' $$p 2>/dev/null \
	| grep -q 'ok installed' || echo $$p; done); [ -z "$$missing" ] || { echo "installing" $$missing; \
	apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $$missing; }

deps:
	$(call apt_need,$(BUILD_DEPS))
test-deps:
	$(call apt_need,$(TEST_DEPS))

# The image's root filesystem: the binary, the libraries ldd names for it and
# for the stdlib's extension modules, Debian's Python 3.11 stdlib, tzdata, CA
# certificates, /etc/mime.types and the skeleton in rootfs/. No shell, no package manager.
.PHONY: image-rootfs test-image
ROOTFS     := build/rootfs
IMAGE_DEPS := libpython3.11-stdlib tzdata ca-certificates media-types
# Left out: what a server never imports (tests, venv, docs, curses, readline,
# NIS, dbm, audio). idlelib, tkinter, lib2to3, ensurepip are other packages.
PY_SKIP    := /(test|venv|pydoc_data|distutils|curses)(/|$$)|/turtle\.py$$|/sitecustomize\.py$$|/lib-dynload/(_test|_ctypes_test|_xxtestfuzz|xxlimited|_curses|readline|nis|ossaudiodev|_dbm)
# Copies the host paths read on stdin, as they are (links stay links).
HOST_COPY  := sed 's|^/||' | tar -C / --no-recursion -cf - -T - | tar -C $(ROOTFS) -xf -

image-rootfs: deps build
	$(call apt_need,$(IMAGE_DEPS))
	rm -rf $(ROOTFS) && mkdir -p $(ROOTFS)/usr/lib/ssl $(ROOTFS)/etc/ssl/certs
	ln -s usr/lib $(ROOTFS)/lib && ln -s usr/lib64 $(ROOTFS)/lib64
	cp -a rootfs/. $(ROOTFS)/ && install -d -m 1777 $(ROOTFS)/tmp && install -d $(ROOTFS)/app
	install -s -m 755 build/wsginit $(ROOTFS)/wsginit
	{ dpkg -L libpython3.11-minimal libpython3.11-stdlib | grep '^/usr/lib/python3.11/' | grep -vE '$(PY_SKIP)'; \
	  dpkg -L tzdata | grep '^/usr/share/zoneinfo/'; } | $(HOST_COPY)
	@# Each library ldd names (the link and its target), listed beside copy-libs, which an
	@# app's builder stage runs for its own extension modules; libgcc_s is dlopen()ed by pthread_exit.
	rootfs/usr/lib/wsginit/copy-libs $(ROOTFS) $(ROOTFS)/wsginit $(ROOTFS)/usr/lib/python3.11/lib-dynload \
	  > $(ROOTFS)/usr/lib/wsginit/libs
	echo $(LIBDIR)/libgcc_s.so.1 | tee -a $(ROOTFS)/usr/lib/wsginit/libs | $(HOST_COPY)
	@# Debian's own CA list (not this host's local additions); OpenSSL's default file points to it.
	cat $$(dpkg -L ca-certificates | grep '^/usr/share/ca-certificates/.*\.crt$$') > $(ROOTFS)/etc/ssl/certs/ca-certificates.crt
	ln -s /etc/ssl/certs/ca-certificates.crt $(ROOTFS)/usr/lib/ssl/cert.pem
	@# STATIC_MAP's Content-Types.
	install -m 644 /etc/mime.types $(ROOTFS)/etc/mime.types
	du -sh $(ROOTFS)

# The image built and run by a private Docker engine (minutes; not in `make test`).
test-image: test-deps
	$(call apt_need,docker.io docker-compose debootstrap)
	$(PYTHON) -m pytest -q -s tests/image
