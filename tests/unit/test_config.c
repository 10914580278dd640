/* SPDX-License-Identifier: BSD-3-Clause OR GPL-2.0-or-later */
/*
 * lib/config.c: every key, its default, and every error, which must name
 * the file, the line and the key.
 */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "config.h"
#include "testutil.h"

static char conf_path[] = "/tmp/cpk-test-conf-XXXXXX";
static char err[CPK_ERR_LEN];

static void
write_conf(const char *text)
{
	FILE *fp = fopen(conf_path, "w");

	ck_assert_ptr_nonnull(fp);
	fputs(text, fp);
	fclose(fp);
	chmod(conf_path, 0644);
}

static void
setup(void)
{
	int fd = mkstemp(conf_path);

	ck_assert_int_ge(fd, 0);
	close(fd);
	err[0] = '\0';
}

static void
teardown(void)
{
	unlink(conf_path);
	strcpy(conf_path, "/tmp/cpk-test-conf-XXXXXX");
}

/* Load text as the file; returns cpk_config_load's result. */
static int
load(struct cpk_config *cfg, const char *text, int argc, const char **argv)
{
	write_conf(text);
	ck_assert_int_eq(cpk_config_init(cfg), 0);
	return cpk_config_load(cfg, conf_path, argc, argv, err, sizeof(err));
}

/* cpk_config_load_fast on conf_path with argv after conf=; its result. */
static int
load_fast(struct cpk_config_fast *fast, int argc, const char **argv, char *e, size_t elen)
{
	const char *args[8];
	char conf[64];
	int i;

	ck_assert_int_lt(argc, 8);
	snprintf(conf, sizeof(conf), "conf=%s", conf_path);
	args[0] = conf;
	for (i = 0; i < argc; i++)
		args[i + 1] = argv[i];
	return cpk_config_load_fast(fast, argc + 1, args, e, elen);
}

/*
 * The load fails and err contains every one of the fragments; the PAM
 * module's cheap parse refuses the file with the very same message.
 */
static void
expect_error(const char *text, const char *frag1, const char *frag2)
{
	struct cpk_config_fast fast;
	struct cpk_config cfg;
	char where[64], fast_err[CPK_ERR_LEN];

	ck_assert_int_eq(load(&cfg, text, 0, NULL), -1);
	ck_assert_int_eq(load_fast(&fast, 0, NULL, fast_err, sizeof(fast_err)), -1);
	ck_assert_str_eq(fast_err, err);
	snprintf(where, sizeof(where), "%s:", conf_path);
	ck_assert_msg(strstr(err, where) != NULL, "no file name in '%s'", err);
	ck_assert_msg(strstr(err, frag1) != NULL, "'%s' not in '%s'", frag1, err);
	if (frag2 != NULL)
		ck_assert_msg(strstr(err, frag2) != NULL, "'%s' not in '%s'", frag2, err);
	cpk_config_free(&cfg);
}

