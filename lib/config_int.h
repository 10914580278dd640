/* SPDX-License-Identifier: BSD-3-Clause OR GPL-2.0-or-later */
/*
 * Private to lib/: the value rules of config_values.c that the key table
 * of config.c names (the public ones are in config.h).
 */
#ifndef CPK_CONFIG_INT_H
#define CPK_CONFIG_INT_H

#include <stdbool.h>
#include <stddef.h>

bool cpk_client_id_valid(const char *s);
bool cpk_template_valid(const char *s);
bool cpk_endpoint_syntax_valid(const char *s);
bool cpk_proxy_valid(const char *s);
bool cpk_etcd_prefix_valid(const char *s);
/* etcd_endpoints: every element as endpoint_url; why says which is bad. */
int cpk_endpoints_check(const char *s, char *why, size_t len);

#endif
