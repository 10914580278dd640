/* SPDX-License-Identifier: BSD-3-Clause OR GPL-2.0-or-later */
/*
 * The Cognito emulator's control interface (/_emulator/, see
 * tests/emulator/cognito_emulator.py) for the C tests: one client, so
 * that every test seeds users, injects faults and reads the request log
 * the same way.  The emulator is found through EMU_URL and EMU_CA (set by
 * tests/emulator/testenv.sh).  Every call asserts (Check) that the
 * emulator answered 2xx: a test never goes on against an emulator that
 * refused its setup.
 */
#ifndef CPK_TESTS_EMUCTL_H
#define CPK_TESTS_EMUCTL_H

#include <stdbool.h>
#include <stddef.h>
#include <json-c/json.h>

/* EMU_URL and EMU_CA are both set: the emulator tests can run. */
bool emuctl_present(void);
const char *emuctl_url(void);
const char *emuctl_ca(void);

/* METHOD /_emulator/PATH with a JSON body (or NULL); the parsed answer. */
json_object *emuctl(const char *method, const char *path, const char *body);
/* The same, the answer dropped. */
void emuctl_do(const char *method, const char *path, const char *body);

/* key's string member of o (asserted present). */
const char *emuctl_str(json_object *o, const char *key);

void emuctl_reset(void);
void emuctl_config(const char *json);
/* A user with password "pw-NAME" and n passkeys (NAMEKey1..n). */
void emuctl_add_user(const char *name, int passkeys);
/* One more passkey for user, with credential id. */
void emuctl_add_passkey(const char *user, const char *id);
/* POST tokens: an AuthenticationResult for the body's Username. */
json_object *emuctl_mint(const char *body);
/* The next answers of operation op, as a JSON array of fault names. */
void emuctl_fault(const char *op, const char *faults_json);

/* The service requests the emulator logged (control calls are not). */
json_object *emuctl_requests(void);
size_t emuctl_request_count(void);
/*
 * Wait until the emulator has logged n requests (bounded: 10 s); a request
 * a client gave up on is logged only when the emulator gets to it.
 */
void emuctl_wait_requests(size_t n);
/* DeleteWebAuthnCredential requests logged for credential id. */
int emuctl_deletes_of(const char *id);
/* The user's passkeys as the emulator stores them (a JSON array). */
json_object *emuctl_passkeys(const char *user);

#endif
