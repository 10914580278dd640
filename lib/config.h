/* SPDX-License-Identifier: BSD-3-Clause OR GPL-2.0-or-later */
/*
 * Configuration: /etc/security/pam_cognito_passkey.conf and module
 * arguments of the same names.  One parser for the module, the helper and
 * the command, so that they can never disagree on what a key means.
 *
 * No libcurl or json-c here: the PAM module links this.
 */
#ifndef CPK_CONFIG_H
#define CPK_CONFIG_H

#include <limits.h>
#include <stdbool.h>
#include <stddef.h>

#ifndef CPK_SYSCONFDIR
#define CPK_SYSCONFDIR "/etc"
#endif
#define CPK_DEFAULT_CONF	CPK_SYSCONFDIR "/security/pam_cognito_passkey.conf"
#define CPK_DEFAULT_STATE_DIR	"/var/lib/pam_cognito_passkey"
#define CPK_DEFAULT_TOKEN_CACHE	"%h/.cache/cognito/tokens.json"
#define CPK_DEFAULT_EXPECT_USERNAME	"%u"
#define CPK_EXPECT_USERNAME_NONE	"none"	/* the deliberate opt-out */
#define CPK_CONF_MAX_LINE	1024
#define CPK_ERR_LEN		512

enum cpk_fail_mode { CPK_FAIL_OPEN, CPK_FAIL_CLOSED };
enum cpk_refresh_api { CPK_REFRESH_GET_TOKENS, CPK_REFRESH_INITIATE_AUTH };
enum cpk_fleet { CPK_FLEET_NONE, CPK_FLEET_ETCD };

#define CPK_DEFAULT_ETCD_PREFIX	"/pam_cognito_passkey/"
#define CPK_URL_MAX		256
#define CPK_ETCD_MAX_ENDPOINTS	8
#define CPK_HOST_NAME_MAX	64

/* etcd_endpoints, split and each checked as endpoint_url is. */
struct cpk_endpoints {
	size_t n;
	char url[CPK_ETCD_MAX_ENDPOINTS][CPK_URL_MAX];
};

struct cpk_config {
	char *conf_path;	/* the file that was read (or would be) */
	char *region;		/* NULL: from the token's iss */
	char *user_pool_id;
	char *client_id;	/* NULL: the token's client_id claim */
	char *expect_username;	/* template, default "%u"; "none": not checked */
	char *client_secret_file;
	char *endpoint_url;
	bool use_fips;
	char *ca_file;
	char *proxy;
	char *token_cache;	/* template */
	char *state_dir;
	unsigned int timeout;		/* seconds, 1..300 */
	unsigned int connect_timeout;	/* seconds, 1..60 */
	unsigned int max_attempts;	/* 1..10 */
	bool refresh;
	enum cpk_refresh_api refresh_api;
	enum cpk_fail_mode fail;
	bool notify;
	bool debug;
	bool dry_run;		/* module argument / command option only */
	enum cpk_fleet fleet;	/* none: today's product, etcd never contacted */
	char *etcd_endpoints;	/* comma-separated URLs */
	char *etcd_ca_file;
	char *etcd_cert_file;
	char *etcd_key_file;	/* root's, 0600 or stricter */
	char *etcd_prefix;	/* "/.../" */
	char *host_name;	/* default gethostname(); NULL if that is unusable */
	unsigned int etcd_timeout;	/* seconds, 1..60, per etcd call */
};

/* What the checks across keys (fleet = etcd and its keys) need to know. */
struct cpk_config_keys {
	enum cpk_fleet fleet;
	bool etcd_endpoints, etcd_cert_file, etcd_key_file, host_name;
};

/*
 * What the PAM module needs before it knows that something is pending:
 * filled by the same parser as struct cpk_config, which still checks every
 * key and value of the file and the arguments, but keeps only these and
 * allocates nothing (doc/DESIGN.md "The fast path").
 */
struct cpk_config_fast {
	char state_dir[PATH_MAX];
	enum cpk_fail_mode fail;
	bool debug;
	struct cpk_config_keys keys;
};

/*
 * As cpk_config_load (same file, same arguments, same errors), into fast.
 * On error, fast->fail is what the file and arguments said before the bad
 * setting.  Returns 0 or -1.
 */
int cpk_config_load_fast(struct cpk_config_fast *fast, int argc, const char **argv,
			 char *err, size_t errlen);

/* Defaults of doc/DESIGN.md.  Returns 0, -1 on ENOMEM. */
int cpk_config_init(struct cpk_config *cfg);
void cpk_config_free(struct cpk_config *cfg);

/*
 * Read the file named by a `conf=` argument (or CPK_DEFAULT_CONF, or
 * path when not NULL), then apply the key=value arguments on top.  A
 * missing file is not an error only when it is the default path.  Errors
 * name "file:line: key" or "argument 'key=value'" in err.
 * Returns 0 or -1.
 */
int cpk_config_load(struct cpk_config *cfg, const char *path,
		    int argc, const char **argv, char *err, size_t errlen);

/* One key = value, as from a line or an argument; origin names it in err. */
int cpk_config_set(struct cpk_config *cfg, const char *key, const char *value,
		   const char *origin, char *err, size_t errlen);

/*
 * The expect_username template in force, or NULL when the administrator
 * opted out with "expect_username = none" (identity then rests on
 * user_pool_id alone: lib/identity.h).
 */
const char *cpk_config_expect_username(const struct cpk_config *cfg);

/* Strict checks shared with the client: "eu-west-1", "eu-west-1_AbC123". */
bool cpk_region_valid(const char *region);
bool cpk_user_pool_id_valid(const char *pool);
/* https://, or http:// to a loopback address only.  0 or -1 with err. */
int cpk_endpoint_url_check(const char *url, char *err, size_t errlen);

/*
 * Split a comma-separated list of endpoints (blanks around commas allowed),
 * at most CPK_ETCD_MAX_ENDPOINTS, each as cpk_endpoint_url_check wants, a
 * trailing '/' dropped.  0 or -1 with err.
 */
int cpk_endpoint_list_parse(const char *list, struct cpk_endpoints *out, char *err, size_t errlen);

/*
 * A private key file: a regular file owned by root, mode 0600 or stricter.
 * 0 or -1 with err naming the file.
 */
int cpk_key_file_check(const char *path, char *err, size_t errlen);

/* A host name as host_name accepts it: letters, digits, '-', '.', '_'. */
bool cpk_host_name_valid(const char *name);

/*
 * Render the settings as key=value arguments (for the helper's argv).
 * Never contains a secret: the client secret stays in its file.
 * Returns a NULL-terminated, malloc'd vector; free with cpk_argv_free.
 */
char **cpk_config_to_argv(const struct cpk_config *cfg);
void cpk_argv_free(char **argv);

#endif
