/* SPDX-License-Identifier: BSD-3-Clause OR GPL-2.0-or-later */
/*
 * Configuration file and module arguments -> struct cpk_config.
 *
 * faillock.conf style: "key = value", full-line '#' comments, bare boolean
 * keys ("debug").  Unknown keys and bad values are errors naming
 * file:line and the key, because a silently ignored typo in a security
 * module's configuration is a hole nobody sees.
 */
#include "config.h"
#include "config_int.h"
#include "util.h"

#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define CONF_MAX_SIZE	(64 * 1024)

enum key_type { K_STRING, K_PATH, K_TEMPLATE, K_BOOL, K_UINT, K_ENUM };

struct key {
	const char *name;
	enum key_type type;
	size_t offset;
	unsigned int min, max;			/* K_UINT */
	bool (*valid)(const char *);		/* K_STRING extra check */
	const char *want;			/* what valid() wants, for errors */
	const char *const *choices;		/* K_ENUM, index = value */
	int (*check)(const char *, char *, size_t);	/* K_STRING, K_PATH: why not */
};

/* K_ENUM fields are written and read as int through their offset. */
_Static_assert(sizeof(enum cpk_fail_mode) == sizeof(int), "enum size");
_Static_assert(sizeof(enum cpk_refresh_api) == sizeof(int), "enum size");
_Static_assert(sizeof(enum cpk_fleet) == sizeof(int), "enum size");

static const char *const fail_choices[] = { "open", "closed", NULL };
static const char *const refresh_api_choices[] = { "get_tokens", "initiate_auth", NULL };
static const char *const fleet_choices[] = { "none", "etcd", NULL };


#define OFF(m) offsetof(struct cpk_config, m)
static const struct key keys[] = {
	{ "region", K_STRING, OFF(region), 0, 0, cpk_region_valid,
	  "an AWS region such as eu-west-1", NULL, NULL },
	{ "user_pool_id", K_STRING, OFF(user_pool_id), 0, 0, cpk_user_pool_id_valid,
	  "a user pool id such as eu-west-1_AbC123", NULL, NULL },
	{ "client_id", K_STRING, OFF(client_id), 0, 0, cpk_client_id_valid,
	  "1 to 128 letters, digits, '_' or '+'", NULL, NULL },
	{ "expect_username", K_STRING, OFF(expect_username), 0, 0, cpk_template_valid,
	  "'none', or a template using only %u, %U, %h and %%", NULL, NULL },
	{ "client_secret_file", K_PATH, OFF(client_secret_file), 0, 0, NULL, NULL, NULL, NULL },
	{ "endpoint_url", K_STRING, OFF(endpoint_url), 0, 0, cpk_endpoint_syntax_valid,
	  "https://host[:port]/, or http:// to a loopback address", NULL, NULL },
	{ "use_fips", K_BOOL, OFF(use_fips), 0, 0, NULL, NULL, NULL, NULL },
	{ "ca_file", K_PATH, OFF(ca_file), 0, 0, NULL, NULL, NULL, NULL },
	{ "proxy", K_STRING, OFF(proxy), 0, 0, cpk_proxy_valid,
	  "http://host:port or https://host:port", NULL, NULL },
	{ "token_cache", K_TEMPLATE, OFF(token_cache), 0, 0, NULL, NULL, NULL, NULL },
	{ "state_dir", K_PATH, OFF(state_dir), 0, 0, NULL, NULL, NULL, NULL },
	{ "timeout", K_UINT, OFF(timeout), 1, 300, NULL, NULL, NULL, NULL },
	{ "connect_timeout", K_UINT, OFF(connect_timeout), 1, 60, NULL, NULL, NULL, NULL },
	{ "max_attempts", K_UINT, OFF(max_attempts), 1, 10, NULL, NULL, NULL, NULL },
	{ "refresh", K_BOOL, OFF(refresh), 0, 0, NULL, NULL, NULL, NULL },
	{ "refresh_api", K_ENUM, OFF(refresh_api), 0, 0, NULL, NULL, refresh_api_choices, NULL },
	{ "fail", K_ENUM, OFF(fail), 0, 0, NULL, NULL, fail_choices, NULL },
	{ "notify", K_BOOL, OFF(notify), 0, 0, NULL, NULL, NULL, NULL },
	{ "debug", K_BOOL, OFF(debug), 0, 0, NULL, NULL, NULL, NULL },
	{ "dry_run", K_BOOL, OFF(dry_run), 0, 0, NULL, NULL, NULL, NULL },
	{ "fleet", K_ENUM, OFF(fleet), 0, 0, NULL, NULL, fleet_choices, NULL },
	{ "etcd_endpoints", K_STRING, OFF(etcd_endpoints), 0, 0, NULL, NULL, NULL,
	  cpk_endpoints_check },
	{ "etcd_ca_file", K_PATH, OFF(etcd_ca_file), 0, 0, NULL, NULL, NULL, NULL },
	{ "etcd_cert_file", K_PATH, OFF(etcd_cert_file), 0, 0, NULL, NULL, NULL, NULL },
	{ "etcd_key_file", K_PATH, OFF(etcd_key_file), 0, 0, NULL, NULL, NULL,
	  cpk_key_file_check },
	{ "etcd_prefix", K_STRING, OFF(etcd_prefix), 0, 0, cpk_etcd_prefix_valid,
	  "a key prefix that starts and ends with '/', at most 128 printable characters", NULL, NULL },
	{ "host_name", K_STRING, OFF(host_name), 0, 0, cpk_host_name_valid,
	  "a host name of at most 64 letters, digits, '-', '.' or '_'", NULL, NULL },
	{ "etcd_timeout", K_UINT, OFF(etcd_timeout), 1, 60, NULL, NULL, NULL, NULL },
};
#undef OFF

