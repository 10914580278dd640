/*
 * The configuration parser, fed arbitrary files.  The file goes through a
 * memfd so that the real path (open, fstat, line reader) is exercised.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "config.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct cpk_config cfg;
	char path[64], err[CPK_ERR_LEN];
	char **argv;
	int fd;

	fd = memfd_create("cpk-fuzz-conf", MFD_CLOEXEC);
	/* a memfd is created 0777: the loader rightly refuses a file others
	 * can write, and would never reach the parser */
	if (fd < 0 || fchmod(fd, 0600) < 0)
		abort();
	if (size > 0 && write(fd, data, size) != (ssize_t)size)
		abort();
	snprintf(path, sizeof(path), "/proc/self/fd/%d", fd);
	if (cpk_config_init(&cfg) < 0)
		abort();
	if (cpk_config_load(&cfg, path, 0, NULL, err, sizeof(err)) == 0) {
		/* what parsed must render and parse again */
		argv = cpk_config_to_argv(&cfg);
		if (argv == NULL)
			abort();
		cpk_argv_free(argv);
	}
	cpk_config_free(&cfg);
	close(fd);
	return 0;
}
