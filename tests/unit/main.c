/*
 * main.c - run every unit test suite.  CK_VERBOSITY=verbose lists every
 * test; CK_FORK=no runs them in one process (for valgrind and gdb).
 */
#include <stdlib.h>

#include "suites.h"

int main(void)
{
	SRunner *sr = srunner_create(catch_suite());
	int failed;

	temp_dir_create();
	srunner_add_suite(sr, prices_suite());
	srunner_add_suite(sr, books_suite());
	srunner_add_suite(sr, options_suite());
	srunner_add_suite(sr, market_suite());
	srunner_add_suite(sr, crew_suite());
	srunner_add_suite(sr, alloc_suite());
	srunner_run_all(sr, CK_ENV);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	temp_dir_remove();
	return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