#define FIELD(cfg, k, type) ((type *)(void *)((char *)(cfg) + (k)->offset))
#define CFIELD(cfg, k, type) ((type const *)(const void *)((const char *)(cfg) + (k)->offset))

static int
set_string(char **field, const char *value)
{
	char *copy = strdup(value);

	if (copy == NULL)
		return -1;
	free(*field);
	*field = copy;
	return 0;
}

/* gethostname(), when it is a name host_name would accept; else NULL. */
static int
default_host_name(struct cpk_config *cfg)
{
	char name[256];

	if (gethostname(name, sizeof(name)) < 0)
		return 0;
	name[sizeof(name) - 1] = '\0';
	if (!cpk_host_name_valid(name))
		return 0;
	return set_string(&cfg->host_name, name);
}

int
cpk_config_init(struct cpk_config *cfg)
{
	memset(cfg, 0, sizeof(*cfg));
	cfg->timeout = 10;
	cfg->connect_timeout = 3;
	cfg->max_attempts = 3;
	cfg->refresh = true;
	cfg->refresh_api = CPK_REFRESH_GET_TOKENS;
	cfg->fail = CPK_FAIL_OPEN;
	cfg->notify = true;
	cfg->fleet = CPK_FLEET_NONE;
	cfg->etcd_timeout = 5;
	if (default_host_name(cfg) < 0 ||
	    set_string(&cfg->etcd_prefix, CPK_DEFAULT_ETCD_PREFIX) < 0 ||
	    set_string(&cfg->conf_path, CPK_DEFAULT_CONF) < 0 ||
	    set_string(&cfg->token_cache, CPK_DEFAULT_TOKEN_CACHE) < 0 ||
	    set_string(&cfg->expect_username, CPK_DEFAULT_EXPECT_USERNAME) < 0 ||
	    set_string(&cfg->state_dir, CPK_DEFAULT_STATE_DIR) < 0) {
		cpk_config_free(cfg);
		return -1;
	}
	return 0;
}

void
cpk_config_free(struct cpk_config *cfg)
{
	size_t i;

	free(cfg->conf_path);
	for (i = 0; i < CPK_ARRAY_SIZE(keys); i++)
		if (keys[i].type == K_STRING || keys[i].type == K_PATH || keys[i].type == K_TEMPLATE)
			free(*FIELD(cfg, &keys[i], char *));
	memset(cfg, 0, sizeof(*cfg));
}

const char *
cpk_config_expect_username(const struct cpk_config *cfg)
{
	/* "none" is the deliberate opt-out; it reaches the helper as is */
	if (cfg->expect_username == NULL ||
	    strcmp(cfg->expect_username, CPK_EXPECT_USERNAME_NONE) == 0)
		return NULL;
	return cfg->expect_username;
}

static const struct key *
find_key(const char *name)
{
	size_t i;

	for (i = 0; i < CPK_ARRAY_SIZE(keys); i++)
		if (strcmp(keys[i].name, name) == 0)
			return &keys[i];
	return NULL;
}

