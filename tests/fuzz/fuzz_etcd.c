/* SPDX-License-Identifier: BSD-3-Clause OR GPL-2.0-or-later */
/*
 * What etcd answers (lib/etcd_json.c, etcd_kv.c, etcd_watch.c) and what
 * this host's outbox holds (lib/fleet_outcome.c): untrusted bytes, all of
 * them.  The first byte picks the parser, so that one corpus covers them
 * all (the seeds start with it):
 *
 *   '0' a RangeResponse        (cpk_etcd_get, the listing of --sync)
 *   '1' a TxnResponse          (the claim, the outcome)
 *   '2' a LeaseGrantResponse   (the claim's lease)
 *   '3' a watch stream         (--follow); the second byte sets the size of
 *                              the chunks curl would hand over, so that a
 *                              message split anywhere is tried
 *   '4' an outbox file         (state_dir/outbox/alice.*.json)
 *
 * What parsed is then checked the way its users rely on it: keys below
 * the prefix and stripped of it, values NUL-terminated and capped, at
 * most CPK_ETCD_MAX_KVS of them, errors NUL-terminated.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "etcd_int.h"
#include "fleet_outcome.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define USER	"alice"

static struct cpk_etcd etcd;

static void
check_kv(const struct cpk_etcd_kv *kv)
{
	if (kv->key == NULL || kv->value == NULL || kv->value_len > CPK_ETCD_MAX_VALUE ||
	    kv->value[kv->value_len] != '\0' || strlen(kv->key) > CPK_ETCD_MAX_KEY ||
	    kv->create_revision < 0 || kv->mod_revision < 0)
		abort();
}

static void
check_kvs(const struct cpk_etcd_kvs *kvs)
{
	size_t i;

	if (kvs->n > CPK_ETCD_MAX_KVS || (kvs->n > 0 && kvs->kv == NULL))
		abort();
	for (i = 0; i < kvs->n; i++)
		check_kv(&kvs->kv[i]);
}

static void
check_err(const char *err, size_t len)
{
	if (memchr(err, '\0', len) == NULL)
		abort();
}

static void
range(json_object *o, char *err, size_t errlen)
{
	struct cpk_etcd_kvs kvs = { 0 };
	int64_t rev;

	if (cpk_etcd__revision(o, &rev) == 0 &&
	    cpk_etcd__parse_range(&etcd, o, &kvs, err, errlen) == CPK_ETCD_OK)
		check_kvs(&kvs);
	cpk_etcd_kvs_free(&kvs);
}

static void
txn(json_object *o, char *err, size_t errlen)
{
	struct cpk_etcd_txn_result r = { 0 };

	if (cpk_etcd__parse_txn(&etcd, o, &r, "/cpk/claims/" USER, err, errlen) == CPK_ETCD_OK)
		check_kvs(&r.kvs);
	cpk_etcd_txn_result_free(&r);
}

static void
lease(json_object *o)
{
	int64_t id, ttl;

	(void)cpk_etcd__int64(o, "ID", &id);
	(void)cpk_etcd__int64(o, "TTL", &ttl);
}

/* Counts the events; stops the stream at the seventh, as a caller may. */
static int
on_event(void *arg, const struct cpk_etcd_event *ev)
{
	unsigned int *n = arg;

	if (ev->type != CPK_ETCD_EV_PUT && ev->type != CPK_ETCD_EV_DELETE)
		abort();
	check_kv(ev->kv);
	return ++*n == 7 ? 1 : 0;
}

static void
watch(const uint8_t *data, size_t size, char *err, size_t errlen)
{
	struct cpk_etcd_watch w = { .key = "pending/", .prefix = true, .start_revision = 5,
				    .cb = on_event };
	const char **chunk;
	size_t *len, step, n, i;
	unsigned int events = 0;

	if (size < 1)
		return;
	step = (size_t)data[0] + 1;
	data++;
	size--;
	n = size / step + 1;
	chunk = calloc(n, sizeof(*chunk));
	len = calloc(n, sizeof(*len));
	if (chunk == NULL || len == NULL)
		goto out;
	for (i = 0; i < n; i++) {
		chunk[i] = (const char *)data + i * step;
		len[i] = i + 1 < n ? step : size - i * step;
	}
	w.arg = &events;
	w.last_revision = w.start_revision - 1;
	(void)cpk_etcd__watch_feed(&etcd, &w, chunk, len, n, err, errlen);
	if (w.last_revision < 0)
		abort();
out:
	free(chunk);
	free(len);
}

static void
outbox(const char *text)
{
	struct cpk_fleet_outcome o;
	size_t i;

	if (cpk_fleet_outcome_parse(text, USER, &o) < 0)
		return;
	if (o.user == NULL || strcmp(o.user, USER) != 0 || o.base_revision < 0)
		abort();
	for (i = 0; i < o.n_hist; i++)
		if (strncmp(o.hist[i].key, "history/" USER "/", 14) != 0 ||
		    strstr(o.hist[i].key, "/../") != NULL || o.hist[i].value == NULL)
			abort();
	cpk_fleet_outcome_free(&o);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char err[CPK_ERR_LEN] = "", *text;
	json_object *o;

	if (size < 1)
		return 0;
	snprintf(etcd.prefix, sizeof(etcd.prefix), "/cpk/");
	etcd.prefix_len = strlen(etcd.prefix);
	if (data[0] == '3') {
		watch(data + 1, size - 1, err, sizeof(err));
		check_err(err, sizeof(err));
		return 0;
	}
	if ((text = malloc(size)) == NULL)
		return 0;
	memcpy(text, data + 1, size - 1);
	text[size - 1] = '\0';
	if (data[0] == '4') {
		outbox(text);
		free(text);
		return 0;
	}
	if ((o = cpk_etcd__parse(text, size - 1)) != NULL) {
		switch (data[0]) {
		case '0': range(o, err, sizeof(err)); break;
		case '1': txn(o, err, sizeof(err)); break;
		default: lease(o); break;
		}
		json_object_put(o);
	}
	check_err(err, sizeof(err));
	free(text);
	return 0;
}
