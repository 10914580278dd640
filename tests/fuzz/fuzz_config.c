/* SPDX-License-Identifier: BSD-3-Clause OR GPL-2.0-or-later */
/*
 * The configuration parser, fed arbitrary files.  The file goes through a
 * memfd so that the real path (open, fstat, line reader) is exercised.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "config.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/*
 * What parsed must render (cpk_config_to_argv, the helper's argv) and parse
 * again, key by key as the helper does, into settings that render the same:
 * a value the parser accepts but the renderer mangles would reach the helper
 * as a different, or a refused, configuration.
 */
static void
reparse(const struct cpk_config *cfg)
{
	struct cpk_config again;
	char **argv, **argv2, err[CPK_ERR_LEN];
	size_t i;

	if ((argv = cpk_config_to_argv(cfg)) == NULL)
		abort();
	if (cpk_config_init(&again) < 0)
		abort();
	/* argv[0] is "conf=PATH", the file itself: not a key */
	for (i = 1; argv[i] != NULL; i++) {
		char *eq = strchr(argv[i], '=');

		if (eq == NULL)
			abort();
		*eq = '\0';
		if (cpk_config_set(&again, argv[i], eq + 1, "argv", err, sizeof(err)) < 0)
			abort();
		*eq = '=';
	}
	if ((argv2 = cpk_config_to_argv(&again)) == NULL)
		abort();
	for (i = 1; argv[i] != NULL || argv2[i] != NULL; i++)
		if (argv[i] == NULL || argv2[i] == NULL || strcmp(argv[i], argv2[i]) != 0)
			abort();
	cpk_argv_free(argv2);
	cpk_argv_free(argv);
	cpk_config_free(&again);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct cpk_config cfg;
	char path[64], err[CPK_ERR_LEN];
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
	if (cpk_config_load(&cfg, path, 0, NULL, err, sizeof(err)) == 0)
		reparse(&cfg);
	cpk_config_free(&cfg);
	close(fd);
	return 0;
}