START_TEST(defaults)
{
	struct cpk_config cfg;

	ck_assert_int_eq(load(&cfg, "# nothing\n\n", 0, NULL), 0);
	ck_assert_ptr_null(cfg.region);
	ck_assert_ptr_null(cfg.user_pool_id);
	ck_assert_ptr_null(cfg.client_id);
	/* identity is checked unless the administrator opts out */
	ck_assert_str_eq(cfg.expect_username, "%u");
	ck_assert_str_eq(cpk_config_expect_username(&cfg), "%u");
	ck_assert_ptr_null(cfg.client_secret_file);
	ck_assert_ptr_null(cfg.endpoint_url);
	ck_assert(!cfg.use_fips);
	ck_assert_ptr_null(cfg.ca_file);
	ck_assert_ptr_null(cfg.proxy);
	ck_assert_str_eq(cfg.token_cache, "%h/.cache/cognito/tokens.json");
	ck_assert_str_eq(cfg.state_dir, "/var/lib/pam_cognito_passkey");
	ck_assert_uint_eq(cfg.timeout, 10);
	ck_assert_uint_eq(cfg.connect_timeout, 3);
	ck_assert_uint_eq(cfg.max_attempts, 3);
	ck_assert(cfg.refresh);
	ck_assert_int_eq(cfg.refresh_api, CPK_REFRESH_GET_TOKENS);
	ck_assert_int_eq(cfg.fail, CPK_FAIL_OPEN);
	ck_assert(cfg.notify);
	ck_assert(!cfg.debug);
	ck_assert(!cfg.dry_run);
	ck_assert_str_eq(cfg.conf_path, conf_path);
	ck_assert_int_eq(cfg.fleet, CPK_FLEET_NONE);
	ck_assert_ptr_null(cfg.etcd_endpoints);
	ck_assert_ptr_null(cfg.etcd_ca_file);
	ck_assert_ptr_null(cfg.etcd_cert_file);
	ck_assert_ptr_null(cfg.etcd_key_file);
	ck_assert_str_eq(cfg.etcd_prefix, "/pam_cognito_passkey/");
	ck_assert_uint_eq(cfg.etcd_timeout, 5);
	{
		char host[256] = "";

		ck_assert_int_eq(gethostname(host, sizeof(host)), 0);
		if (cpk_host_name_valid(host))
			ck_assert_str_eq(cfg.host_name, host);
		else
			ck_assert_ptr_null(cfg.host_name);
	}
	cpk_config_free(&cfg);
}
END_TEST

START_TEST(every_key)
{
	struct cpk_config cfg;

	ck_assert_msg(load(&cfg,
		"region = eu-west-1\n"
		"  user_pool_id=eu-west-1_AbC123\n"
		"client_id = 1example23456789\n"
		"expect_username = %u@example.com\n"
		"client_secret_file = /etc/security/secret\n"
		"endpoint_url = https://vpce.example.com/\n"
		"use_fips = yes\n"
		"ca_file = /etc/ssl/ca.pem\n"
		"proxy = http://proxy.example.com:3128\n"
		"token_cache = /var/cache/cognito/%U.json\n"
		"state_dir = /srv/state\n"
		"timeout = 5\n"
		"connect_timeout = 2\n"
		"max_attempts = 4\n"
		"refresh = no\n"
		"refresh_api = initiate_auth\n"
		"fail = closed\n"
		"notify = off\n"
		"debug\n"
		"dry_run = true\n"
		"fleet = etcd\n"
		"etcd_endpoints = https://etcd1.example.com:2379, https://etcd2.example.com:2379/\n"
		"etcd_ca_file = /etc/etcd/ca.pem\n"
		"etcd_prefix = /cpk/prod/\n"
		"host_name = bastion-1.example.com\n"
		"etcd_timeout = 7\n", 0, NULL) == 0, "%s", err);
	ck_assert_int_eq(cfg.fleet, CPK_FLEET_ETCD);
	ck_assert_str_eq(cfg.etcd_endpoints,
			 "https://etcd1.example.com:2379, https://etcd2.example.com:2379/");
	ck_assert_str_eq(cfg.etcd_ca_file, "/etc/etcd/ca.pem");
	ck_assert_str_eq(cfg.etcd_prefix, "/cpk/prod/");
	ck_assert_str_eq(cfg.host_name, "bastion-1.example.com");
	ck_assert_uint_eq(cfg.etcd_timeout, 7);
	ck_assert_str_eq(cfg.region, "eu-west-1");
	ck_assert_str_eq(cfg.user_pool_id, "eu-west-1_AbC123");
	ck_assert_str_eq(cfg.client_id, "1example23456789");
	ck_assert_str_eq(cfg.expect_username, "%u@example.com");
	ck_assert_str_eq(cfg.client_secret_file, "/etc/security/secret");
	ck_assert_str_eq(cfg.endpoint_url, "https://vpce.example.com/");
	ck_assert(cfg.use_fips);
	ck_assert_str_eq(cfg.ca_file, "/etc/ssl/ca.pem");
	ck_assert_str_eq(cfg.proxy, "http://proxy.example.com:3128");
	ck_assert_str_eq(cfg.token_cache, "/var/cache/cognito/%U.json");
	ck_assert_str_eq(cfg.state_dir, "/srv/state");
	ck_assert_uint_eq(cfg.timeout, 5);
	ck_assert_uint_eq(cfg.connect_timeout, 2);
	ck_assert_uint_eq(cfg.max_attempts, 4);
	ck_assert(!cfg.refresh);
	ck_assert_int_eq(cfg.refresh_api, CPK_REFRESH_INITIATE_AUTH);
	ck_assert_int_eq(cfg.fail, CPK_FAIL_CLOSED);
	ck_assert(!cfg.notify);
	ck_assert(cfg.debug);
	ck_assert(cfg.dry_run);
	cpk_config_free(&cfg);
}
END_TEST

