# wsginit: `make run` serves examples/hello.py, `make test` runs every test.
# Both install the Debian packages they need first (idempotent).

SHELL   := /bin/bash
CC      := gcc
PYTHON  := /usr/bin/python3
LLHTTP  := /usr/share/llhttp
LIBDIR  := /usr/lib/x86_64-linux-gnu

# The embedded CPython (3.10 or newer): Debian's 3.11 by default, any other with
# `make build PY=/path/to/python3.X`. Everything else comes from that interpreter's
# sysconfig, written to build/python.mk (rewritten only when it changes, so every
# object that includes Python.h is rebuilt then). PYLINK=static|shared overrides
# the choice of library: static when the interpreter has libpython*.a, else shared.
PY      := /usr/bin/python3
DEBIAN_PY := $(filter /usr/bin/python3%,$(PY))

HARDEN  := -D_FORTIFY_SOURCE=2 -fstack-protector-strong -fno-omit-frame-pointer
CFLAGS  ?= -O2 -g
CFLAGS  += -std=gnu11 -Wall -Wextra -Werror $(HARDEN) -D_GNU_SOURCE \
           -isystem $(PY_INCLUDE) -isystem /usr/share/include/llhttp
LDFLAGS += $(PY_LDFLAGS) -Wl,-z,relro -Wl,-z,now
LDLIBS   = $(PY_LIB) $(LIBDIR)/libcap.a $(LIBDIR)/libseccomp.a \
           $(PY_LIBS) -lpthread -ldl -lutil -lm

BUILD_DEPS := gcc make libc6-dev $(if $(DEBIAN_PY),python3-dev libpython3.11-dev libexpat1-dev zlib1g-dev) \
              node-llhttp libcap-dev libseccomp-dev
TEST_DEPS  := python3-pytest python3-flask python3-django python3-yaml curl clang \
              libclang-rt-14-dev slowhttptest wrk libjs-jquery nginx openssl

# build/python.mk: the interpreter's sysconfig as make variables. A copied install
# (say a pyenv tree moved elsewhere) still reports the paths it was built for, so
# those under its build-time prefix are moved to where it runs from. (One Python
# statement a line, each ending in ";": $(shell) joins the lines.)
define PY_QUERY
import os, platform, sys, sysconfig;
v = lambda name: str(sysconfig.get_config_var(name) or "");
moved = [(v("prefix"), sys.base_prefix), (v("exec_prefix"), sys.base_exec_prefix)];
here = lambda p: next((new + p[len(old):] for old, new in moved if old and (p + "/").startswith(old + "/")), p);
first = lambda *paths: next((p for p in paths if os.path.isfile(p)), "");
libs = lambda *names: {w for n in names for w in v(n).split() if w.startswith("-l")};
in_libdir = lambda name: here(v("LIBDIR")) + "/" + v(name);
static = first(here(v("LIBPL")) + "/" + v("LIBRARY"), in_libdir("LIBRARY"));
link = sys.argv[1] or ("static" if static else "shared");
print("PY_VERSION :=", platform.python_version());
print("PY_ERROR :=", "" if sys.version_info >= (3, 10) else "wsginit embeds CPython 3.10 or newer");
print("PY_EXE :=", sys.executable);
print("PY_INCLUDE :=", *sorted({sysconfig.get_path("include"), sysconfig.get_path("platinclude")}));
print("PY_STDLIB :=", sysconfig.get_path("stdlib"));
print("PY_DYNLOAD :=", here(v("DESTSHARED")));
print("PY_STATIC_LIB :=", static);
print("PY_SHARED_LIB :=", v("Py_ENABLE_SHARED") == "1" and first(in_libdir("LDLIBRARY"), in_libdir("INSTSONAME")) or "");
print("PY_MODLIBS :=", *sorted(w[2:] for w in libs("MODLIBS") - {"-lm"}));
print("PY_SYSLIBS :=", *sorted(libs("LIBS", "SYSLIBS") - {"-lpthread", "-ldl", "-lutil", "-lm"}));
print("PY_LINK :=", link if link in ("static", "shared") else "");
endef
# Not before python3 is installed: `make build` on a fresh machine runs deps first,
# then a new make that finds it.
ifneq ($(shell command -v $(PY)),)
$(shell mkdir -p build && { $(PY) -c '$(PY_QUERY)' '$(PYLINK)' || echo 'PY_ERROR := not a CPython 3.10 or newer'; } \
  > build/python.mk.$$$$ && { cmp -s build/python.mk.$$$$ build/python.mk && rm build/python.mk.$$$$ \
  || mv build/python.mk.$$$$ build/python.mk; })
