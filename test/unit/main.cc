/* The unit tests' main: doctest's, without its signal handlers (they would
 * catch the signals some tests send: DOCTEST_CONFIG_NO_POSIX_SIGNALS, set
 * in the Makefile). */
#define DOCTEST_CONFIG_IMPLEMENT_WITH_MAIN
#include <doctest/doctest.h>

#include "progress.h"