START_TEST(arguments_override_file)
{
	const char *argv[] = { "timeout=5", "debug", "fail=closed", "region=us-east-1" };
	struct cpk_config cfg;

	ck_assert_msg(load(&cfg, "timeout = 20\nfail = open\nregion = eu-west-1\n", 4, argv) == 0,
		      "%s", err);
	ck_assert_uint_eq(cfg.timeout, 5);
	ck_assert(cfg.debug);
	ck_assert_int_eq(cfg.fail, CPK_FAIL_CLOSED);
	ck_assert_str_eq(cfg.region, "us-east-1");
	cpk_config_free(&cfg);
}
END_TEST

/* What the fast path keeps, from the file and from arguments over it. */
START_TEST(fast_parse_keeps_what_the_module_needs)
{
	const char *over[] = { "state_dir=/srv/cpk", "fail=open", "debug" };
	struct cpk_config_fast fast;

	write_conf("# comment\n\n   # indented comment\n");
	ck_assert_msg(load_fast(&fast, 0, NULL, err, sizeof(err)) == 0, "%s", err);
	ck_assert_str_eq(fast.state_dir, CPK_DEFAULT_STATE_DIR);
	ck_assert_int_eq(fast.fail, CPK_FAIL_OPEN);
	ck_assert(!fast.debug);

	write_conf("state_dir = /var/lib/x\nfail = closed\ndebug = no\nregion = eu-west-1\n");
	ck_assert_msg(load_fast(&fast, 0, NULL, err, sizeof(err)) == 0, "%s", err);
	ck_assert_str_eq(fast.state_dir, "/var/lib/x");
	ck_assert_int_eq(fast.fail, CPK_FAIL_CLOSED);
	ck_assert(!fast.debug);
	ck_assert_msg(load_fast(&fast, 3, over, err, sizeof(err)) == 0, "%s", err);
	ck_assert_str_eq(fast.state_dir, "/srv/cpk");
	ck_assert_int_eq(fast.fail, CPK_FAIL_OPEN);
	ck_assert(fast.debug);
}
END_TEST

/*
 * A key the fast path does not keep is still checked, in the file and in
 * the arguments; fail is what was said before the bad setting.
 */
START_TEST(fast_parse_still_validates)
{
	const char *bad_arg[] = { "region=EU" };
	const char *typo_arg[] = { "fail=closed", "timout=5" };
	struct cpk_config_fast fast;

	write_conf("fail = closed\n# ok\nendpoint_url = http://cognito.example.com/\n");
	ck_assert_int_eq(load_fast(&fast, 0, NULL, err, sizeof(err)), -1);
	ck_assert_msg(strstr(err, ":3: endpoint_url") != NULL, "%s", err);
	ck_assert_int_eq(fast.fail, CPK_FAIL_CLOSED);

	write_conf("fleet = etcd\n");
	ck_assert_int_eq(load_fast(&fast, 0, NULL, err, sizeof(err)), -1);
	ck_assert_msg(strstr(err, "etcd_endpoints is not set") != NULL, "%s", err);

	write_conf("");
	ck_assert_int_eq(load_fast(&fast, 1, bad_arg, err, sizeof(err)), -1);
	ck_assert_msg(strstr(err, "argument 'region=EU': region: 'EU'") != NULL, "%s", err);
	ck_assert_int_eq(load_fast(&fast, 2, typo_arg, err, sizeof(err)), -1);
	ck_assert_msg(strstr(err, "argument 'timout=5': unknown key 'timout'") != NULL, "%s", err);
	ck_assert_int_eq(fast.fail, CPK_FAIL_CLOSED);
}
END_TEST