include build/python.mk
endif
PY_MK   := $(wildcard build/python.mk)
# Static: the C API resolved from the binary itself (-no-pie -Wl,-E) for extension
# modules, with the libraries of the modules built into libpython (Debian's: expat,
# zlib) linked statically too. Shared: libpython found through the rpath.
ifeq ($(PY_LINK),static)
PY_LIB     := $(PY_STATIC_LIB)
PY_LDFLAGS := -no-pie -Wl,-E
PY_LIBS     = $(strip $(foreach l,$(PY_MODLIBS),$(or $(wildcard $(LIBDIR)/lib$(l).a),-l$(l))) $(PY_SYSLIBS))
else
PY_LIB     := $(PY_SHARED_LIB)
PY_LDFLAGS := -Wl,-rpath,$(patsubst %/,%,$(dir $(PY_SHARED_LIB)))
endif
# What a build needs to know before it starts (checked where it is used, so that a
# make that runs deps first is not stopped by what deps installs).
PY_CHECK = $(if $(PY_ERROR),$(error PY=$(PY): $(PY_ERROR)))$(if $(PY_VERSION),,$(error \
           PY=$(PY): no such interpreter))$(if $(PY_LINK),,$(error PYLINK=$(PYLINK): static or shared))$(if \
           $(PY_LIB),,$(error PY=$(PY): no $(PY_LINK) libpython for $(PY_VERSION)))

