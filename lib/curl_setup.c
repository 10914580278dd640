/* SPDX-License-Identifier: BSD-3-Clause OR GPL-2.0-or-later */
/*
 * The curl options every HTTPS client of this project sets (curl_setup.h).
 */
#include "curl_setup.h"
#include "util.h"

#include <string.h>

#ifndef PACKAGE_VERSION
#define PACKAGE_VERSION "0"
#endif

bool
cpk_url_is_plain_http(const char *url)
{
	return strncmp(url, "http://", 7) == 0;
}

CURLcode
cpk_curl_setup(CURL *h, const char *url, const char *ca_file, char *errbuf)
{
	const char *proto = cpk_url_is_plain_http(url) ? "http" : "https";
	CURLcode rc = CURLE_OK;

#define SET(opt, val) do { if (rc == CURLE_OK) rc = curl_easy_setopt(h, opt, val); } while (0)
	SET(CURLOPT_ERRORBUFFER, errbuf);
	SET(CURLOPT_URL, url);
	SET(CURLOPT_PROTOCOLS_STR, proto);
	SET(CURLOPT_REDIR_PROTOCOLS_STR, proto);
	SET(CURLOPT_FOLLOWLOCATION, 0L);
	SET(CURLOPT_SSL_VERIFYPEER, 1L);
	SET(CURLOPT_SSL_VERIFYHOST, 2L);
	SET(CURLOPT_SSLVERSION, (long)CURL_SSLVERSION_TLSv1_2);
	if (ca_file != NULL)
		SET(CURLOPT_CAINFO, ca_file);
	SET(CURLOPT_NOSIGNAL, 1L);
	SET(CURLOPT_NETRC, (long)CURL_NETRC_IGNORED);
	SET(CURLOPT_HTTP_VERSION, (long)CURL_HTTP_VERSION_1_1);
	SET(CURLOPT_POST, 1L);
	SET(CURLOPT_USERAGENT, CPK_PACKAGE "/" PACKAGE_VERSION);
#undef SET
	return rc;
}
