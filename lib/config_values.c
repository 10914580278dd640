/* SPDX-License-Identifier: BSD-3-Clause OR GPL-2.0-or-later */
/*
 * The rules for configuration values (config.h, config_int.h): region,
 * user pool and client ids, token_cache templates, endpoint URLs and
 * lists (https://, or http:// to a loopback address only), the etcd key
 * file's owner and mode, the etcd prefix, host names, proxies.  Shared by
 * the parser (config.c) and the clients that check again at use.
 */
#include "config.h"
#include "config_int.h"
#include "util.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

bool
cpk_region_valid(const char *s)
{
	/* partition prefix, one or more words, a number: us-gov-east-1 */
	size_t i = 0, words = 0;

	if (s == NULL || strlen(s) > 32)
		return false;
	if (!islower((unsigned char)s[0]) || !islower((unsigned char)s[1]) || s[2] != '-')
		return false;
	i = 3;
	for (;;) {
		size_t start = i;

		while (islower((unsigned char)s[i]))
			i++;
		if (i == start || s[i] != '-')
			break;
		i++;
		words++;
	}
	if (words == 0 || !isdigit((unsigned char)s[i]))
		return false;
	while (isdigit((unsigned char)s[i]))
		i++;
	return s[i] == '\0';
}

bool
cpk_user_pool_id_valid(const char *s)
{
	const char *us;
	char region[40];
	size_t n;

	if (s == NULL || strlen(s) > 55 || (us = strchr(s, '_')) == NULL)
		return false;
	n = (size_t)(us - s);
	if (n >= sizeof(region))
		return false;
	memcpy(region, s, n);
	region[n] = '\0';
	if (!cpk_region_valid(region) || us[1] == '\0')
		return false;
	for (us++; *us != '\0'; us++)
		if (!isalnum((unsigned char)*us))
			return false;
	return true;
}

bool
cpk_client_id_valid(const char *s)
{
	size_t n = strlen(s);

	if (n == 0 || n > 128)
		return false;
	for (; *s != '\0'; s++)
		if (!isalnum((unsigned char)*s) && *s != '_' && *s != '+')
			return false;
	return true;
}

bool
cpk_template_valid(const char *s)
{
	if (*s == '\0')
		return false;
	for (; *s != '\0'; s++) {
		if (*s != '%')
			continue;
		s++;
		if (*s != 'u' && *s != 'U' && *s != 'h' && *s != '%')
			return false;
	}
	return true;
}

/* A host we accept plain http:// for: nothing leaves the machine. */
static bool
host_is_loopback(const char *host, size_t len)
{
	struct in_addr a4;
	struct in6_addr a6;
	char buf[64];

	if (len == 0 || len >= sizeof(buf))
		return false;
	memcpy(buf, host, len);
	buf[len] = '\0';
	if (strcasecmp(buf, "localhost") == 0)
		return true;
	if (inet_pton(AF_INET, buf, &a4) == 1)
		return (ntohl(a4.s_addr) >> 24) == 127;
	if (buf[0] == '[' && buf[len - 1] == ']') {
		buf[len - 1] = '\0';
		return inet_pton(AF_INET6, buf + 1, &a6) == 1 && IN6_IS_ADDR_LOOPBACK(&a6);
	}
	return false;
}

int
cpk_endpoint_url_check(const char *url, char *err, size_t errlen)
{
	const char *host, *end;
	bool plain;

	if (strncmp(url, "https://", 8) == 0) {
		plain = false;
		host = url + 8;
	} else if (strncmp(url, "http://", 7) == 0) {
		plain = true;
		host = url + 7;
	} else {
		snprintf(err, errlen, "'%s' is not an https:// URL", url);
		return -1;
	}
	for (end = url; *end != '\0'; end++) {
		if ((unsigned char)*end <= ' ' || *end == '@' || *end == '\\' || *end == '#' || *end == '?') {
			snprintf(err, errlen, "'%s': URLs with credentials, spaces, queries or fragments are refused", url);
			return -1;
		}
	}
	if (host[0] == '[')
		end = strchr(host, ']') != NULL ? strchr(host, ']') + 1 : host;
	else
		end = host + strcspn(host, ":/");
	if (end == host) {
		snprintf(err, errlen, "'%s': no host", url);
		return -1;
	}
	if (plain && !host_is_loopback(host, (size_t)(end - host))) {
		snprintf(err, errlen, "'%s': http:// is accepted for loopback addresses only", url);
		return -1;
	}
	return 0;
}

