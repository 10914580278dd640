/* SPDX-License-Identifier: BSD-3-Clause OR GPL-2.0-or-later */
/*
 * The keys of the configuration and what each accepts: one table, one
 * check per value (cpk_config_apply), which keeps a setting in struct
 * cpk_config (copies, for the helper and the command) and always in struct
 * cpk_config_fast (no allocation, for the PAM module's fast path).  The
 * file and the arguments are split into settings by config_read.c.
 *
 * Unknown keys and bad values are errors naming file:line and the key,
 * because a silently ignored typo in a security module's configuration is
 * a hole nobody sees.
 */
#include "config.h"
#include "config_int.h"
#include "util.h"

#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

enum key_type { K_STRING, K_PATH, K_TEMPLATE, K_BOOL, K_UINT, K_ENUM };
/* Where struct cpk_config_fast keeps a key, if it does. */
enum fast_slot { F_NONE, F_STATE_DIR, F_FAIL, F_DEBUG, F_FLEET, F_ETCD_ENDPOINTS,
		 F_ETCD_CERT_FILE, F_ETCD_KEY_FILE, F_HOST_NAME };

struct key {
	const char *name;
	enum key_type type;
	size_t offset;
	unsigned int min, max;			/* K_UINT */
	bool (*valid)(const char *);		/* K_STRING extra check */
	const char *want;			/* what valid() wants, for errors */
	const char *const *choices;		/* K_ENUM, index = value */
	int (*check)(const char *, char *, size_t);	/* K_STRING, K_PATH: why not */
	enum fast_slot slot;
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
	  "an AWS region such as eu-west-1", NULL, NULL, F_NONE },
	{ "user_pool_id", K_STRING, OFF(user_pool_id), 0, 0, cpk_user_pool_id_valid,
	  "a user pool id such as eu-west-1_AbC123", NULL, NULL, F_NONE },
	{ "client_id", K_STRING, OFF(client_id), 0, 0, cpk_client_id_valid,
	  "1 to 128 letters, digits, '_' or '+'", NULL, NULL, F_NONE },
	{ "expect_username", K_STRING, OFF(expect_username), 0, 0, cpk_template_valid,
	  "'none', or a template using only %u, %U, %h and %%", NULL, NULL, F_NONE },
	{ "client_secret_file", K_PATH, OFF(client_secret_file), 0, 0, NULL, NULL, NULL, NULL, F_NONE },
	{ "endpoint_url", K_STRING, OFF(endpoint_url), 0, 0, cpk_endpoint_syntax_valid,
	  "https://host[:port]/, or http:// to a loopback address", NULL, NULL, F_NONE },
	{ "use_fips", K_BOOL, OFF(use_fips), 0, 0, NULL, NULL, NULL, NULL, F_NONE },
	{ "ca_file", K_PATH, OFF(ca_file), 0, 0, NULL, NULL, NULL, NULL, F_NONE },
	{ "proxy", K_STRING, OFF(proxy), 0, 0, cpk_proxy_valid,
	  "http://host:port or https://host:port", NULL, NULL, F_NONE },
	{ "token_cache", K_TEMPLATE, OFF(token_cache), 0, 0, NULL, NULL, NULL, NULL, F_NONE },
	{ "state_dir", K_PATH, OFF(state_dir), 0, 0, NULL, NULL, NULL, NULL, F_STATE_DIR },
	{ "timeout", K_UINT, OFF(timeout), 1, 300, NULL, NULL, NULL, NULL, F_NONE },
	{ "connect_timeout", K_UINT, OFF(connect_timeout), 1, 60, NULL, NULL, NULL, NULL, F_NONE },
	{ "max_attempts", K_UINT, OFF(max_attempts), 1, 10, NULL, NULL, NULL, NULL, F_NONE },
	{ "refresh", K_BOOL, OFF(refresh), 0, 0, NULL, NULL, NULL, NULL, F_NONE },
	{ "refresh_api", K_ENUM, OFF(refresh_api), 0, 0, NULL, NULL, refresh_api_choices, NULL, F_NONE },
	{ "fail", K_ENUM, OFF(fail), 0, 0, NULL, NULL, fail_choices, NULL, F_FAIL },
	{ "notify", K_BOOL, OFF(notify), 0, 0, NULL, NULL, NULL, NULL, F_NONE },
	{ "debug", K_BOOL, OFF(debug), 0, 0, NULL, NULL, NULL, NULL, F_DEBUG },
	{ "dry_run", K_BOOL, OFF(dry_run), 0, 0, NULL, NULL, NULL, NULL, F_NONE },
	{ "fleet", K_ENUM, OFF(fleet), 0, 0, NULL, NULL, fleet_choices, NULL, F_FLEET },
	{ "etcd_endpoints", K_STRING, OFF(etcd_endpoints), 0, 0, NULL, NULL, NULL,
	  cpk_endpoints_check, F_ETCD_ENDPOINTS },
	{ "etcd_ca_file", K_PATH, OFF(etcd_ca_file), 0, 0, NULL, NULL, NULL, NULL, F_NONE },
	{ "etcd_cert_file", K_PATH, OFF(etcd_cert_file), 0, 0, NULL, NULL, NULL, NULL,
	  F_ETCD_CERT_FILE },
	{ "etcd_key_file", K_PATH, OFF(etcd_key_file), 0, 0, NULL, NULL, NULL,
	  cpk_key_file_check, F_ETCD_KEY_FILE },
	{ "etcd_prefix", K_STRING, OFF(etcd_prefix), 0, 0, cpk_etcd_prefix_valid,
	  "a key prefix that starts and ends with '/', at most 128 printable characters", NULL, NULL, F_NONE },
	{ "host_name", K_STRING, OFF(host_name), 0, 0, cpk_host_name_valid,
	  "a host name of at most 64 letters, digits, '-', '.' or '_'", NULL, NULL, F_HOST_NAME },
	{ "etcd_timeout", K_UINT, OFF(etcd_timeout), 1, 60, NULL, NULL, NULL, NULL, F_NONE },
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