START_TEST(conf_argument_names_the_file)
{
	struct cpk_config cfg;
	char arg[64];
	const char *argv[1] = { arg };

	write_conf("timeout = 7\n");
	snprintf(arg, sizeof(arg), "conf=%s", conf_path);
	ck_assert_int_eq(cpk_config_init(&cfg), 0);
	ck_assert_msg(cpk_config_load(&cfg, NULL, 1, argv, err, sizeof(err)) == 0, "%s", err);
	ck_assert_uint_eq(cfg.timeout, 7);
	ck_assert_str_eq(cfg.conf_path, conf_path);
	cpk_config_free(&cfg);
}
END_TEST

START_TEST(typo_is_rejected)
{
	expect_error("# ok\ntimout = 5\n", ":2: unknown key 'timout'", NULL);
}
END_TEST

START_TEST(bad_values_are_rejected)
{
	expect_error("timeout = -1\n", ":1: timeout: '-1'", "1..300");
	expect_error("\n\ntimeout = 0\n", ":3: timeout", NULL);
	expect_error("timeout = 301\n", "timeout: '301'", NULL);
	expect_error("timeout = 5s\n", "timeout: '5s'", NULL);
	expect_error("timeout = 99999999999999999999\n", "timeout", NULL);
	expect_error("connect_timeout = 61\n", "connect_timeout", NULL);
	expect_error("max_attempts = 0\n", "max_attempts", NULL);
	expect_error("fail = maybe\n", ":1: fail: 'maybe' is not one of open, closed", NULL);
	expect_error("refresh_api = srp\n", "refresh_api: 'srp'", "get_tokens, initiate_auth");
	expect_error("refresh = perhaps\n", "refresh: 'perhaps' is not yes or no", NULL);
	expect_error("use_fips = 2\n", "use_fips", NULL);
	expect_error("region = EU-WEST-1\n", "region: 'EU-WEST-1'", NULL);
	expect_error("region = eu-west\n", "region", NULL);
	expect_error("region = eu-west-1.evil.com\n", "region", NULL);
	expect_error("user_pool_id = eu-west-1\n", "user_pool_id", NULL);
	expect_error("user_pool_id = eu-west-1_a/b\n", "user_pool_id", NULL);
	expect_error("client_id = a b\n", "client_id", NULL);
	expect_error("expect_username = %x\n", "expect_username", NULL);
	expect_error("client_secret_file = secret\n", "client_secret_file: 'secret' is not an absolute path", NULL);
	expect_error("ca_file = ca.pem\n", "ca_file", NULL);
	expect_error("state_dir = var/lib\n", "state_dir", NULL);
	expect_error("token_cache = .cache/t.json\n", "token_cache", NULL);
	expect_error("token_cache = /home/%q\n", "token_cache", NULL);
	expect_error("endpoint_url = ftp://x/\n", "endpoint_url", NULL);
	expect_error("endpoint_url = http://cognito.example.com/\n", "endpoint_url", "loopback");
	expect_error("endpoint_url = https://user:pw@host/\n", "endpoint_url", NULL);
	expect_error("proxy = socks5://p:1080\n", "proxy", NULL);
	expect_error("region =\n", ":1: region: missing value", NULL);
	expect_error("timeout\n", "timeout: missing value", NULL);
}
END_TEST

