/* PEP 3333 on embedded CPython: the interpreter, the app, environ and the
 * response. Every new reference has one owner; every call is checked. */
#include "wsgi.h"

#include "input.h"
#include "log.h"
#include "proxy.h"

#include <Python.h>
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

static const struct config *cfg;
static PyObject *app, *base_env, *format_exception, *https;
static PyObject *k_scheme, *k_close, *k_method, *k_script, *k_path, *k_query, *k_protocol, *k_ctype, *k_clen,
	*k_remote_addr, *k_remote_port, *k_server_name, *k_server_port, *k_input, *k_request_id;
static PyObject *proto[2], *methods[64];
static bool started;
static __thread PyThreadState *tstate;
static __thread bool gil; /* this thread holds the GIL between app calls */
static __thread PyGILState_STATE gilstate;

/* A header name with its length, so per-request lookups compare lengths first. */
#define NAME(s) s, sizeof s - 1

/* environ keys of the headers most requests carry, made once. */
static struct common {
	const char *name;
	size_t len;
	PyObject *key;
} common[] = {
	{NAME("host"), NULL}, {NAME("user-agent"), NULL}, {NAME("accept"), NULL},
	{NAME("accept-encoding"), NULL}, {NAME("accept-language"), NULL}, {NAME("connection"), NULL},
	{NAME("cookie"), NULL}, {NAME("referer"), NULL}, {NAME("cache-control"), NULL},
	{NAME("origin"), NULL}, {NAME("authorization"), NULL}, {NAME("x-forwarded-for"), NULL},
	{NAME("x-forwarded-proto"), NULL}, {NAME("x-request-id"), NULL}, {NAME("if-none-match"), NULL},
	{NAME("if-modified-since"), NULL}, {NAME("upgrade-insecure-requests"), NULL}, {NAME("pragma"), NULL},
};

/* ---------- errors ---------- */

static PyObject *helpers;     /* the globals of the Python below: load(), stdlib_import() */
static PyObject *chdir_entry; /* what add_cwd_to_path() put first on sys.path */

/* traceback.format_exception, imported at the first error rather than at
 * start: with what it imports (re, enum, tokenize, textwrap) it was a fifth of
 * a small app's time to its first response. Imported as it would have been
 * at start, before CHDIR led sys.path (stdlib_import()), so that an app's
 * token.py cannot break it. NULL if it cannot be had. */
static PyObject *formatter(void)
{
	if (format_exception)
		return format_exception;
	PyObject *imp = helpers ? PyDict_GetItemString(helpers, "stdlib_import") : NULL; /* borrowed */
	PyObject *tb = imp ? PyObject_CallFunction(imp, "sO", "traceback", chdir_entry ? chdir_entry : Py_None)
			   : PyImport_ImportModule("traceback");
	PyObject *f = tb ? PyObject_GetAttrString(tb, "format_exception") : NULL;
	Py_XDECREF(tb);
	PyErr_Clear(); /* the traceback is then not shown, and the log says so */
	if (format_exception) /* another app thread's, while the import let go of the GIL */
		Py_XDECREF(f);
	else
		format_exception = f;
	return format_exception;
}

/* Logs the pending Python exception with its traceback, and clears it. */
static void log_exception(enum log_level level, const char *what)
{
	PyObject *t, *v, *tb;
	PyErr_Fetch(&t, &v, &tb);
	PyErr_NormalizeException(&t, &v, &tb);
	if (!t) {
		log_msg(level, "%s", what);
		return;
	}
	if (tb)
		PyException_SetTraceback(v, tb);
	PyObject *format = formatter(); /* borrowed */
	PyObject *lines = format ? PyObject_CallFunctionObjArgs(format, t, v, tb ? tb : Py_None, NULL) : NULL;
	PyObject *empty = PyUnicode_FromStringAndSize(NULL, 0);
	PyObject *text = lines && empty ? PyUnicode_Join(empty, lines) : NULL;
	const char *s = text ? PyUnicode_AsUTF8(text) : NULL;
	size_t n = s ? strlen(s) : 0;
	if (s)
		log_msg(level, "%s\n%.*s", what, (int)(n && s[n - 1] == '\n' ? n - 1 : n), s);
	else
		log_msg(level, "%s (and the traceback could not be formatted)", what);
	PyErr_Clear();
	Py_XDECREF(text);
	Py_XDECREF(empty);
	Py_XDECREF(lines);
	Py_XDECREF(t);
	Py_XDECREF(v);
	Py_XDECREF(tb);
}

/* ---------- wsgi.file_wrapper ---------- */

typedef struct {
	PyObject_HEAD
	PyObject *filelike;
	Py_ssize_t blksize;
} FileWrapper;

static int fw_init(FileWrapper *self, PyObject *args, PyObject *kw)
{
	static char *kwlist[] = {"filelike", "blksize", NULL};
	PyObject *filelike;
	self->blksize = 8192;
	if (!PyArg_ParseTupleAndKeywords(args, kw, "O|n:file_wrapper", kwlist, &filelike, &self->blksize))
		return -1;
	Py_INCREF(filelike);
	Py_XSETREF(self->filelike, filelike);
	return 0;
}

static void fw_dealloc(FileWrapper *self)
{
	Py_XDECREF(self->filelike);
	Py_TYPE(self)->tp_free((PyObject *)self);
}

