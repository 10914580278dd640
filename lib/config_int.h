/* SPDX-License-Identifier: BSD-3-Clause OR GPL-2.0-or-later */
/*
 * Private to lib/: the value rules of config_values.c that the key table
 * of config.c names (the public ones are in config.h), and the one entry
 * point to those rules that config_read.c's file and argument parser uses.
 */
#ifndef CPK_CONFIG_INT_H
#define CPK_CONFIG_INT_H

#include "config.h"

#include <stdbool.h>
#include <stddef.h>

bool cpk_client_id_valid(const char *s);
bool cpk_template_valid(const char *s);
bool cpk_endpoint_syntax_valid(const char *s);
bool cpk_proxy_valid(const char *s);
bool cpk_etcd_prefix_valid(const char *s);
/* etcd_endpoints: every element as endpoint_url; why says which is bad. */
int cpk_endpoints_check(const char *s, char *why, size_t len);

/*
 * Where a setting came from: "file:line", "argument 'key=value'" or the
 * caller's text.  Formatted only when there is an error to report, so that
 * a file of comments costs no snprintf per line.
 */
struct cpk_conf_origin {
	const char *file;	/* with line */
	unsigned int line;
	const char *argument;	/* else: the whole argument */
	const char *text;	/* else */
};

/* "<origin>: <fmt...>" into err; returns -1. */
int cpk_conf_refuse(char *err, size_t errlen, const struct cpk_conf_origin *o,
		    const char *fmt, ...) __attribute__((format(printf, 4, 5)));

/*
 * Check one key = value (value NULL: a bare key) against the key's rules,
 * then keep it: in fast always, in cfg too when cfg is not NULL.  Returns
 * 0, or -1 with err naming the origin and the key.
 */
int cpk_config_apply(struct cpk_config *cfg, struct cpk_config_fast *fast, const char *key,
		     const char *value, const struct cpk_conf_origin *o, char *err, size_t errlen);

/* The keys of cfg that the checks across keys look at. */
void cpk_config_keys_of(const struct cpk_config *cfg, struct cpk_config_keys *set);

/* What one key alone cannot say (the fleet); file names the error. */
int cpk_config_check_keys(const struct cpk_config_keys *set, const char *file,
			  char *err, size_t errlen);

#endif