START_TEST(bad_fleet_values_are_rejected)
{
	expect_error("fleet = consul\n", ":1: fleet: 'consul' is not one of none, etcd", NULL);
	expect_error("fleet = ETCD\n", "fleet: 'ETCD'", NULL);
	expect_error("\netcd_endpoints = http://etcd.example.com:2379\n", ":2: etcd_endpoints",
		     "loopback");
	expect_error("etcd_endpoints = https://a:2379,,https://b:2379\n", "etcd_endpoints", "empty");
	expect_error("etcd_endpoints = https://a:2379,\n", "etcd_endpoints", "empty");
	expect_error("etcd_endpoints = ftp://a:2379\n", "etcd_endpoints", "https://");
	expect_error("etcd_endpoints = https://u:p@a:2379\n", "etcd_endpoints", "credentials");
	expect_error("etcd_endpoints = https://a,https://b,https://c,https://d,https://e,"
		     "https://f,https://g,https://h,https://i\n", "etcd_endpoints", "more than 8");
	expect_error("etcd_ca_file = ca.pem\n", "etcd_ca_file: 'ca.pem' is not an absolute path", NULL);
	expect_error("etcd_cert_file = cert.pem\n", "etcd_cert_file", "absolute");
	expect_error("etcd_key_file = key.pem\n", "etcd_key_file", "absolute");
	expect_error("etcd_key_file = /nonexistent/key.pem\n", ":1: etcd_key_file",
		     "/nonexistent/key.pem");
	expect_error("etcd_prefix = cpk/\n", ":1: etcd_prefix: 'cpk/'", "start");
	expect_error("etcd_prefix = /cpk\n", "etcd_prefix", NULL);
	expect_error("etcd_prefix = /a b/\n", "etcd_prefix", NULL);
	expect_error("etcd_prefix = /\x01/\n", "etcd_prefix", NULL);
	expect_error("host_name = a/b\n", ":1: host_name: 'a/b'", NULL);
	expect_error("host_name = -x\n", "host_name", NULL);
	expect_error("host_name = a b\n", "host_name", NULL);
	expect_error("host_name = aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\n",
		     "host_name", NULL);
	expect_error("etcd_timeout = 0\n", ":1: etcd_timeout: '0'", "1..60");
	expect_error("etcd_timeout = 61\n", "etcd_timeout", NULL);
	expect_error("etcd_timeout = 2s\n", "etcd_timeout", NULL);
	/* what one key alone cannot say */
	expect_error("fleet = etcd\n", "fleet = etcd: etcd_endpoints is not set", NULL);
	expect_error("etcd_cert_file = /etc/etcd/c.pem\n", "etcd_cert_file and etcd_key_file", NULL);
}
END_TEST

START_TEST(loopback_http_etcd_is_accepted)
{
	struct cpk_config cfg;
	struct cpk_endpoints eps;

	ck_assert_msg(load(&cfg, "fleet = etcd\n"
			   "etcd_endpoints = http://127.0.0.1:2379,https://[::1]:2380/ ,http://localhost\n",
			   0, NULL) == 0, "%s", err);
	ck_assert_int_eq(cpk_endpoint_list_parse(cfg.etcd_endpoints, &eps, err, sizeof(err)), 0);
	ck_assert_uint_eq(eps.n, 3);
	ck_assert_str_eq(eps.url[0], "http://127.0.0.1:2379");
	ck_assert_str_eq(eps.url[1], "https://[::1]:2380");
	ck_assert_str_eq(eps.url[2], "http://localhost");
	cpk_config_free(&cfg);
}
END_TEST

/* The client key: root's, 0600 or stricter, else refused naming the file. */
START_TEST(etcd_key_file_rules)
{
	char key[] = "/tmp/cpk-test-key-XXXXXX", text[128];
	struct cpk_config cfg;
	int fd = mkstemp(key);

	ck_assert_int_ge(fd, 0);
	close(fd);
	snprintf(text, sizeof(text), "etcd_cert_file = /etc/c.pem\netcd_key_file = %s\n", key);
	ck_assert_int_eq(chmod(key, 0640), 0);
	expect_error(text, ":2: etcd_key_file", key);
	ck_assert_int_eq(chmod(key, 0604), 0);
	expect_error(text, "mode 0600 or stricter", NULL);
	ck_assert_int_eq(chmod(key, 0700), 0);
	expect_error(text, "etcd_key_file", NULL);
	ck_assert_int_eq(chmod(key, 0600), 0);
	if (geteuid() == 0) {
		ck_assert_msg(load(&cfg, text, 0, NULL) == 0, "%s", err);
		ck_assert_str_eq(cfg.etcd_key_file, key);
		cpk_config_free(&cfg);
		ck_assert_int_eq(chmod(key, 0400), 0);
		ck_assert_msg(load(&cfg, text, 0, NULL) == 0, "%s", err);
		cpk_config_free(&cfg);
		ck_assert_int_eq(chown(key, 4001, 4001), 0);
		expect_error(text, "owned by root", key);
	} else {
		expect_error(text, "owned by root", key);
	}
	unlink(key);
}
END_TEST