static bool fw_ready(FileWrapper *self)
{
	if (!self->filelike)
		PyErr_SetString(PyExc_ValueError, "file_wrapper was not given a file");
	return self->filelike != NULL;
}

static PyObject *fw_next(FileWrapper *self)
{
	if (!fw_ready(self))
		return NULL;
	PyObject *data = PyObject_CallMethod(self->filelike, "read", "n", self->blksize);
	if (data && PyBytes_Check(data) && PyBytes_GET_SIZE(data) == 0)
		Py_CLEAR(data); /* StopIteration */
	return data;
}

static PyObject *fw_close(FileWrapper *self, PyObject *unused)
{
	(void)unused;
	if (!fw_ready(self))
		return NULL;
	PyObject *close = PyObject_GetAttrString(self->filelike, "close");
	if (!close) {
		if (!PyErr_ExceptionMatches(PyExc_AttributeError))
			return NULL;
		PyErr_Clear();
		Py_RETURN_NONE;
	}
	PyObject *r = PyObject_CallNoArgs(close);
	Py_DECREF(close);
	return r;
}

static PyMethodDef fw_methods[] = {
	{"close", (PyCFunction)fw_close, METH_NOARGS, "close the file"},
	{NULL, NULL, 0, NULL},
};

static PyTypeObject FileWrapperType = {
	PyVarObject_HEAD_INIT(NULL, 0)
	.tp_name = "wsginit.FileWrapper",
	.tp_basicsize = sizeof(FileWrapper),
	.tp_flags = Py_TPFLAGS_DEFAULT,
	.tp_doc = "wsgi.file_wrapper(filelike, blksize=8192)",
	.tp_new = PyType_GenericNew,
	.tp_init = (initproc)fw_init,
	.tp_dealloc = (destructor)fw_dealloc,
	.tp_iter = PyObject_SelfIter,
	.tp_iternext = (iternextfunc)fw_next,
	.tp_methods = fw_methods,
};

/* ---------- the response ---------- */

/* One app call's view of its response, which lives in the connection. */
struct resp {
	struct conn *c;
	struct response *r;
	bool started; /* start_response() was called */
};

/* The bytes objects queued responses keep alive, each counted once in
 * RESPONSE_BUFFER however many responses share it (a cached page sent to a
 * hundred slow readers is held once): a table by address, linear probing. */
struct held {
	PyObject *obj;
	size_t uses;
};

static pthread_mutex_t held_mu = PTHREAD_MUTEX_INITIALIZER; /* the table and the pending list */
static struct held *held;
static size_t held_cap, held_n;
static struct response_budget *budget;

static size_t held_home(const PyObject *o)
{
	return (size_t)(((uintptr_t)o >> 4) * 0x9e3779b97f4a7c15ull) & (held_cap - 1);
}

/* o's entry, or the free one where it would go. */
static struct held *held_find(const PyObject *o)
{
	size_t i = held_home(o);
	while (held[i].obj && held[i].obj != o)
		i = (i + 1) & (held_cap - 1);
	return &held[i];
}

static void held_grow(void)
{
	struct held *old = held;
	size_t n = held_cap;
	held_cap = n ? n * 2 : 64;
	if (!(held = calloc(held_cap, sizeof *held)))
		abort();
	for (size_t i = 0; i < n; i++)
		if (old[i].obj)
			*held_find(old[i].obj) = old[i];
	free(old);
}

/* Backward-shift deletion: later entries of the probe run move up, so no
 * run is broken by the hole. */
static void held_remove(struct held *h)
{
	size_t hole = (size_t)(h - held), j = hole;
	for (;;) {
		j = (j + 1) & (held_cap - 1);
		if (!held[j].obj)
			break;
		size_t home = held_home(held[j].obj);
		if (((j - home) & (held_cap - 1)) >= ((j - hole) & (held_cap - 1))) {
			held[hole] = held[j];
			hole = j;
		}
	}
	held[hole] = (struct held){NULL, 0};
	held_n--;
}

/* Bytes handed to the response writer are released here: at once where
 * the GIL is held, else queued for wsgi_release() or the next app call. */
static PyObject **pending;
static size_t npending, pending_cap;
static atomic_size_t pending_count;

static void hold(PyObject *b, struct response_budget *bg)
{
	pthread_mutex_lock(&held_mu);
	budget = bg;
	if ((held_n + 1) * 2 > held_cap)
		held_grow();
	struct held *h = held_find(b);
	if (!h->obj) {
		*h = (struct held){b, 0};
		held_n++;
		atomic_fetch_add(&budget->held, (size_t)PyBytes_GET_SIZE(b));
	}
	h->uses++;
	pthread_mutex_unlock(&held_mu);
}

static void release_bytes(void *ctx)
{
	PyObject *b = ctx;
	bool holding = PyGILState_Check();
	pthread_mutex_lock(&held_mu);
	struct held *h = held_find(b);
	if (h->obj && !--h->uses) { /* bytes never change: their size is safe to read without the GIL */
		atomic_fetch_sub(&budget->held, (size_t)PyBytes_GET_SIZE(b));
		held_remove(h);
	}
	if (!holding) {
		if (npending == pending_cap) {
			pending_cap = pending_cap ? pending_cap * 2 : 64;
			if (!(pending = realloc(pending, pending_cap * sizeof *pending)))
				abort();
		}
		pending[npending++] = b;
		atomic_store(&pending_count, npending);
	}
	pthread_mutex_unlock(&held_mu);
	if (holding)
		Py_DECREF(b);
}

