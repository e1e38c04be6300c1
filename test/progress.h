/*
 * progress.h: a doctest listener, included by the test programs' mains
 * after doctest's implementation.  When PIDSITTER_TEST_NOW names a file,
 * the name of each test case is written there as it starts, so that a run
 * killed for taking too long (test/bounded.sh) can say which test case it
 * was in: doctest names a test case only when one of its checks fails.
 * What doctest wrote so far is flushed then, and as each subcase starts:
 * its output, a file, is fully buffered (setvbuf(3)), and a killed run
 * loses its buffer, the reports of the earlier failures with it.
 */
#ifndef PIDSITTER_TEST_PROGRESS_H
#define PIDSITTER_TEST_PROGRESS_H

#include <fcntl.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <ostream>
#include <string>

#include <doctest/doctest.h>

struct progress_listener : public doctest::IReporter {
	std::string path;
	std::ostream *out;

	explicit progress_listener(const doctest::ContextOptions &co) : out(co.cout)
	{
		const char *p = getenv("PIDSITTER_TEST_NOW");
		char cwd[PATH_MAX];

		if (p == NULL || *p == '\0')
			return;
		path = p;
		/* Made absolute before any test runs: some chdir() and back,
		 * and one that fails in between stays elsewhere. */
		if (path[0] != '/' && getcwd(cwd, sizeof cwd) != NULL)
			path = std::string(cwd) + "/" + path;
	}

	void test_case_start(const doctest::TestCaseData &tc) override
	{
		if (out != NULL)
			out->flush();
		if (path.empty())
			return;
		int fd = open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
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
	/* Each subcase runs the test case again from its start. */
	void test_case_reenter(const doctest::TestCaseData &) override
	{
		if (out != NULL)
			out->flush();
	}
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