START_TEST(loopback_http_is_accepted)
{
	struct cpk_config cfg;

	ck_assert_msg(load(&cfg, "endpoint_url = http://127.0.0.1:9229/\n", 0, NULL) == 0, "%s", err);
	cpk_config_free(&cfg);
	ck_assert_msg(load(&cfg, "endpoint_url = http://[::1]:9229/\n", 0, NULL) == 0, "%s", err);
	cpk_config_free(&cfg);
	ck_assert_msg(load(&cfg, "endpoint_url = http://localhost/\n", 0, NULL) == 0, "%s", err);
	cpk_config_free(&cfg);
	ck_assert_int_eq(cpk_endpoint_url_check("http://127.0.0.1.evil.com/", err, sizeof(err)), -1);
	ck_assert_int_eq(cpk_endpoint_url_check("http://10.0.0.1/", err, sizeof(err)), -1);
	ck_assert_int_eq(cpk_endpoint_url_check("http://[::2]/", err, sizeof(err)), -1);
}
END_TEST

START_TEST(long_line_is_rejected)
{
	char *text = malloc(3000);

	memset(text, 'a', 2998);
	memcpy(text, "region = ", 9);
	text[2998] = '\n';
	text[2999] = '\0';
	expect_error(text, ":1: line longer than", NULL);
	free(text);
}
END_TEST

START_TEST(odd_files)
{
	struct cpk_config_fast fast;
	struct cpk_config cfg;
	FILE *fp;
	int i;

	/* the last line may lack its newline; CRLF is whitespace */
	ck_assert_msg(load(&cfg, "debug = yes\r\ntimeout = 9", 0, NULL) == 0, "%s", err);
	ck_assert_uint_eq(cfg.timeout, 9);
	ck_assert(cfg.debug);
	cpk_config_free(&cfg);

	/* a NUL byte is reported as such, with its line */
	fp = fopen(conf_path, "w");
	fputs("debug = yes\ntime", fp);
	fputc('\0', fp);
	fputs("out = 5\n", fp);
	fclose(fp);
	ck_assert_int_eq(cpk_config_init(&cfg), 0);
	ck_assert_int_eq(cpk_config_load(&cfg, conf_path, 0, NULL, err, sizeof(err)), -1);
	ck_assert_msg(strstr(err, ":2: NUL byte") != NULL, "%s", err);
	cpk_config_free(&cfg);
	ck_assert_int_eq(load_fast(&fast, 0, NULL, err, sizeof(err)), -1);
	ck_assert_msg(strstr(err, ":2: NUL byte") != NULL, "%s", err);

	/* larger than the fast parse's stack buffer: read on into the heap */
	fp = fopen(conf_path, "w");
	for (i = 0; i < 200; i++)
		fputs("# a comment line of some length, repeated until the file is too big\n", fp);
	fputs("state_dir = /srv/big\n", fp);
	fclose(fp);
	ck_assert_msg(load_fast(&fast, 0, NULL, err, sizeof(err)) == 0, "%s", err);
	ck_assert_str_eq(fast.state_dir, "/srv/big");

	/* more than 64 KiB of comments */
	fp = fopen(conf_path, "w");
	for (i = 0; i < 1000; i++)
		fputs("# a comment line of some length, repeated until the file is too big\n", fp);
	fclose(fp);
	ck_assert_int_eq(cpk_config_init(&cfg), 0);
	ck_assert_int_eq(cpk_config_load(&cfg, conf_path, 0, NULL, err, sizeof(err)), -1);
	ck_assert_msg(strstr(err, "larger than") != NULL, "%s", err);
	cpk_config_free(&cfg);
}
END_TEST