/* With the GIL held: drops the references the loop let go of. */
static void release_pending(void)
{
	if (!atomic_load(&pending_count))
		return;
	pthread_mutex_lock(&held_mu);
	PyObject **objs = pending;
	size_t n = npending;
	pending = NULL;
	npending = pending_cap = 0;
	atomic_store(&pending_count, 0);
	pthread_mutex_unlock(&held_mu);
	for (size_t i = 0; i < n; i++)
		Py_DECREF(objs[i]);
	free(objs);
}

/* The bytes of a str that is all latin-1, else NULL with a Python error. */
static const char *latin1(PyObject *s, Py_ssize_t *n, const char *what)
{
	/* PyUnicode_GetLength() readies a legacy string on 3.10 and 3.11 (what the
	 * deprecated PyUnicode_READY() did) and is a plain length from 3.12. */
	if (!PyUnicode_Check(s) || PyUnicode_GetLength(s) < 0 || PyUnicode_KIND(s) != PyUnicode_1BYTE_KIND) {
		if (!PyErr_Occurred())
			PyErr_Format(PyExc_TypeError, "%s must be a latin-1 str, not %R", what, s);
		return NULL;
	}
	*n = PyUnicode_GET_LENGTH(s);
	return (const char *)PyUnicode_1BYTE_DATA(s);
}

static int add_header(struct resp *x, PyObject *item)
{
	static const char *const why[] = {
		[REFUSE_FIELD] = "invalid header %R",
		[REFUSE_HOP_BY_HOP] = "hop-by-hop header %R is the server's to set",
		[REFUSE_LENGTH] = "invalid Content-Length %R",
	};
	Py_ssize_t nn, vn;
	if (!PyTuple_Check(item) || PyTuple_GET_SIZE(item) != 2) {
		PyErr_Format(PyExc_TypeError, "a header must be a (name, value) tuple, not %R", item);
		return -1;
	}
	const char *name = latin1(PyTuple_GET_ITEM(item, 0), &nn, "header name");
	const char *value = name ? latin1(PyTuple_GET_ITEM(item, 1), &vn, "header value") : NULL;
	if (!value)
		return -1;
	enum response_refusal no = response_header(x->r, name, (size_t)nn, value, (size_t)vn);
	if (no != REFUSE_NONE) {
		PyErr_Format(PyExc_ValueError, why[no], item);
		return -1;
	}
	return 0;
}

/* Validates and serializes the status line and the app's headers. */
static int set_head(struct resp *x, PyObject *status, PyObject *headers)
{
	Py_ssize_t n;
	const char *s = latin1(status, &n, "status");
	if (!s)
		return -1;
	if (response_status(x->r, s, (size_t)n) != REFUSE_NONE) {
		PyErr_Format(PyExc_ValueError, "invalid status %R: expected \"NNN Reason\"", status);
		return -1;
	}
	if (!PyList_Check(headers)) {
		PyErr_Format(PyExc_TypeError, "headers must be a list, not %R", headers);
		return -1;
	}
	for (Py_ssize_t i = 0; i < PyList_GET_SIZE(headers); i++)
		if (add_header(x, PyList_GET_ITEM(headers, i)) < 0)
			return -1;
	return 0;
}

/* Writes until the queue is empty, waiting for the client with the GIL
 * released: the app slot waits, as it must past RESPONSE_BUFFER. */
static int flush_direct(struct resp *x)
{
	for (;;) {
		enum response_progress p = response_write(x->r, x->c->io.fd);
		if (p == RESPONSE_DONE || p == RESPONSE_DRAINED)
			return 0;
		int rc = -1;
		if (p == RESPONSE_BLOCKED) {
			Py_BEGIN_ALLOW_THREADS
			rc = conn_wait_writable(x->c->io.fd);
			Py_END_ALLOW_THREADS
		}
		if (rc < 0) {
			log_msg(LOG_DEBUG, "client %s went away mid-response", x->c->remote);
			response_cut(x->r);
			return -1;
		}
	}
}

/* After body was queued: write what the socket takes now; the rest waits
 * for the loop, unless this response streams or the worker holds too much. */
static int push_out(struct resp *x)
{
	if (response_write(x->r, x->c->io.fd) == RESPONSE_FAILED) {
		response_cut(x->r);
		return -1;
	}
	return x->r->stream || response_over_budget(x->r) ? flush_direct(x) : 0;
}

/* Queues one bytes object, kept alive (not copied) until it is written. */
static void add_bytes(struct resp *x, PyObject *b)
{
	hold(b, x->r->budget);
	response_add_mem(x->r, PyBytes_AS_STRING(b), (size_t)PyBytes_GET_SIZE(b), release_bytes, Py_NewRef(b));
}

/* ---------- start_response and write ---------- */

typedef struct {
	PyObject_HEAD
	struct resp *x; /* NULL once the request is over */
} Starter;

