/* SPDX-License-Identifier: BSD-3-Clause OR GPL-2.0-or-later */
/*
 * floor.c - the network floor for tests/bench/run.sh: the least time one
 * TLS connection and K requests take on this machine, measured in-process
 * with libcurl (no process start, no state files, no JSON parsing).
 *
 *   floor URL CA TOKEN_CACHE K REPS
 *
 * Each repetition opens a fresh connection (TCP + TLS handshake) and sends
 * K ListWebAuthnCredentials requests on it, one after the other.  Prints
 * the minimum over the repetitions of:
 *   handshake_ms   TCP connect + TLS handshake (CURLINFO_APPCONNECT_TIME)
 *   request_ms     one request/answer on the open connection (the K-1
 *                  requests after the first, averaged)
 *   total_ms       the whole repetition
 * Run it with the emulator's added latency at 0: the latency is added back
 * by the limit model (run.sh), so it is not counted twice.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <curl/curl.h>

static size_t
sink(char *p, size_t s, size_t n, void *ud)
{
	return s * n;
}

static double
now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6;
}

/* "AccessToken": "..." from the cache file (the bench writes it). */
static char *
read_token(const char *path)
{
	static char buf[65536];
	char *p, *q;
	size_t n;
	FILE *fp = fopen(path, "r");

	if (fp == NULL)
		return NULL;
	n = fread(buf, 1, sizeof(buf) - 1, fp);
	fclose(fp);
	buf[n] = '\0';
	if ((p = strstr(buf, "\"AccessToken\"")) == NULL || (p = strchr(p + 13, '"')) == NULL)
		return NULL;
	if ((q = strchr(++p, '"')) == NULL)
		return NULL;
	*q = '\0';
	return p;
}

int
main(int argc, char **argv)
{
	struct curl_slist *h = NULL;
	double best_total = 1e9, best_hs = 1e9, best_req = 1e9;
	char *token, *body;
	int k, reps, r, i;

	if (argc != 6) {
		fprintf(stderr, "usage: floor URL CA TOKEN_CACHE K REPS\n");
		return 2;
	}
	k = atoi(argv[4]);
	reps = atoi(argv[5]);
	if ((token = read_token(argv[3])) == NULL || k < 2 || reps < 1) {
		fprintf(stderr, "floor: bad arguments or no token\n");
		return 2;
	}
	if ((body = malloc(strlen(token) + 64)) == NULL)
		return 2;
	sprintf(body, "{\"AccessToken\":\"%s\",\"MaxResults\":20}", token);
	curl_global_init(CURL_GLOBAL_DEFAULT);
	h = curl_slist_append(h, "Content-Type: application/x-amz-json-1.1");
	/* as lib/http.c: no 100-continue round trip for the ~1 KB body */
	h = curl_slist_append(h, "Expect:");
	h = curl_slist_append(h, "X-Amz-Target: AWSCognitoIdentityProviderService."
			      "ListWebAuthnCredentials");
	for (r = 0; r < reps; r++) {
		CURL *c = curl_easy_init();
		double t0, t1, first_end = 0;
		curl_off_t hs = 0;
		long code = 0;

		curl_easy_setopt(c, CURLOPT_URL, argv[1]);
		curl_easy_setopt(c, CURLOPT_CAINFO, argv[2]);
		curl_easy_setopt(c, CURLOPT_HTTPHEADER, h);
		curl_easy_setopt(c, CURLOPT_POSTFIELDS, body);
		curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, sink);
		curl_easy_setopt(c, CURLOPT_HTTP_VERSION, (long)CURL_HTTP_VERSION_1_1);
		curl_easy_setopt(c, CURLOPT_PROXY, "");
		t0 = now_ms();
		for (i = 0; i < k; i++) {
			if (curl_easy_perform(c) != CURLE_OK ||
			    curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &code) != CURLE_OK ||
			    code != 200) {
				fprintf(stderr, "floor: request %d failed (HTTP %ld)\n", i, code);
				return 1;
			}
			if (i == 0) {
				curl_easy_getinfo(c, CURLINFO_APPCONNECT_TIME_T, &hs);
				first_end = now_ms();
			}
		}
		t1 = now_ms();
		curl_easy_cleanup(c);
		if (t1 - t0 < best_total)
			best_total = t1 - t0;
		if ((double)hs / 1e3 < best_hs)
			best_hs = (double)hs / 1e3;
		if ((t1 - first_end) / (k - 1) < best_req)
			best_req = (t1 - first_end) / (k - 1);
	}
	printf("handshake_ms=%.3f request_ms=%.3f total_ms=%.3f k=%d reps=%d\n", best_hs,
	       best_req, best_total, k, reps);
	curl_slist_free_all(h);
	curl_global_cleanup();
	free(body);
	return 0;
}