START_TEST(bad_arguments_are_rejected)
{
	const char *typo[] = { "timout=5" };
	const char *bad[] = { "fail=maybe" };
	const char *empty[] = { "region=" };
	struct cpk_config cfg;

	ck_assert_int_eq(load(&cfg, "", 1, typo), -1);
	ck_assert_msg(strstr(err, "argument 'timout=5': unknown key 'timout'") != NULL, "%s", err);
	cpk_config_free(&cfg);
	ck_assert_int_eq(load(&cfg, "", 1, bad), -1);
	ck_assert_msg(strstr(err, "argument 'fail=maybe': fail: 'maybe'") != NULL, "%s", err);
	cpk_config_free(&cfg);
	ck_assert_int_eq(load(&cfg, "", 1, empty), -1);
	ck_assert_msg(strstr(err, "region: missing value") != NULL, "%s", err);
	cpk_config_free(&cfg);
}
END_TEST

START_TEST(unreadable_files)
{
	struct cpk_config cfg;

	ck_assert_int_eq(cpk_config_init(&cfg), 0);
	ck_assert_int_eq(cpk_config_load(&cfg, "/nonexistent/cpk.conf", 0, NULL, err, sizeof(err)), -1);
	ck_assert_msg(strstr(err, "/nonexistent/cpk.conf: cannot open") != NULL, "%s", err);
	ck_assert_int_eq(cpk_config_load(&cfg, "/tmp", 0, NULL, err, sizeof(err)), -1);
	ck_assert_msg(strstr(err, "/tmp: not a regular file") != NULL, "%s", err);
	ck_assert_int_eq(cpk_config_load(&cfg, "relative.conf", 0, NULL, err, sizeof(err)), -1);
	cpk_config_free(&cfg);

	/* writable by others: it decides where tokens go */
	write_conf("timeout = 5\n");
	chmod(conf_path, 0666);
	ck_assert_int_eq(cpk_config_init(&cfg), 0);
	ck_assert_int_eq(cpk_config_load(&cfg, conf_path, 0, NULL, err, sizeof(err)), -1);
	ck_assert_msg(strstr(err, "not writable by group or others") != NULL, "%s", err);
	cpk_config_free(&cfg);
}
END_TEST

START_TEST(argv_round_trip)
{
	const char *argv[] = { "region=eu-west-1", "fail=closed", "timeout=4", "debug",
			       "refresh_api=initiate_auth", "proxy=http://p:3128", "fleet=etcd",
			       "etcd_endpoints=https://e1:2379,https://e2:2379", "host_name=h1",
			       "etcd_prefix=/x/" };
	struct cpk_config cfg, again;
	char **out;
	int n;

	ck_assert_msg(load(&cfg, "max_attempts = 2\n", 10, argv) == 0, "%s", err);
	out = cpk_config_to_argv(&cfg);
	ck_assert_ptr_nonnull(out);
	for (n = 0; out[n] != NULL; n++)
		;
	ck_assert_int_eq(cpk_config_init(&again), 0);
	ck_assert_msg(cpk_config_load(&again, NULL, n, (const char **)(void *)out, err, sizeof(err)) == 0,
		      "%s", err);
	ck_assert_str_eq(again.region, "eu-west-1");
	ck_assert_int_eq(again.fail, CPK_FAIL_CLOSED);
	ck_assert_uint_eq(again.timeout, 4);
	ck_assert_uint_eq(again.max_attempts, 2);
	ck_assert(again.debug);
	ck_assert_int_eq(again.refresh_api, CPK_REFRESH_INITIATE_AUTH);
	ck_assert_str_eq(again.proxy, "http://p:3128");
	ck_assert_str_eq(again.conf_path, conf_path);
	ck_assert_int_eq(again.fleet, CPK_FLEET_ETCD);
	ck_assert_str_eq(again.etcd_endpoints, "https://e1:2379,https://e2:2379");
	ck_assert_str_eq(again.host_name, "h1");
	ck_assert_str_eq(again.etcd_prefix, "/x/");
	cpk_argv_free(out);
	cpk_config_free(&cfg);
	cpk_config_free(&again);
}
END_TEST

