/*
 * report_test.cc: the status file's atomic write, on a real directory.
 */
#include <doctest/doctest.h>

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <string>

#include "report.h"

/* The names in dir, but "." and "..", sorted, one space after each. */
static std::string
names_in(const std::string &dir)
{
	std::string out;
	struct dirent **list;
	int n = scandir(dir.c_str(), &list, NULL, alphasort);

	REQUIRE(n >= 0);
	for (int i = 0; i < n; i++) {
		if (strcmp(list[i]->d_name, ".") != 0 && strcmp(list[i]->d_name, "..") != 0)
			out += std::string(list[i]->d_name) + " ";
		free(list[i]);
	}
	free(list);
	return out;
}

static std::string
slurp(const std::string &path)
{
	std::string out;
	char buf[256];
	FILE *f = fopen(path.c_str(), "r");

	if (f == NULL)
		return "";
	size_t n;
	while ((n = fread(buf, 1, sizeof buf, f)) > 0)
		out.append(buf, n);
	fclose(f);
	return out;
}

TEST_CASE("report: the status file is replaced whole, with the umask's mode, and no temporary stays")
{
	char tmpl[] = "/tmp/pidsitter-report-XXXXXX";
	const char *dir = mkdtemp(tmpl);
	REQUIRE(dir != NULL);
	std::string d = dir, path = d + "/status";
	struct stat st;

	mode_t old = umask(022);
	CHECK(report_write_atomic(path.c_str(), "one\n") == 0);
	CHECK(slurp(path) == "one\n");
	REQUIRE(stat(path.c_str(), &st) == 0);
	CHECK((st.st_mode & 07777) == 0644);
	ino_t first = st.st_ino;

	umask(077);
	CHECK(report_write_atomic(path.c_str(), "two\n") == 0);
	CHECK(slurp(path) == "two\n");
	REQUIRE(stat(path.c_str(), &st) == 0);
	CHECK((st.st_mode & 07777) == 0600);
	CHECK(st.st_ino != first);  /* a new file, renamed over the old one */
	umask(old);
	CHECK(names_in(d) == "status ");

	/* A relative path: the temporary is made in the same directory. */
	char cwd[4096];
	REQUIRE(getcwd(cwd, sizeof cwd) != NULL);
	REQUIRE(chdir(dir) == 0);
	CHECK(report_write_atomic("status", "three\n") == 0);
	REQUIRE(chdir(cwd) == 0);
	CHECK(slurp(path) == "three\n");
	CHECK(names_in(d) == "status ");

	/* What cannot be replaced is an error, and the temporary goes. */
	std::string sub = d + "/sub";
	REQUIRE(mkdir(sub.c_str(), 0755) == 0);
	CHECK(report_write_atomic(sub.c_str(), "x\n") == -EISDIR);
	CHECK(names_in(d) == "status sub ");
	CHECK(report_write_atomic((d + "/none/status").c_str(), "x\n") == -ENOENT);
	CHECK(names_in(d) == "status sub ");

	REQUIRE(rmdir(sub.c_str()) == 0);
	REQUIRE(unlink(path.c_str()) == 0);
	REQUIRE(rmdir(dir) == 0);
}