/* gethostname() into name, when it is a name host_name would accept; else -1. */
static int
host_name_usable(char *name, size_t len)
{
	if (gethostname(name, len) < 0)
		return -1;
	name[len - 1] = '\0';
	return cpk_host_name_valid(name) ? 0 : -1;
}

/* The default host_name; none (NULL) when the system's is unusable. */
static int
default_host_name(struct cpk_config *cfg)
{
	char name[256];

	if (host_name_usable(name, sizeof(name)) < 0)
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

	/* the first byte first: the fast path looks a key up on every login */
	for (i = 0; i < CPK_ARRAY_SIZE(keys); i++)
		if (keys[i].name[0] == name[0] && strcmp(keys[i].name, name) == 0)
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

/* A value that passed its key's rules, as the key keeps it. */
union parsed {
	bool b;
	unsigned int u;
	int e;
};

static void
origin_text(const struct cpk_conf_origin *o, char *buf, size_t len)
{
	if (o->file != NULL)
		snprintf(buf, len, "%s:%u", o->file, o->line);
	else if (o->argument != NULL)
		snprintf(buf, len, "argument '%s'", o->argument);
	else
		snprintf(buf, len, "%s", o->text != NULL ? o->text : "?");
}

int
cpk_conf_refuse(char *err, size_t errlen, const struct cpk_conf_origin *o, const char *fmt, ...)
{
	char where[PATH_MAX + 32];
	va_list ap;
	int n;

	origin_text(o, where, sizeof(where));
	n = snprintf(err, errlen, "%s: ", where);
	if (n >= 0 && (size_t)n < errlen) {
		va_start(ap, fmt);
		vsnprintf(err + n, errlen - (size_t)n, fmt, ap);
		va_end(ap);
	}
	return -1;
}

/* The rules of k for value; nothing is kept yet. */
static int
check_value(const struct key *k, const char *value, union parsed *out,
	    const struct cpk_conf_origin *o, char *err, size_t errlen)
{
	char choices[128], why[CPK_ERR_LEN];

	if (value == NULL && k->type != K_BOOL)
		return cpk_conf_refuse(err, errlen, o, "%s: missing value", k->name);
	switch (k->type) {
	case K_BOOL:
		out->b = true;
		if (value != NULL && parse_bool(value, &out->b) < 0)
			return cpk_conf_refuse(err, errlen, o, "%s: '%s' is not yes or no",
					       k->name, value);
		return 0;
	case K_UINT:
		if (parse_uint(value, k->min, k->max, &out->u) < 0)
			return cpk_conf_refuse(err, errlen, o, "%s: '%s' is not a whole number in %u..%u",
					       k->name, value, k->min, k->max);
		return 0;
	case K_ENUM:
		if (parse_enum(value, k->choices, &out->e) < 0) {
			enum_choices(k->choices, choices, sizeof(choices));
			return cpk_conf_refuse(err, errlen, o, "%s: '%s' is not one of %s",
					       k->name, value, choices);
		}
		return 0;
	case K_PATH:
		if (value[0] != '/' || strlen(value) >= PATH_MAX)
			return cpk_conf_refuse(err, errlen, o, "%s: '%s' is not an absolute path",
					       k->name, value);
		break;
	case K_TEMPLATE:
		if (!cpk_template_valid(value) || (value[0] != '/' && strncmp(value, "%h", 2) != 0) ||
		    strlen(value) >= PATH_MAX)
			return cpk_conf_refuse(err, errlen, o, "%s: '%s' is not an absolute path "
					       "template (%%h, %%u, %%U, %%%%)", k->name, value);
		break;
	case K_STRING:
		if (k->valid != NULL && !k->valid(value))
			return cpk_conf_refuse(err, errlen, o, "%s: '%s' is not %s", k->name, value,
					       k->want);
		break;
	}
	if (k->check != NULL && k->check(value, why, sizeof(why)) < 0)
		return cpk_conf_refuse(err, errlen, o, "%s: %s", k->name, why);
	return 0;
}

static int
keep_full(struct cpk_config *cfg, const struct key *k, const char *value, const union parsed *v)
{
	switch (k->type) {
	case K_BOOL:
		*FIELD(cfg, k, bool) = v->b;
		return 0;
	case K_UINT:
		*FIELD(cfg, k, unsigned int) = v->u;
		return 0;
	case K_ENUM:
		*FIELD(cfg, k, int) = v->e;
		return 0;
	case K_STRING: case K_PATH: case K_TEMPLATE:
		break;
	}
	return set_string(FIELD(cfg, k, char *), value);
}

/* value passed check_value: a K_PATH is shorter than PATH_MAX. */
static void
keep_fast(struct cpk_config_fast *fast, const struct key *k, const char *value,
	  const union parsed *v)
{
	switch (k->slot) {
	case F_NONE:
		break;
	case F_STATE_DIR:
		memcpy(fast->state_dir, value, strlen(value) + 1);
		break;
	case F_FAIL:
		fast->fail = (enum cpk_fail_mode)v->e;
		break;
	case F_DEBUG:
		fast->debug = v->b;
		break;
	case F_FLEET:
		fast->keys.fleet = (enum cpk_fleet)v->e;
		break;
	case F_ETCD_ENDPOINTS:
		fast->keys.etcd_endpoints = true;
		break;
	case F_ETCD_CERT_FILE:
		fast->keys.etcd_cert_file = true;
		break;
	case F_ETCD_KEY_FILE:
		fast->keys.etcd_key_file = true;
		break;
	case F_HOST_NAME:
		fast->keys.host_name = true;
		break;
	}
}

int
cpk_config_apply(struct cpk_config *cfg, struct cpk_config_fast *fast, const char *name,
		 const char *value, const struct cpk_conf_origin *o, char *err, size_t errlen)
{
	const struct key *k = find_key(name);
	union parsed v;

	if (k == NULL)
		return cpk_conf_refuse(err, errlen, o, "unknown key '%s'", name);
	if (check_value(k, value, &v, o, err, errlen) < 0)
		return -1;
	keep_fast(fast, k, value, &v);
	if (cfg != NULL && keep_full(cfg, k, value, &v) < 0)
		return cpk_conf_refuse(err, errlen, o, "%s: out of memory", name);
	return 0;
}

int
cpk_config_set(struct cpk_config *cfg, const char *name, const char *value,
	       const char *origin, char *err, size_t errlen)
{
	struct cpk_conf_origin o = { .text = origin };
	struct cpk_config_fast scratch;

	return cpk_config_apply(cfg, &scratch, name, value, &o, err, errlen);
}

void
cpk_config_keys_of(const struct cpk_config *cfg, struct cpk_config_keys *set)
{
	set->fleet = cfg->fleet;
	set->etcd_endpoints = cfg->etcd_endpoints != NULL;
	set->etcd_cert_file = cfg->etcd_cert_file != NULL;
	set->etcd_key_file = cfg->etcd_key_file != NULL;
	set->host_name = cfg->host_name != NULL;
}

/*
 * The fleet needs its endpoints and this host's name: host_name, else
 * gethostname(), asked only then (cpk_config_init asks it up front).
 */
int
cpk_config_check_keys(const struct cpk_config_keys *set, const char *file,
		      char *err, size_t errlen)
{
	char name[256];

	if (set->etcd_cert_file != set->etcd_key_file) {
		snprintf(err, errlen, "%s: etcd_cert_file and etcd_key_file go together", file);
		return -1;
	}
	if (set->fleet != CPK_FLEET_ETCD)
		return 0;
	if (!set->etcd_endpoints) {
		snprintf(err, errlen, "%s: fleet = etcd: etcd_endpoints is not set", file);
		return -1;
	}
	if (!set->host_name && host_name_usable(name, sizeof(name)) < 0) {
		snprintf(err, errlen, "%s: fleet = etcd: this host's name is not usable, set host_name",
			 file);
		return -1;
	}
	return 0;
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