/* "expect_username = none" is the one way out, and it survives the helper's argv. */
START_TEST(expect_username_none)
{
	struct cpk_config cfg, again;
	char **out;
	int n;

	ck_assert_msg(load(&cfg, "expect_username = none\n", 0, NULL) == 0, "%s", err);
	ck_assert_ptr_null(cpk_config_expect_username(&cfg));
	out = cpk_config_to_argv(&cfg);
	ck_assert_ptr_nonnull(out);
	for (n = 0; out[n] != NULL; n++)
		;
	ck_assert_int_eq(cpk_config_init(&again), 0);
	ck_assert_str_eq(cpk_config_expect_username(&again), "%u");
	ck_assert_msg(cpk_config_load(&again, NULL, n, (const char **)(void *)out, err, sizeof(err)) == 0,
		      "%s", err);
	ck_assert_ptr_null(cpk_config_expect_username(&again));
	cpk_argv_free(out);
	cpk_config_free(&again);
	cpk_config_free(&cfg);
	ck_assert_msg(load(&cfg, "expect_username = %u@example.com\n", 0, NULL) == 0, "%s", err);
	ck_assert_str_eq(cpk_config_expect_username(&cfg), "%u@example.com");
	cpk_config_free(&cfg);
}
END_TEST

START_TEST(region_rules)
{
	ck_assert(cpk_region_valid("eu-west-1"));
	ck_assert(cpk_region_valid("us-gov-east-1"));
	ck_assert(cpk_region_valid("ap-southeast-2"));
	ck_assert(cpk_region_valid("cn-north-1"));
	ck_assert(!cpk_region_valid(""));
	ck_assert(!cpk_region_valid("eu"));
	ck_assert(!cpk_region_valid("eu-west-"));
	ck_assert(!cpk_region_valid("eu-west-1a"));
	ck_assert(!cpk_region_valid("eu--1"));
	ck_assert(!cpk_region_valid("eu-west-1/"));
	ck_assert(cpk_user_pool_id_valid("us-east-1_Example1"));
	ck_assert(!cpk_user_pool_id_valid("us-east-1_"));
	ck_assert(!cpk_user_pool_id_valid("_abc"));
}
END_TEST

static Suite *
config_suite(void)
{
	Suite *s = suite_create("config");
	TCase *tc = tcase_create("config");

	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, defaults);
	tcase_add_test(tc, every_key);
	tcase_add_test(tc, arguments_override_file);
	tcase_add_test(tc, fast_parse_keeps_what_the_module_needs);
	tcase_add_test(tc, fast_parse_still_validates);
	tcase_add_test(tc, conf_argument_names_the_file);
	tcase_add_test(tc, typo_is_rejected);
	tcase_add_test(tc, bad_values_are_rejected);
	tcase_add_test(tc, loopback_http_is_accepted);
	tcase_add_test(tc, bad_fleet_values_are_rejected);
	tcase_add_test(tc, loopback_http_etcd_is_accepted);
	tcase_add_test(tc, etcd_key_file_rules);
	tcase_add_test(tc, long_line_is_rejected);
	tcase_add_test(tc, odd_files);
	tcase_add_test(tc, bad_arguments_are_rejected);
	tcase_add_test(tc, unreadable_files);
	tcase_add_test(tc, argv_round_trip);
	tcase_add_test(tc, expect_username_none);
	tcase_add_test(tc, region_rules);
	suite_add_tcase(s, tc);
	return s;
}

int
main(void)
{
	return run_suite(config_suite());
}
