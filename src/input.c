/* wsgi.input: read(), read(n), readline(), readline(n), readlines(), iteration. */
#include "input.h"

typedef struct {
	PyObject_HEAD
	const char *data;
	Py_ssize_t len, pos;
} Input;

/* The optional size argument: missing, None or negative mean "no limit". */
static int size_arg(PyObject *const *args, Py_ssize_t nargs, Py_ssize_t *size)
{
	*size = -1;
	if (nargs > 1) {
		PyErr_SetString(PyExc_TypeError, "expected at most one argument");
		return -1;
	}
	if (nargs == 0 || args[0] == Py_None)
		return 0;
	*size = PyNumber_AsSsize_t(args[0], PyExc_OverflowError);
	return *size == -1 && PyErr_Occurred() ? -1 : 0;
}

static PyObject *take(Input *self, Py_ssize_t n)
{
	PyObject *b = PyBytes_FromStringAndSize(self->data + self->pos, n);
	if (b)
		self->pos += n;
	return b;
}

static PyObject *input_read(Input *self, PyObject *const *args, Py_ssize_t nargs)
{
	Py_ssize_t size, left = self->len - self->pos;
	if (size_arg(args, nargs, &size) < 0)
		return NULL;
	return take(self, size < 0 || size > left ? left : size);
}

static Py_ssize_t line_length(Input *self, Py_ssize_t size)
{
	Py_ssize_t left = self->len - self->pos;
	if (size >= 0 && size < left)
		left = size;
	const char *nl = memchr(self->data + self->pos, '\n', (size_t)left);
	return nl ? nl - (self->data + self->pos) + 1 : left;
}

static PyObject *input_readline(Input *self, PyObject *const *args, Py_ssize_t nargs)
{
	Py_ssize_t size;
	if (size_arg(args, nargs, &size) < 0)
		return NULL;
	return take(self, line_length(self, size));
}

static PyObject *input_readlines(Input *self, PyObject *const *args, Py_ssize_t nargs)
{
	Py_ssize_t hint, total = 0;
	if (size_arg(args, nargs, &hint) < 0)
		return NULL;
	PyObject *lines = PyList_New(0);
	while (lines && self->pos < self->len && (hint <= 0 || total < hint)) {
		Py_ssize_t n = line_length(self, -1);
		PyObject *line = take(self, n);
		if (!line || PyList_Append(lines, line) < 0)
			Py_CLEAR(lines);
		Py_XDECREF(line);
		total += n;
	}
	return lines;
}

static PyObject *input_next(Input *self)
{
	if (self->pos >= self->len)
		return NULL; /* StopIteration */
	return take(self, line_length(self, -1));
}

static PyMethodDef methods[] = {
	{"read", (PyCFunction)(void (*)(void))input_read, METH_FASTCALL, "read([size]) -> bytes"},
	{"readline", (PyCFunction)(void (*)(void))input_readline, METH_FASTCALL, "readline([size]) -> bytes"},
	{"readlines", (PyCFunction)(void (*)(void))input_readlines, METH_FASTCALL, "readlines([hint]) -> list"},
	{NULL, NULL, 0, NULL},
};

static PyTypeObject InputType = {
	PyVarObject_HEAD_INIT(NULL, 0)
	.tp_name = "wsginit.Input",
	.tp_basicsize = sizeof(Input),
	.tp_flags = Py_TPFLAGS_DEFAULT,
	.tp_doc = "wsgi.input: the request body",
	.tp_iter = PyObject_SelfIter,
	.tp_iternext = (iternextfunc)input_next,
	.tp_methods = methods,
};

int input_init(void)
{
	return PyType_Ready(&InputType);
}

PyObject *input_new(const char *data, Py_ssize_t len)
{
	Input *self = PyObject_New(Input, &InputType);
	if (!self)
		return NULL;
	self->data = data;
	self->len = len;
	self->pos = 0;
	return (PyObject *)self;
}

void input_detach(PyObject *input)
{
	Input *self = (Input *)input;
	self->data = "";
	self->len = self->pos = 0;
}
