/* SPDX-License-Identifier: BSD-3-Clause OR GPL-2.0-or-later */
/* The emulator's control client for the C tests (see emuctl.h). */
#include <check.h>
#include <curl/curl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "emuctl.h"

struct sink {
	char *p;
	size_t n;
};

static size_t
sink_write(char *ptr, size_t size, size_t nmemb, void *ud)
{
	struct sink *s = ud;
	size_t n = size * nmemb;
	char *p = realloc(s->p, s->n + n + 1);

	if (p == NULL)
		return 0;
	memcpy(p + s->n, ptr, n);
	s->p = p;
	s->n += n;
	s->p[s->n] = '\0';
	return n;
}

static const char *
need_env(const char *name)
{
	const char *v = getenv(name);

	ck_assert_msg(v != NULL && *v != '\0', "%s is not set (tests/emulator/testenv.sh)", name);
	return v;
}

bool
emuctl_present(void)
{
	const char *u = getenv("EMU_URL"), *c = getenv("EMU_CA");

	return u != NULL && *u != '\0' && c != NULL && *c != '\0';
}

const char *
emuctl_url(void)
{
	return need_env("EMU_URL");
}

const char *
emuctl_ca(void)
{
	return need_env("EMU_CA");
}

/*
 * No proxy whatever the environment says: the control calls go straight
 * to the emulator, and a test of the client's proxy handling must not
 * find its own setup going through the proxy.
 */
json_object *
emuctl(const char *method, const char *path, const char *body)
{
	CURL *h = curl_easy_init();
	struct curl_slist *hdrs = curl_slist_append(NULL, "Content-Type: application/json");
	struct sink s = { NULL, 0 };
	json_object *o;
	char url[1024];
	long status = 0;
	CURLcode rc;

	ck_assert_ptr_nonnull(h);
	ck_assert_ptr_nonnull(hdrs);
	snprintf(url, sizeof(url), "%s_emulator/%s", emuctl_url(), path);
	curl_easy_setopt(h, CURLOPT_URL, url);
	curl_easy_setopt(h, CURLOPT_CAINFO, emuctl_ca());
	curl_easy_setopt(h, CURLOPT_PROXY, "");
	curl_easy_setopt(h, CURLOPT_CUSTOMREQUEST, method);
	curl_easy_setopt(h, CURLOPT_HTTPHEADER, hdrs);
	curl_easy_setopt(h, CURLOPT_TIMEOUT, 15L);
	if (body != NULL)
		curl_easy_setopt(h, CURLOPT_POSTFIELDS, body);
	curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, sink_write);
	curl_easy_setopt(h, CURLOPT_WRITEDATA, &s);
	rc = curl_easy_perform(h);
	ck_assert_msg(rc == CURLE_OK, "control %s %s: %s", method, path, curl_easy_strerror(rc));
	curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &status);
	ck_assert_msg(status / 100 == 2, "control %s %s: HTTP %ld %s", method, path, status,
		      s.p != NULL ? s.p : "");
	o = json_tokener_parse(s.p != NULL ? s.p : "{}");
	ck_assert_msg(o != NULL, "control %s %s: the answer is not JSON", method, path);
	free(s.p);
	curl_slist_free_all(hdrs);
	curl_easy_cleanup(h);
	return o;
}

void
emuctl_do(const char *method, const char *path, const char *body)
{
	json_object_put(emuctl(method, path, body));
}

const char *
emuctl_str(json_object *o, const char *key)
{
	json_object *v;

	ck_assert_msg(json_object_object_get_ex(o, key, &v), "no %s", key);
	return json_object_get_string(v);
}

void
emuctl_reset(void)
{
	emuctl_do("POST", "reset", "{}");
}

void
emuctl_config(const char *json)
{
	emuctl_do("POST", "config", json);
}

void
emuctl_add_user(const char *name, int passkeys)
{
	char body[256];

	snprintf(body, sizeof(body), "{\"Username\":\"%s\",\"Password\":\"pw-%s\",\"PasskeyCount\":%d}",
		 name, name, passkeys);
	emuctl_do("POST", "users", body);
}

void
emuctl_add_passkey(const char *user, const char *id)
{
	char path[256], body[256];

	snprintf(path, sizeof(path), "users/%s/passkeys", user);
	snprintf(body, sizeof(body), "{\"Passkeys\":[{\"CredentialId\":\"%s\"}]}", id);
	emuctl_do("POST", path, body);
}

json_object *
emuctl_mint(const char *body)
{
	return emuctl("POST", "tokens", body);
}

void
emuctl_fault(const char *op, const char *faults_json)
{
	char body[512];

	snprintf(body, sizeof(body), "{\"Operation\":\"%s\",\"Faults\":%s}", op, faults_json);
	emuctl_do("POST", "faults", body);
}

json_object *
emuctl_requests(void)
{
	json_object *o = emuctl("GET", "requests", NULL), *arr, *ret;

	ck_assert(json_object_object_get_ex(o, "Requests", &arr));
	ret = json_object_get(arr);
	json_object_put(o);
	return ret;
}

size_t
emuctl_request_count(void)
{
	json_object *r = emuctl_requests();
	size_t n = json_object_array_length(r);

	json_object_put(r);
	return n;
}

void
emuctl_wait_requests(size_t n)
{
	int i;

	for (i = 0; i < 100 && emuctl_request_count() < n; i++)
		usleep(100 * 1000);
	ck_assert_uint_eq(emuctl_request_count(), n);
}

int
emuctl_deletes_of(const char *id)
{
	json_object *reqs = emuctl_requests(), *e, *v, *in;
	size_t i;
	int n = 0;

	for (i = 0; i < json_object_array_length(reqs); i++) {
		e = json_object_array_get_idx(reqs, i);
		if (!json_object_object_get_ex(e, "Operation", &v) ||
		    strcmp(json_object_get_string(v), "DeleteWebAuthnCredential") != 0 ||
		    !json_object_object_get_ex(e, "Input", &in) ||
		    !json_object_object_get_ex(in, "CredentialId", &v))
			continue;
		if (strcmp(json_object_get_string(v), id) == 0)
			n++;
	}
	json_object_put(reqs);
	return n;
}

json_object *
emuctl_passkeys(const char *user)
{
	char path[256];
	json_object *o, *pk, *ret;

	snprintf(path, sizeof(path), "users/%s", user);
	o = emuctl("GET", path, NULL);
	ck_assert(json_object_object_get_ex(o, "Passkeys", &pk));
	ret = json_object_get(pk);
	json_object_put(o);
	return ret;
}
