# wsginit: `make run` serves examples/hello.py, `make test` runs every test.
# Both install the Debian packages they need first (idempotent).

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

BUILD_DEPS := gcc make libc6-dev libpython3.11-dev libexpat1-dev zlib1g-dev node-llhttp \
              libcap-dev libseccomp-dev
TEST_DEPS  := python3-pytest python3-flask python3-django curl

SRC     := $(wildcard src/*.c)
OBJ     := $(SRC:src/%.c=build/obj/%.o)
LLOBJ   := $(patsubst %,build/obj/llhttp_%.o,llhttp api http)
UNIT    := $(patsubst tests/unit/%.c,build/%,$(wildcard tests/unit/test_*.c))
LIBOBJ  := $(filter-out build/obj/main.o,$(OBJ)) $(LLOBJ)

.PHONY: all build run test unit integration clean deps test-deps
all build: build/wsginit

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

run: deps build
	cd examples && APP=hello:app ../build/wsginit

test: deps test-deps build $(UNIT)
	@for t in $(UNIT); do echo "== $$t"; $$t || exit 1; done
	$(PYTHON) -m pytest -q tests/integration

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
