/* The unit tests' main: doctest's, without its signal handlers (they would
 * catch the signals some tests send; REFERENCE.md §5). */
#define DOCTEST_CONFIG_IMPLEMENT_WITH_MAIN
#include <doctest/doctest.h>
