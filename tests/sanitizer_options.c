/* Linked into the ASan+UBSan build only (make test-asan): the options every
 * process of it uses, whatever environment a test gives it. Reports go to
 * files that make test-asan checks. Leak checking is off: CPython, linked
 * into the same binary, keeps its allocations to the end, and its frames
 * cannot be told from ours; the fuzzers check the parser and the
 * configuration for leaks instead. */
const char *__asan_default_options(void);
const char *__ubsan_default_options(void);

const char *__asan_default_options(void)
{
	return "detect_leaks=0:handle_segv=0:log_path=" REPORT; /* the app may crash on purpose */
}

const char *__ubsan_default_options(void)
{
	return "print_stacktrace=1:log_path=" REPORT;
}