static PyObject *write_body(Starter *self, PyObject *data)
{
	if (!self->x || !self->x->started) {
		PyErr_SetString(PyExc_RuntimeError, "write() outside of its response");
		return NULL;
	}
	if (!PyBytes_Check(data)) {
		PyErr_Format(PyExc_TypeError, "write() takes bytes, not %.100s", Py_TYPE(data)->tp_name);
		return NULL;
	}
	if (PyBytes_GET_SIZE(data)) {
		add_bytes(self->x, data);
		if (push_out(self->x) < 0) {
			PyErr_SetString(PyExc_OSError, "client disconnected");
			return NULL;
		}
	}
	Py_RETURN_NONE;
}

static PyMethodDef write_def = {"write", (PyCFunction)write_body, METH_O, "write(bytes)"};

static PyObject *start_response(Starter *self, PyObject *args, PyObject *kw)
{
	static char *kwlist[] = {"status", "headers", "exc_info", NULL};
	PyObject *status, *headers, *exc_info = Py_None;
	struct resp *x = self->x;
	if (!PyArg_ParseTupleAndKeywords(args, kw, "OO|O:start_response", kwlist, &status, &headers, &exc_info))
		return NULL;
	if (!x) {
		PyErr_SetString(PyExc_RuntimeError, "start_response() after the response ended");
		return NULL;
	}
	if (exc_info != Py_None) {
		PyObject *t, *v, *tb;
		if (x->r->head_done && PyArg_ParseTuple(exc_info, "OOO", &t, &v, &tb)) {
			/* Too late to change the status: `raise v.with_traceback(tb)`, per PEP 3333. */
			if (!PyExceptionInstance_Check(v))
				PyErr_Format(PyExc_TypeError, "start_response: exc_info[1] is not an exception: %R", v);
			else if (tb == Py_None || PyException_SetTraceback(v, tb) == 0)
				PyErr_SetObject((PyObject *)Py_TYPE(v), v);
			return NULL;
		}
		if (PyErr_Occurred())
			return NULL;
	} else if (x->started) {
		PyErr_SetString(PyExc_RuntimeError, "start_response() called twice without exc_info");
		return NULL;
	}
	if (set_head(x, status, headers) < 0)
		return NULL;
	x->started = true;
	/* write() holds the Starter, never the other way: no cycle to leak. */
	return PyCFunction_New(&write_def, (PyObject *)self);
}

static PyTypeObject StarterType = {
	PyVarObject_HEAD_INIT(NULL, 0)
	.tp_name = "wsginit.start_response",
	.tp_basicsize = sizeof(Starter),
	.tp_flags = Py_TPFLAGS_DEFAULT,
	.tp_call = (ternaryfunc)start_response,
};

/* ---------- environ ---------- */

/* Sets d[k] = v and drops the reference to v; -1 when v is NULL or it fails. */
static int set_steal(PyObject *d, PyObject *k, PyObject *v)
{
	if (!v)
		return -1;
	int rc = PyDict_SetItem(d, k, v);
	Py_DECREF(v);
	return rc;
}

static PyObject *slice_str(const char *buf, struct http_slice s)
{
	return PyUnicode_DecodeLatin1(buf + s.off, s.len, NULL);
}

/* HTTP_<NAME> for a header name (a token, so ASCII). */
static PyObject *make_key(const char *name, size_t n)
{
	PyObject *key = PyUnicode_New((Py_ssize_t)n + 5, 127);
	if (!key)
		return NULL;
	Py_UCS1 *d = PyUnicode_1BYTE_DATA(key);
	memcpy(d, "HTTP_", 5);
	for (size_t i = 0; i < n; i++)
		d[5 + i] = name[i] == '-' ? '_' : (Py_UCS1)toupper((unsigned char)name[i]);
	return key;
}

static PyObject *header_key(const char *name, size_t n)
{
	for (size_t i = 0; i < sizeof common / sizeof *common; i++)
		if (common[i].len == n && !strncasecmp(common[i].name, name, n))
			return Py_NewRef(common[i].key);
	return make_key(name, n);
}

static int add_headers(PyObject *env, const char *buf, const struct http_request *req)
{
	for (int i = 0; i < req->nheaders; i++) {
		const struct http_header *h = &req->headers[i];
		const char *name = buf + h->name.off;
		PyObject *key;
		if (h->name.len == 12 && !strncasecmp(name, "content-type", 12))
			key = Py_NewRef(k_ctype);
		else if (h->name.len == 14 && !strncasecmp(name, "content-length", 14))
			key = Py_NewRef(k_clen);
		else
			key = header_key(name, h->name.len);
		PyObject *value = key ? slice_str(buf, h->value) : NULL;
		PyObject *old = value ? PyDict_GetItemWithError(env, key) : NULL;
		if (old) /* a repeated field: joined, as RFC 9110 allows */
			Py_SETREF(value, PyUnicode_FromFormat("%U, %U", old, value));
		int rc = value && !PyErr_Occurred() ? PyDict_SetItem(env, key, value) : -1;
		Py_XDECREF(value);
		Py_XDECREF(key);
		if (rc < 0)
			return -1;
	}
	return 0;
}

/* SCRIPT_NAME is ROOT_PATH (in the base dict) or a trusted proxy's prefix;
 * PATH_INFO loses that prefix when it starts with it. */