SRC     := $(wildcard src/*.c)
OBJ     := $(SRC:src/%.c=build/obj/%.o)
LLOBJ   := $(patsubst %,build/obj/llhttp_%.o,llhttp api http)
UNIT    := $(patsubst tests/unit/%.c,build/%,$(wildcard tests/unit/test_*.c))
LIBOBJ  := $(filter-out build/obj/main.o,$(OBJ)) $(LLOBJ)

.PHONY: all build run test test-asan test-pythons fuzz soak bench clean deps test-deps
# The packages go in first, then a new make builds: one started before them
# has already looked for /usr/share/llhttp/*.c and found nothing.
all build: deps
	$(MAKE) build/wsginit

build/wsginit: $(OBJ) $(LLOBJ)
	$(PY_CHECK)$(CC) $(LDFLAGS) -o $@ $^ $(LDLIBS)

build/obj/%.o: src/%.c $(wildcard src/*.h) $(PY_MK) | build/obj
	$(PY_CHECK)$(CC) $(CFLAGS) -c -o $@ $<

# The interpreter the embedded Python takes as its own (its prefix finds the stdlib,
# and sys.executable is a real Python for subprocess and multiprocessing).
build/obj/wsgi.o build/asan/wsgi.o: CFLAGS += -DWSGINIT_PYTHON='"$(PY_EXE)"' -DWSGINIT_PYLINK='"$(PY_LINK)"'

# llhttp is Debian's generated C: compiled as shipped, without our -Werror.
build/obj/llhttp_%.o: $(LLHTTP)/%.c | build/obj
	$(CC) -O2 -g $(HARDEN) -I/usr/share/include/llhttp -c -o $@ $<

build/test_%: tests/unit/test_%.c $(LIBOBJ) tests/unit/unit.h
	$(CC) $(CFLAGS) -Isrc $(LDFLAGS) -o $@ $< $(LIBOBJ) $(LDLIBS)

build/obj:
	mkdir -p $@

run: build
	cd examples && APP=hello:app ../build/wsginit

# `make test PY=...`: a Python other than Debian's is tested from a copy that the
# run-as user can read, with Flask and Django on its path (tests/pythons.py).
TESTED_PY := $(filter /usr/bin/python3% /opt/wsginit-tests/pythons/%,$(PY))
test: deps test-deps
ifeq ($(TESTED_PY),)
	$(call apt_need,patchelf)
	py=$$($(PYTHON) tests/pythons.py stage $(PY)) && $(MAKE) test PY=$$py
else
	$(MAKE) build $(UNIT) image-rootfs
	@for t in $(UNIT); do echo "== $$t"; $$t || exit 1; done
	$(MAKE) fuzz FUZZ_SECONDS=30
	$(PYTHON) -m pytest -q tests/integration
endif

# Debian's python3 and each CPython 3.10-3.13 under $(pyenv root)/versions, built in
# a copy of the tree and run on the HTTP, WSGI, framework and container tests; prints
# a table of passed, failed and skipped (tests/pythons.py; about a minute a Python).
test-pythons: deps test-deps
	$(call apt_need,patchelf)
	$(PYTHON) tests/pythons.py run

# The whole suite against an ASan+UBSan build (options built in, see
# tests/sanitizer_options.c).
ASAN_OBJ := $(OBJ:build/obj/%=build/asan/%) $(LLOBJ:build/obj/%=build/asan/%) build/asan/options.o
build/asan/%.o: src/%.c $(wildcard src/*.h) $(PY_MK) | build/asan
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
build/fuzz_http: tests/fuzz/fuzz_http.c src/http.c src/body.c src/trace.c src/http.h src/body.h src/trace.h | build/obj
	clang $(FUZZFLAGS) -o $@ tests/fuzz/fuzz_http.c src/http.c src/body.c src/trace.c $(LLSRC)
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
# for the stdlib's extension modules, the embedded Python's stdlib (from its
# sysconfig paths: Debian's 3.11 by default), tzdata, CA certificates,
# /etc/mime.types and the skeleton in rootfs/. No shell, no package manager.
.PHONY: image-rootfs test-image
ROOTFS     := build/rootfs
IMAGE_DEPS := $(if $(DEBIAN_PY),libpython3.11-stdlib) tzdata ca-certificates media-types
# Left out: what a server never imports (tests, venv, docs, curses, readline,
# NIS, dbm, audio, Tk and IDLE, 2to3, ensurepip, a debug build's modules, the
# static library and its Makefile, bytecode caches, the interpreter's own site-
# or dist-packages: an app's packages come from its builder stage). Debian ships
# idlelib, tkinter, lib2to3, ensurepip in other packages; python.org's has them all.
PY_SKIP    := /(test|tests|idle_test|venv|pydoc_data|distutils|curses|idlelib|tkinter|turtledemo|ensurepip|lib2to3|config-[^/]*|__pycache__|site-packages|dist-packages)(/|$$)|/turtle\.py$$|/sitecustomize\.py$$|\.cpython-[0-9]+d-[^/]*$$|/_sysconfigdata_d_[^/]*$$|/lib-dynload/(_test|_ctypes_test|_xxtestfuzz|xxlimited|_curses|readline|nis|ossaudiodev|_dbm|_gdbm|_tkinter)
# Copies the host paths read on stdin, as they are (links stay links).
HOST_COPY  := sed 's|^/||' | tar -C / --no-recursion -cf - -T - | tar -C $(ROOTFS) -xf -

image-rootfs: deps build
ifeq ($(PY_VERSION),)
	$(MAKE) image-rootfs # python3 came with deps: a new make reads its sysconfig
else
	$(call apt_need,$(IMAGE_DEPS))
	rm -rf $(ROOTFS) && mkdir -p $(ROOTFS)/usr/lib/ssl $(ROOTFS)/etc/ssl/certs
	ln -s usr/lib $(ROOTFS)/lib && ln -s usr/lib64 $(ROOTFS)/lib64
	cp -a rootfs/. $(ROOTFS)/ && install -d -m 1777 $(ROOTFS)/tmp && install -d $(ROOTFS)/app
	install -s -m 755 build/wsginit $(ROOTFS)/wsginit
	{ find $(PY_STDLIB) $(PY_DYNLOAD) -mindepth 1 | grep -vE '^($(PY_STDLIB)|$(PY_DYNLOAD))(/.*)?($(PY_SKIP))' | sort -u; \
	  dpkg -L tzdata | grep '^/usr/share/zoneinfo/'; } | $(HOST_COPY)
	@# Each library ldd names (the link and its target), listed beside copy-libs, which an
	@# app's builder stage runs for its own extension modules; libgcc_s is dlopen()ed by pthread_exit.
	rootfs/usr/lib/wsginit/copy-libs $(ROOTFS) $(ROOTFS)/wsginit $(ROOTFS)$(PY_DYNLOAD) \
	  > $(ROOTFS)/usr/lib/wsginit/libs
	echo $(LIBDIR)/libgcc_s.so.1 | tee -a $(ROOTFS)/usr/lib/wsginit/libs | $(HOST_COPY)
	@# Debian's own CA list (not this host's local additions); OpenSSL's default file points to it.
	cat $$(dpkg -L ca-certificates | grep '^/usr/share/ca-certificates/.*\.crt$$') > $(ROOTFS)/etc/ssl/certs/ca-certificates.crt
	ln -s /etc/ssl/certs/ca-certificates.crt $(ROOTFS)/usr/lib/ssl/cert.pem
	@# STATIC_MAP's Content-Types.
	install -m 644 /etc/mime.types $(ROOTFS)/etc/mime.types
	du -sh $(ROOTFS)
endif

# The image built and run by a private Docker engine (minutes; not in `make test`).
test-image: test-deps
	$(call apt_need,docker.io docker-compose debootstrap)
	$(PYTHON) -m pytest -q -s tests/image

# examples/kubernetes.yaml played by podman (`podman kube play`) on the image-rootfs
# image with test apps and Flask (a minute; not in `make test`). Prints its timings;
# what podman 4.3 cannot do is reported as xfail with the reason.
.PHONY: test-k8s
test-k8s: test-deps image-rootfs
	$(call apt_need,podman catatonit)
	$(PYTHON) -m pytest -q -s -rxX tests/k8s