static int
parse_bool(const char *v, bool *out)
{
	if (strcmp(v, "yes") == 0 || strcmp(v, "true") == 0 || strcmp(v, "on") == 0 ||
	    strcmp(v, "1") == 0)
		*out = true;
	else if (strcmp(v, "no") == 0 || strcmp(v, "false") == 0 || strcmp(v, "off") == 0 ||
		 strcmp(v, "0") == 0)
		*out = false;
	else
		return -1;
	return 0;
}

static int
parse_uint(const char *v, unsigned int min, unsigned int max, unsigned int *out)
{
	unsigned long n;
	char *end;

	if (!isdigit((unsigned char)v[0]))
		return -1;
	errno = 0;
	n = strtoul(v, &end, 10);
	if (errno != 0 || *end != '\0' || n < min || n > max)
		return -1;
	*out = (unsigned int)n;
	return 0;
}

static int
parse_enum(const char *v, const char *const *choices, int *out)
{
	int i;

	for (i = 0; choices[i] != NULL; i++) {
		if (strcmp(v, choices[i]) == 0) {
			*out = i;
			return 0;
		}
	}
	return -1;
}

static void
enum_choices(const char *const *choices, char *buf, size_t len)
{
	size_t pos = 0;
	int i;

	buf[0] = '\0';
	for (i = 0; choices[i] != NULL && pos < len; i++)
		pos += (size_t)snprintf(buf + pos, len - pos, "%s%s", i ? ", " : "", choices[i]);
}

int
cpk_config_set(struct cpk_config *cfg, const char *name, const char *value,
	       const char *origin, char *err, size_t errlen)
{
	const struct key *k = find_key(name);
	char choices[128], why[CPK_ERR_LEN];
	int e;

	if (k == NULL) {
		snprintf(err, errlen, "%s: unknown key '%s'", origin, name);
		return -1;
	}
	if (value == NULL && k->type != K_BOOL) {
		snprintf(err, errlen, "%s: %s: missing value", origin, name);
		return -1;
	}
	switch (k->type) {
	case K_BOOL:
		if (value == NULL) {
			*FIELD(cfg, k, bool) = true;
			return 0;
		}
		if (parse_bool(value, FIELD(cfg, k, bool)) < 0) {
			snprintf(err, errlen, "%s: %s: '%s' is not yes or no", origin, name, value);
			return -1;
		}
		return 0;
	case K_UINT:
		if (parse_uint(value, k->min, k->max, FIELD(cfg, k, unsigned int)) < 0) {
			snprintf(err, errlen, "%s: %s: '%s' is not a whole number in %u..%u",
				 origin, name, value, k->min, k->max);
			return -1;
		}
		return 0;
	case K_ENUM:
		if (parse_enum(value, k->choices, &e) < 0) {
			enum_choices(k->choices, choices, sizeof(choices));
			snprintf(err, errlen, "%s: %s: '%s' is not one of %s", origin, name, value, choices);
			return -1;
		}
		*FIELD(cfg, k, int) = e;
		return 0;
	case K_PATH:
		if (value[0] != '/' || strlen(value) >= PATH_MAX) {
			snprintf(err, errlen, "%s: %s: '%s' is not an absolute path", origin, name, value);
			return -1;
		}
		break;
	case K_TEMPLATE:
		if (!cpk_template_valid(value) || (value[0] != '/' && strncmp(value, "%h", 2) != 0) ||
		    strlen(value) >= PATH_MAX) {
			snprintf(err, errlen, "%s: %s: '%s' is not an absolute path template "
				 "(%%h, %%u, %%U, %%%%)", origin, name, value);
			return -1;
		}
		break;
	case K_STRING:
		if (k->valid != NULL && !k->valid(value)) {
			snprintf(err, errlen, "%s: %s: '%s' is not %s", origin, name, value, k->want);
			return -1;
		}
		break;
	}
	if (k->check != NULL && k->check(value, why, sizeof(why)) < 0) {
		snprintf(err, errlen, "%s: %s: %s", origin, name, why);
		return -1;
	}
	if (set_string(FIELD(cfg, k, char *), value) < 0) {
		snprintf(err, errlen, "%s: %s: out of memory", origin, name);
		return -1;
	}
	return 0;
}

static char *
trim(char *s)
{
	char *end;

	while (isspace((unsigned char)*s))
		s++;
	end = s + strlen(s);
	while (end > s && isspace((unsigned char)end[-1]))
		*--end = '\0';
	return s;
}