static int add_path(PyObject *env, const char *buf, const struct http_request *req, const char *root,
		    size_t rootlen)
{
	char small[1024], *path = req->path.len <= sizeof small ? small : malloc(req->path.len);
	if (!path)
		return PyErr_NoMemory(), -1;
	size_t n = http_decode_path(buf + req->path.off, req->path.len, path);
	const char *p = path;
	if (rootlen > 1 && n >= rootlen && !memcmp(p, root, rootlen) && (n == rootlen || p[rootlen] == '/')) {
		p += rootlen;
		n -= rootlen;
	}
	int rc = set_steal(env, k_path, PyUnicode_DecodeLatin1(p, (Py_ssize_t)n, NULL));
	if (path != small)
		free(path);
	return rc;
}

/* SERVER_NAME and SERVER_PORT from Host, as gunicorn does, else the listener. */
static int add_server(PyObject *env, struct conn *c, const char *buf, const struct http_request *req)
{
	const char *name = c->listener->host, *port = c->listener->port;
	size_t nlen = strlen(name), plen = strlen(port);
	if (req->host >= 0) {
		struct http_slice v = req->headers[req->host].value;
		const char *h = buf + v.off, *colon = memrchr(h, ':', v.len);
		if (colon && (h[0] != '[' || colon > (const char *)memchr(h, ']', v.len))) {
			nlen = (size_t)(colon - h);
			port = colon + 1;
			plen = v.len - nlen - 1;
		} else {
			nlen = v.len;
			port = "80";
			plen = 2;
		}
		name = h;
	}
	if (set_steal(env, k_server_name, PyUnicode_DecodeLatin1(name, (Py_ssize_t)nlen, NULL)) < 0)
		return -1;
	return set_steal(env, k_server_port, PyUnicode_DecodeLatin1(port, (Py_ssize_t)plen, NULL));
}

static PyObject *method_str(int m)
{
	if (m < 0 || m >= (int)(sizeof methods / sizeof *methods))
		return PyUnicode_FromString(llhttp_method_name((llhttp_method_t)m));
	if (!methods[m])
		methods[m] = PyUnicode_InternFromString(llhttp_method_name((llhttp_method_t)m));
	return Py_XNewRef(methods[m]);
}

static PyObject *build_environ(struct conn *c, const struct proxy_view *pv, PyObject *input)
{
	const struct http_request *req = &c->ex->parser.req;
	const char *buf = c->buf;
	const char *root = pv->prefix.len ? buf + pv->prefix.off : cfg->root_path;
	size_t rootlen = pv->prefix.len ? pv->prefix.len : strlen(cfg->root_path);
	PyObject *env = PyDict_Copy(base_env);
	if (!env)
		return NULL;
	if (set_steal(env, k_method, method_str(req->method)) < 0 ||
	    PyDict_SetItem(env, k_protocol, proto[req->minor]) < 0 ||
	    set_steal(env, k_query, slice_str(buf, req->query)) < 0 ||
	    add_path(env, buf, req, root, rootlen) < 0 ||
	    (pv->prefix.len && set_steal(env, k_script, slice_str(buf, pv->prefix)) < 0) ||
	    (pv->https && PyDict_SetItem(env, k_scheme, https) < 0) ||
	    set_steal(env, k_remote_addr, PyUnicode_FromString(pv->remote)) < 0 ||
	    set_steal(env, k_remote_port, PyUnicode_FromString(c->remote_port)) < 0 ||
	    add_server(env, c, buf, req) < 0 || add_headers(env, buf, req) < 0 ||
	    (c->ex->trace.request_id_len && set_steal(env, k_request_id, PyUnicode_DecodeLatin1(
			c->ex->trace.request_id, (Py_ssize_t)c->ex->trace.request_id_len, NULL)) < 0) ||
	    PyDict_SetItem(env, k_input, input) < 0)
		goto fail;
	/* A chunked body was read whole: tell apps that go by CONTENT_LENGTH. */
	if (req->chunked && set_steal(env, k_clen, PyUnicode_FromFormat("%llu",
					      (unsigned long long)req->body.len)) < 0)
		goto fail;
	return env;
fail:
	Py_DECREF(env);
	return NULL;
}

/* ---------- running the app ---------- */

static void app_error(struct resp *x, const char *what)
{
	char line[160];
	snprintf(line, sizeof line, "Error handling request %s", what);
	log_exception(LOG_ERROR, line);
	if (!response_error(x->r, 500))
		response_cut(x->r); /* bytes are out: the client must not take a partial body for whole */
}

static bool all_bytes(PyObject *seq, uint64_t *total)
{
	*total = 0;
	for (Py_ssize_t i = 0; i < PySequence_Fast_GET_SIZE(seq); i++) {
		PyObject *item = PySequence_Fast_GET_ITEM(seq, i);
		if (!PyBytes_Check(item))
			return false;
		*total += (uint64_t)PyBytes_GET_SIZE(item);
	}
	return true;
}

/* A list or tuple of bytes: the length is known, and every item is kept
 * by reference until it is written. */
static bool send_sequence(struct resp *x, PyObject *seq)
{
	uint64_t total;
	if (!x->started || !all_bytes(seq, &total))
		return false;
	response_head_end(x->r, total || !x->r->head_req, total); /* see wsgi_handle() on HEAD */
	for (Py_ssize_t i = 0; i < PySequence_Fast_GET_SIZE(seq); i++)
		add_bytes(x, PySequence_Fast_GET_ITEM(seq, i));
	return true;
}

