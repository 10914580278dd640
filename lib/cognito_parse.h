/* SPDX-License-Identifier: BSD-3-Clause OR GPL-2.0-or-later */
/*
 * Private to lib/: the parsers of Cognito's answers that only cognito.c
 * uses (the ones tests and fuzzers call are in cognito.h).
 */
#ifndef CPK_COGNITO_PARSE_H
#define CPK_COGNITO_PARSE_H

#include <stdbool.h>
#include <stddef.h>

/*
 * Success of an operation without output: an empty body (what the API
 * reference says) or a JSON object ({}, what Smithy requires clients to
 * accept).  Anything else means we are not talking to Cognito.
 */
bool cpk_parse_empty_output(const char *body, size_t len);

/*
 * GetUser's answer: *username and, when sub is not NULL, *sub (the "sub"
 * user attribute), both malloc'd and not empty.  0; -1 when there is no
 * Username, -2 when there is no sub (nothing is returned then).
 */
int cpk_parse_user(const char *body, size_t len, char **username, char **sub);

#endif