bool
cpk_endpoint_syntax_valid(const char *s)
{
	char err[CPK_ERR_LEN];

	return cpk_endpoint_url_check(s, err, sizeof(err)) == 0;
}

/* One element of a comma-separated list: [p, end) without blanks around. */
static const char *
list_element(const char *p, const char **start, size_t *len)
{
	const char *end;

	while (*p == ' ' || *p == '\t')
		p++;
	*start = p;
	end = p + strcspn(p, ",");
	*len = (size_t)(end - p);
	while (*len > 0 && (p[*len - 1] == ' ' || p[*len - 1] == '\t'))
		(*len)--;
	return *end == ',' ? end + 1 : NULL;
}

int
cpk_endpoint_list_parse(const char *list, struct cpk_endpoints *out, char *err, size_t errlen)
{
	const char *p = list, *start;
	char *url;
	size_t len;

	memset(out, 0, sizeof(*out));
	while (p != NULL) {
		p = list_element(p, &start, &len);
		if (len == 0) {
			snprintf(err, errlen, "an empty element in the list");
			return -1;
		}
		if (out->n == CPK_ETCD_MAX_ENDPOINTS || len >= CPK_URL_MAX) {
			snprintf(err, errlen, "more than %d endpoints, or one longer than %d bytes",
				 CPK_ETCD_MAX_ENDPOINTS, CPK_URL_MAX - 1);
			return -1;
		}
		url = out->url[out->n];
		memcpy(url, start, len);
		url[len] = '\0';
		if (cpk_endpoint_url_check(url, err, errlen) < 0)
			return -1;
		/* the gateway's paths are appended: "/v3/kv/range" */
		while (len > 0 && url[len - 1] == '/')
			url[--len] = '\0';
		out->n++;
	}
	return 0;
}

int
cpk_endpoints_check(const char *s, char *why, size_t len)
{
	struct cpk_endpoints eps;

	return cpk_endpoint_list_parse(s, &eps, why, len);
}

int
cpk_key_file_check(const char *path, char *err, size_t errlen)
{
	struct stat st;

	if (stat(path, &st) < 0) {
		snprintf(err, errlen, "%s: %s", path, strerror(errno));
		return -1;
	}
	if (!S_ISREG(st.st_mode)) {
		snprintf(err, errlen, "%s: not a regular file", path);
		return -1;
	}
	/* a client key anyone else can read is anyone's key to the fleet */
	if (st.st_uid != 0 || (st.st_mode & 0177) != 0) {
		snprintf(err, errlen, "%s: must be owned by root, mode 0600 or stricter", path);
		return -1;
	}
	return 0;
}

bool
cpk_etcd_prefix_valid(const char *s)
{
	size_t n = strlen(s), i;

	if (n == 0 || n > 128 || s[0] != '/' || s[n - 1] != '/')
		return false;
	for (i = 0; i < n; i++)
		if (!isgraph((unsigned char)s[i]))
			return false;
	return true;
}

bool
cpk_host_name_valid(const char *s)
{
	size_t n = strlen(s), i;

	if (n == 0 || n > CPK_HOST_NAME_MAX || s[0] == '-' || s[0] == '.')
		return false;
	for (i = 0; i < n; i++)
		if (!isalnum((unsigned char)s[i]) && s[i] != '-' && s[i] != '.' && s[i] != '_')
			return false;
	return true;
}

bool
cpk_proxy_valid(const char *s)
{
	const char *host;

	if (strncmp(s, "http://", 7) == 0)
		host = s + 7;
	else if (strncmp(s, "https://", 8) == 0)
		host = s + 8;
	else
		return false;
	if (*host == '\0' || *host == '/' || *host == ':')
		return false;
	for (; *s != '\0'; s++)
		if ((unsigned char)*s <= ' ')
			return false;
	return true;
}
