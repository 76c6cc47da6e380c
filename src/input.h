/* wsgi.input: a C file-like object over the request body, which is whole in
 * memory (or a mapped memfd) before the app runs. */
#pragma once
#include <Python.h>

/* Readies the type; -1 with a Python error set. */
int input_init(void);

/* A new wsgi.input reading data[0..len); the memory must outlive it or be
 * detached first. */
PyObject *input_new(const char *data, Py_ssize_t len);

/* Makes the object read as empty: the body's memory is about to go. */
void input_detach(PyObject *input);