/* One line of the file; lineno and path only for messages. */
static int
parse_line(struct cpk_config *cfg, char *line, const char *path, unsigned int lineno,
	   char *err, size_t errlen)
{
	char origin[PATH_MAX + 32];
	char *eq, *key, *value = NULL;

	key = trim(line);
	if (*key == '\0' || *key == '#')
		return 0;
	snprintf(origin, sizeof(origin), "%s:%u", path, lineno);
	eq = strchr(key, '=');
	if (eq != NULL) {
		*eq = '\0';
		value = trim(eq + 1);
		key = trim(key);
		if (*value == '\0') {
			snprintf(err, errlen, "%s: %s: missing value", origin, key);
			return -1;
		}
	}
	return cpk_config_set(cfg, key, value, origin, err, errlen);
}

/*
 * The file is root's: refuse one that another user could have written,
 * since it decides where tokens are sent.
 */
static int
check_conf_file(int fd, const char *path, char *err, size_t errlen)
{
	struct stat st;

	if (fstat(fd, &st) < 0) {
		snprintf(err, errlen, "%s: %s", path, strerror(errno));
		return -1;
	}
	if (!S_ISREG(st.st_mode)) {
		snprintf(err, errlen, "%s: not a regular file", path);
		return -1;
	}
	if ((st.st_uid != 0 && st.st_uid != geteuid()) || (st.st_mode & (S_IWGRP | S_IWOTH))) {
		snprintf(err, errlen, "%s: must be owned by root and not writable by group or others", path);
		return -1;
	}
	if (st.st_size > CONF_MAX_SIZE) {
		snprintf(err, errlen, "%s: larger than %d bytes", path, CONF_MAX_SIZE);
		return -1;
	}
	return 0;
}

/* Blank or comment: what parse_line() would skip, without copying it. */
static bool
skippable(const char *p, const char *end)
{
	while (p < end && isspace((unsigned char)*p))
		p++;
	return p == end || *p == '#';
}

/* Returns 0, 1 when the file is absent (ENOENT), -1 on error. */
static int
read_file(struct cpk_config *cfg, const char *path, char *err, size_t errlen)
{
	char line[CPK_CONF_MAX_LINE + 1], *buf = NULL;
	const char *p, *end, *nl;
	unsigned int lineno = 0;
	size_t len, n;
	int fd, rc = -1;

	fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);
	if (fd < 0) {
		if (errno == ENOENT)
			return 1;
		snprintf(err, errlen, "%s: cannot open: %s", path, strerror(errno));
		return -1;
	}
	if (check_conf_file(fd, path, err, errlen) < 0)
		goto out;
	/*
	 * One read(2), not stdio: the PAM module parses the file on every
	 * session open, and fgets() line by line cost several times what the
	 * fast path is otherwise worth (tests/bench/RESULTS.md).
	 */
	if (cpk_read_capped(fd, CONF_MAX_SIZE, &buf, &len) < 0) {
		if (errno == EFBIG)
			snprintf(err, errlen, "%s: larger than %d bytes", path, CONF_MAX_SIZE);
		else
			snprintf(err, errlen, "%s: read error: %s", path, strerror(errno));
		goto out;
	}
	for (p = buf, end = buf + len; p < end; p = nl + 1) {
		if ((nl = memchr(p, '\n', (size_t)(end - p))) == NULL)
			nl = end;
		n = (size_t)(nl - p);
		lineno++;
		if (n > CPK_CONF_MAX_LINE) {
			snprintf(err, errlen, "%s:%u: line longer than %d bytes", path, lineno,
				 CPK_CONF_MAX_LINE);
			goto out;
		}
		if (memchr(p, '\0', n) != NULL) {
			snprintf(err, errlen, "%s:%u: NUL byte in line", path, lineno);
			goto out;
		}
		if (skippable(p, nl))
			continue;
		memcpy(line, p, n);
		line[n] = '\0';
		if (parse_line(cfg, line, path, lineno, err, errlen) < 0)
			goto out;
	}
	rc = 0;
out:
	free(buf);
	close(fd);
	return rc;
}

/* Split "key=value" (or a bare "key") and set it. */
static int
apply_argument(struct cpk_config *cfg, const char *arg, char *err, size_t errlen)
{
	char origin[CPK_CONF_MAX_LINE + 32], key[64];
	const char *eq = strchr(arg, '=');
	size_t n = eq != NULL ? (size_t)(eq - arg) : strlen(arg);

	snprintf(origin, sizeof(origin), "argument '%s'", arg);
	if (n == 0 || n >= sizeof(key)) {
		snprintf(err, errlen, "%s: unknown key", origin);
		return -1;
	}
	memcpy(key, arg, n);
	key[n] = '\0';
	if (eq != NULL && eq[1] == '\0') {
		snprintf(err, errlen, "%s: %s: missing value", origin, key);
		return -1;
	}
	return cpk_config_set(cfg, key, eq != NULL ? eq + 1 : NULL, origin, err, errlen);
}