/* wsgi.file_wrapper over a regular file: its descriptor, duplicated, goes
 * to the writer, which sends it from the current offset with sendfile. */
static bool send_file(struct resp *x, FileWrapper *fw)
{
	int fd = x->started && fw->filelike ? PyObject_AsFileDescriptor(fw->filelike) : -1;
	struct stat st;
	off_t off = fd >= 0 ? lseek(fd, 0, SEEK_CUR) : -1;
	if (off < 0 || fstat(fd, &st) < 0 || !S_ISREG(st.st_mode) || off > st.st_size) {
		PyErr_Clear();
		return false; /* not a plain file: iterate it instead */
	}
	int dup = fcntl(fd, F_DUPFD_CLOEXEC, 0);
	if (dup < 0)
		return false;
	uint64_t n = (uint64_t)(st.st_size - off);
	response_head_end(x->r, true, n);
	response_add_file(x->r, dup, off, n);
	return true;
}

static void iterate(struct resp *x, PyObject *result)
{
	PyObject *it = PyObject_GetIter(result), *item;
	if (!it)
		return app_error(x, "(the app did not return an iterable)");
	while ((item = PyIter_Next(it))) {
		int rc = 0;
		if (!PyBytes_Check(item)) {
			PyErr_Format(PyExc_TypeError, "the app yielded %.100s, not bytes", Py_TYPE(item)->tp_name);
			rc = -1;
		} else if (!x->started) {
			PyErr_SetString(PyExc_RuntimeError, "the app yielded a body before start_response()");
			rc = -1;
		} else if (PyBytes_GET_SIZE(item)) {
			add_bytes(x, item);
			rc = push_out(x); /* < 0: the client left; stop iterating, close() still runs */
		}
		Py_DECREF(item);
		if (rc < 0)
			break;
	}
	Py_DECREF(it);
	if (PyErr_Occurred())
		return app_error(x, "(while iterating the response)");
	if (!x->r->cut && !x->started) {
		PyErr_SetString(PyExc_RuntimeError, "the app returned without calling start_response()");
		return app_error(x, "");
	}
}

static void respond(struct resp *x, PyObject *result)
{
	if (PyList_CheckExact(result) || PyTuple_CheckExact(result)) {
		if (send_sequence(x, result))
			return;
	} else if (Py_IS_TYPE(result, &FileWrapperType) && send_file(x, (FileWrapper *)result)) {
		return;
	}
	iterate(x, result);
}

static void close_result(PyObject *result)
{
	if (PyList_CheckExact(result) || PyTuple_CheckExact(result))
		return; /* the common case has no close(): no AttributeError to make and drop */
	PyObject *close = PyObject_GetAttr(result, k_close);
	if (!close) {
		if (PyErr_ExceptionMatches(PyExc_AttributeError))
			PyErr_Clear();
		else
			log_exception(LOG_ERROR, "Error getting the response's close()");
		return;
	}
	PyObject *rc = PyObject_CallNoArgs(close);
	Py_DECREF(close);
	if (!rc)
		log_exception(LOG_ERROR, "Error closing the response");
	Py_XDECREF(rc);
}

void wsgi_hold(void)
{
	if (!gil)
		PyEval_RestoreThread(tstate);
	gil = true;
}

void wsgi_handle(struct conn *c)
{
	const struct http_request *req = &c->ex->parser.req;
	struct resp x = {.c = c, .r = &c->ex->resp};
	wsgi_hold();
	release_pending();
	PyObject *input = input_new(req->body.data, (Py_ssize_t)req->body.len);
	PyObject *env = input ? build_environ(c, &c->ex->pv, input) : NULL;
	Starter *sr = env ? PyObject_New(Starter, &StarterType) : NULL;
	PyObject *result = NULL;
	if (sr) {
		sr->x = &x;
		result = PyObject_CallFunctionObjArgs(app, env, (PyObject *)sr, NULL);
	}
	if (result) {
		respond(&x, result);
		close_result(result);
	} else {
		app_error(&x, "(calling the app)");
	}
	/* A HEAD answer whose head is still open had no body: that says nothing
	 * of GET's length (Werkzeug sends none for HEAD), and no Content-Length
	 * beats a wrong one (RFC 9110 §8.6). */
	if (x.r->head_req)
		response_head_end(x.r, false, 0);
	/* Produced: what the socket takes now goes, the loop writes the rest. */
	response_end(x.r);
	push_out(&x);
	if (sr)
		sr->x = NULL;
	if (input)
		input_detach(input);
	Py_XDECREF(result);
	Py_XDECREF((PyObject *)sr);
	Py_XDECREF(env);
	Py_XDECREF(input);
}

void wsgi_release(void)
{
	if (!gil && !atomic_load(&pending_count))
		return;
	wsgi_hold();
	release_pending();
	tstate = PyEval_SaveThread();
	gil = false;
}

/* ---------- start-up ---------- */

/* load(): APP's object; a plain name (the common case) is taken as it is,
 * only a factory call, or what is neither, is parsed (ast's import costs
 * more than a small app's). stdlib_import(): a module imported with sys.path's
 * entry `entry` last; sys.path is rebound to a copy, not changed in place (an
 * import under way in another thread keeps its list), and no lock is taken
 * (holding the import lock through an import can deadlock with a thread
 * importing meanwhile): an import another thread starts meanwhile still
 * finds the app's modules, behind the stdlib's. */
