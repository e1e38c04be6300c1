/*
 * progress.h: a doctest listener, included by the test programs' mains
 * after doctest's implementation.  When PIDSITTER_TEST_NOW names a file,
 * the name of each test case is written there as it starts, so that a run
 * killed for taking too long (test/run-tests.sh, the Makefile's valgrind
 * target) can say which test case it was in: doctest's own report comes
 * only at the end, and its buffered output is lost with the process.
 */
#ifndef PIDSITTER_TEST_PROGRESS_H
#define PIDSITTER_TEST_PROGRESS_H

#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <doctest/doctest.h>

struct progress_listener : public doctest::IReporter {
	const char *path;

	explicit progress_listener(const doctest::ContextOptions &) : path(getenv("PIDSITTER_TEST_NOW")) {}

	void test_case_start(const doctest::TestCaseData &tc) override
	{
		if (path == NULL || *path == '\0')
			return;
		int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
		if (fd < 0)
			return;
		size_t n = strlen(tc.m_name);
		(void)!write(fd, tc.m_name, n);
		(void)!write(fd, "\n", 1);
		close(fd);
	}

	void report_query(const doctest::QueryData &) override {}
	void test_run_start() override {}
	void test_run_end(const doctest::TestRunStats &) override {}
	void test_case_reenter(const doctest::TestCaseData &) override {}
	void test_case_end(const doctest::CurrentTestCaseStats &) override {}
	void test_case_exception(const doctest::TestCaseException &) override {}
	void subcase_start(const doctest::SubcaseSignature &) override {}
	void subcase_end() override {}
	void log_assert(const doctest::AssertData &) override {}
	void log_message(const doctest::MessageData &) override {}
	void test_case_skipped(const doctest::TestCaseData &) override {}
};

REGISTER_LISTENER("progress", 1, progress_listener);

#endif