/* What one key alone cannot say: the fleet needs its endpoints and name. */
static int
check_fleet(const struct cpk_config *cfg, const char *file, char *err, size_t errlen)
{
	if ((cfg->etcd_cert_file == NULL) != (cfg->etcd_key_file == NULL)) {
		snprintf(err, errlen, "%s: etcd_cert_file and etcd_key_file go together", file);
		return -1;
	}
	if (cfg->fleet != CPK_FLEET_ETCD)
		return 0;
	if (cfg->etcd_endpoints == NULL) {
		snprintf(err, errlen, "%s: fleet = etcd: etcd_endpoints is not set", file);
		return -1;
	}
	if (cfg->host_name == NULL) {
		snprintf(err, errlen, "%s: fleet = etcd: this host's name is not usable, set host_name",
			 file);
		return -1;
	}
	return 0;
}

int
cpk_config_load(struct cpk_config *cfg, const char *path, int argc, const char **argv,
		char *err, size_t errlen)
{
	const char *file = path;
	bool explicit = path != NULL;
	int i, rc;

	for (i = 0; i < argc; i++) {
		if (strncmp(argv[i], "conf=", 5) == 0) {
			file = argv[i] + 5;
			explicit = true;
		}
	}
	if (file == NULL)
		file = CPK_DEFAULT_CONF;
	if (file[0] != '/') {
		snprintf(err, errlen, "conf: '%s' is not an absolute path", file);
		return -1;
	}
	if (set_string(&cfg->conf_path, file) < 0) {
		snprintf(err, errlen, "out of memory");
		return -1;
	}
	rc = read_file(cfg, file, err, errlen);
	if (rc < 0)
		return -1;
	if (rc == 1 && explicit) {
		snprintf(err, errlen, "%s: cannot open: %s", file, strerror(ENOENT));
		return -1;
	}
	for (i = 0; i < argc; i++) {
		if (strncmp(argv[i], "conf=", 5) == 0)
			continue;
		if (apply_argument(cfg, argv[i], err, errlen) < 0)
			return -1;
	}
	return check_fleet(cfg, file, err, errlen);
}

static int
push(char **argv, size_t *n, const char *key, const char *value)
{
	size_t len = strlen(key) + strlen(value) + 2;

	if ((argv[*n] = malloc(len)) == NULL)
		return -1;
	snprintf(argv[*n], len, "%s=%s", key, value);
	(*n)++;
	return 0;
}

static const char *
enum_name(const struct key *k, int e)
{
	int i;

	for (i = 0; k->choices[i] != NULL; i++)
		if (i == e)
			return k->choices[i];
	return NULL;
}

char **
cpk_config_to_argv(const struct cpk_config *cfg)
{
	char **argv, num[16];
	size_t i, n = 0;
	int rc = 0;

	argv = calloc(CPK_ARRAY_SIZE(keys) + 2, sizeof(*argv));
	if (argv == NULL)
		return NULL;
	rc |= push(argv, &n, "conf", cfg->conf_path);
	for (i = 0; i < CPK_ARRAY_SIZE(keys) && rc == 0; i++) {
		const struct key *k = &keys[i];
		const char *v = NULL;

		switch (k->type) {
		case K_STRING: case K_PATH: case K_TEMPLATE:
			v = *CFIELD(cfg, k, char *);
			break;
		case K_BOOL:
			v = *CFIELD(cfg, k, bool) ? "yes" : "no";
			break;
		case K_UINT:
			snprintf(num, sizeof(num), "%u", *CFIELD(cfg, k, unsigned int));
			v = num;
			break;
		case K_ENUM:
			v = enum_name(k, *CFIELD(cfg, k, int));
			break;
		}
		if (v != NULL)
			rc |= push(argv, &n, k->name, v);
	}
	if (rc != 0) {
		cpk_argv_free(argv);
		return NULL;
	}
	return argv;
}

void
cpk_argv_free(char **argv)
{
	size_t i;

	if (argv == NULL)
		return;
	for (i = 0; argv[i] != NULL; i++)
		free(argv[i]);
	free(argv);
}