static const char helpers_src[] =
	"import importlib, keyword\n"
	"def stdlib_import(name, entry):\n"
	"    import sys\n"
	"    path = sys.path\n"
	"    rest = [p for p in path if p is not entry]\n"
	"    try:\n"
	"        sys.path = rest + [entry] if len(rest) < len(path) else rest\n"
	"        return importlib.import_module(name)\n"
	"    finally:\n"
	"        sys.path = path\n"
	"def load(spec):\n"
	"    module, _, expr = spec.partition(':')\n"
	"    mod = importlib.import_module(module)\n"
	"    name = expr or 'application'\n"
	"    call = None\n"
	"    if not (name.isascii() and name.isidentifier() and not keyword.iskeyword(name)):\n"
	"        import ast\n"
	"        node = ast.parse(name, mode='eval').body\n"
	"        call = node if isinstance(node, ast.Call) else None\n"
	"        node = call.func if call else node\n"
	"        if not isinstance(node, ast.Name):\n"
	"            raise ValueError('APP: expected module:name or module:factory(literal args), got %r' % spec)\n"
	"        name = node.id\n"
	"    if not hasattr(mod, name):\n"
	"        raise AttributeError('APP: module %r has no attribute %r' % (module, name))\n"
	"    obj = getattr(mod, name)\n"
	"    if call:\n"
	"        args = [ast.literal_eval(a) for a in call.args]\n"
	"        kwargs = {k.arg: ast.literal_eval(k.value) for k in call.keywords}\n"
	"        obj = obj(*args, **kwargs)\n"
	"    if not callable(obj):\n"
	"        raise TypeError('APP: %r is not callable' % spec)\n"
	"    return obj\n";

static int make_helpers(void)
{
	PyObject *builtins = PyImport_ImportModule("builtins"), *rc = NULL;
	helpers = PyDict_New();
	if (helpers && builtins && PyDict_SetItemString(helpers, "__builtins__", builtins) == 0)
		rc = PyRun_String(helpers_src, Py_file_input, helpers, helpers);
	Py_XDECREF(builtins);
	Py_XDECREF(rc);
	if (!rc)
		Py_CLEAR(helpers);
	return rc ? 0 : -1;
}

static PyObject *load_app(const char *spec)
{
	PyObject *load = PyDict_GetItemString(helpers, "load"); /* borrowed */
	return load ? PyObject_CallFunction(load, "s", spec) : NULL;
}

static int intern_all(void)
{
	struct { PyObject **key; const char *s; } keys[] = {
		{&k_method, "REQUEST_METHOD"}, {&k_script, "SCRIPT_NAME"}, {&k_path, "PATH_INFO"},
		{&k_query, "QUERY_STRING"}, {&k_protocol, "SERVER_PROTOCOL"}, {&k_ctype, "CONTENT_TYPE"},
		{&k_clen, "CONTENT_LENGTH"}, {&k_remote_addr, "REMOTE_ADDR"}, {&k_remote_port, "REMOTE_PORT"},
		{&k_server_name, "SERVER_NAME"}, {&k_server_port, "SERVER_PORT"}, {&k_input, "wsgi.input"},
		{&proto[0], "HTTP/1.0"}, {&proto[1], "HTTP/1.1"}, {&https, "https"},
		{&k_scheme, "wsgi.url_scheme"}, {&k_close, "close"}, {&k_request_id, "HTTP_X_REQUEST_ID"},
	};
	for (size_t i = 0; i < sizeof keys / sizeof *keys; i++)
		if (!(*keys[i].key = PyUnicode_InternFromString(keys[i].s)))
			return -1;
	for (size_t i = 0; i < sizeof common / sizeof *common; i++)
		if (!(common[i].key = make_key(common[i].name, common[i].len)) ||
		    (PyUnicode_InternInPlace(&common[i].key), 0))
			return -1;
	return 0;
}

static int make_base_env(void)
{
	PyObject *errors = PySys_GetObject("stderr"); /* borrowed */
	base_env = PyDict_New();
	if (!base_env || !errors)
		return -1;
	struct { const char *k; PyObject *v; } items[] = {
		{"wsgi.version", Py_BuildValue("(ii)", 1, 0)},
		{"wsgi.url_scheme", PyUnicode_FromString("http")},
		{"wsgi.errors", Py_NewRef(errors)},
		{"wsgi.multithread", PyBool_FromLong(cfg->threads > 1)},
		{"wsgi.multiprocess", PyBool_FromLong(cfg->workers > 1)},
		{"wsgi.run_once", Py_NewRef(Py_False)},
		{"wsgi.input_terminated", Py_NewRef(Py_True)},
		{"wsgi.file_wrapper", Py_NewRef((PyObject *)&FileWrapperType)},
		{"SCRIPT_NAME", PyUnicode_DecodeLatin1(cfg->root_path, (Py_ssize_t)strlen(cfg->root_path), NULL)},
		{"SERVER_SOFTWARE", PyUnicode_FromString("wsginit/" WSGINIT_VERSION)},
	};
	int rc = 0;
	for (size_t i = 0; i < sizeof items / sizeof *items; i++) {
		if (rc == 0 && (!items[i].v || PyDict_SetItemString(base_env, items[i].k, items[i].v) < 0))
			rc = -1; /* and no more calls with an exception pending */
		Py_XDECREF(items[i].v);
	}
	return rc;
}

