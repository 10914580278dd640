/* SPDX-License-Identifier: BSD-3-Clause OR GPL-2.0-or-later */
/*
 * Private to lib/: the curl easy-handle options that the Cognito client
 * (http.c) and the etcd client (etcd.c) share, so that their TLS rules
 * cannot drift apart: verification of the peer and of its host name always
 * on, TLS 1.2 or later, one scheme and no redirects, no .netrc, no signals,
 * HTTP/1.1 POST.  Each caller then adds its own options (proxy, timeouts,
 * callbacks, client certificate).
 */
#ifndef CPK_CURL_SETUP_H
#define CPK_CURL_SETUP_H

#include <stdbool.h>
#include <curl/curl.h>

/* http:// (loopback only, checked where the endpoint is parsed). */
bool cpk_url_is_plain_http(const char *url);

/*
 * The shared options on h for url; ca_file may be NULL (the system's
 * store); errbuf is CURL_ERROR_SIZE bytes and must outlive the handle's
 * use.  CURLE_OK or the first option curl refused.
 */
CURLcode cpk_curl_setup(CURL *h, const char *url, const char *ca_file, char *errbuf);

#endif