/* The interpreter built against (the Makefile's PY: Debian's /usr/bin/python3
 * unless another was chosen): its prefix finds the stdlib, and sys.executable
 * is a real Python for subprocess and multiprocessing where one is installed. */
#if !defined WSGINIT_PYTHON || !defined WSGINIT_PYLINK
#error "WSGINIT_PYTHON, WSGINIT_PYLINK: the interpreter built against and how (the Makefile's PY, PYLINK)"
#endif
#define PYTHON WSGINIT_PYTHON

int wsgi_describe(char *buf, size_t size)
{
	const char *v = Py_GetVersion(); /* "3.11.2 (main, ...) [GCC ...]", callable before start */
	return snprintf(buf, size, "Python %.*s (%s, %s libpython)", (int)strcspn(v, " "), v, PYTHON,
			WSGINIT_PYLINK);
}

/* The interpreter of the server and of --python. A command line (argv[0] the
 * interpreter) is parsed as python3 parses its own and gets python3's signal
 * handlers; the server's signals are the master's and the worker loop's. */
static int start_python(bool command, int argc, char **argv)
{
	PyConfig pc;
	PyConfig_InitPythonConfig(&pc);
	pc.install_signal_handlers = command;
	pc.parse_argv = command;
	PyStatus st = PyConfig_SetBytesString(&pc, &pc.program_name, PYTHON);
	if (!PyStatus_Exception(st))
		st = PyConfig_SetBytesArgv(&pc, argc, argv);
	if (!PyStatus_Exception(st))
		st = Py_InitializeFromConfig(&pc);
	PyConfig_Clear(&pc);
	if (PyStatus_IsExit(st)) /* -h, -V or a bad option: python3's output and status */
		Py_ExitStatusException(st);
	if (PyStatus_Exception(st)) {
		log_msg(LOG_CRITICAL, "cannot start Python: %s", st.err_msg ? st.err_msg : "?");
		return -1;
	}
	return 0;
}

/* The working directory (CHDIR, already entered) goes first on sys.path, where
 * the app's modules are found. */
static int add_cwd_to_path(void)
{
	char cwd[4096];
	PyObject *path = PySys_GetObject("path"); /* borrowed */
	if (!getcwd(cwd, sizeof cwd) || !path)
		return -1;
	Py_XSETREF(chdir_entry, PyUnicode_DecodeFSDefault(cwd));
	return chdir_entry ? PyList_Insert(path, 0, chdir_entry) : -1;
}

int wsgi_init(const struct config *config)
{
	cfg = config;
	if (start_python(false, 1, (char *[]){"wsginit", NULL}) < 0)
		return -1;
	started = true;
	if (make_helpers() < 0 || add_cwd_to_path() < 0 || input_init() < 0 ||
	    PyType_Ready(&FileWrapperType) < 0 || PyType_Ready(&StarterType) < 0 ||
	    intern_all() < 0 || make_base_env() < 0) {
		log_exception(LOG_CRITICAL, "cannot prepare the WSGI layer");
		return -1;
	}
	/* A worker killed for TIMEOUT gets SIGABRT: every thread's traceback is printed. */
	PyObject *fh = PyImport_ImportModule("faulthandler");
	PyObject *on = fh ? PyObject_CallMethod(fh, "enable", "Oi", PySys_GetObject("stderr"), 1) : NULL;
	Py_XDECREF(on);
	Py_XDECREF(fh);
	if (!on)
		log_exception(LOG_WARNING, "faulthandler is off: a timed-out worker will not show where it hung");
	app = load_app(cfg->app);
	if (!app) {
		char what[300];
		snprintf(what, sizeof what, "cannot load APP=%s", cfg->app);
		log_exception(LOG_CRITICAL, what);
		return -1;
	}
	return 0;
}

int wsgi_python(int argc, char **argv)
{
	argv[0] = PYTHON;
	if (start_python(true, argc, argv) < 0)
		return 1;
	/* Py_RunMain() puts python3's own first entry (the script's directory,
	 * or the working directory for -m, -c and the REPL) before this one. */
	if (add_cwd_to_path() < 0) {
		log_msg(LOG_CRITICAL, "cannot put the working directory on sys.path");
		return 1;
	}
	return Py_RunMain();
}

void wsgi_thread_begin(void)
{
	if (!PyGILState_Check())
		gilstate = PyGILState_Ensure();
	tstate = PyEval_SaveThread();
	gil = false;
}

void wsgi_thread_end(void)
{
	wsgi_hold();
	PyGILState_Release(gilstate);
}

void wsgi_before_fork(void)
{
	if (started)
		PyOS_BeforeFork();
}

void wsgi_after_fork_parent(void)
{
	if (started)
		PyOS_AfterFork_Parent();
}

void wsgi_after_fork_child(void)
{
	if (started)
		PyOS_AfterFork_Child();
}

void wsgi_exit(void)
{
	wsgi_hold();
	release_pending();
	if (Py_FinalizeEx() < 0)
		log_msg(LOG_WARNING, "Python could not flush its buffers at exit");
}
