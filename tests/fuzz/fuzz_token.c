/* SPDX-License-Identifier: BSD-3-Clause OR GPL-2.0-or-later */
/*
 * The token cache parser (JSON in its three formats) and the JWT claim
 * decoder, fed arbitrary bytes: the user controls this file.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "token.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct cpk_token_cache *tc = NULL;
	struct cpk_claims claims;
	struct cpk_reply reply;
	char *jwt;

	memset(&reply, 0, sizeof(reply));
	if (cpk_token_parse((const char *)data, size, &tc, &reply) == 0)
		cpk_token_free(tc);

	/* the same bytes as a bare JWT */
	jwt = malloc(size + 1);
	if (jwt == NULL)
		return 0;
	memcpy(jwt, data, size);
	jwt[size] = '\0';
	memset(&claims, 0, sizeof(claims));
	if (cpk_jwt_claims(jwt, &claims, &reply) == 0)
		cpk_claims_free(&claims);
	free(jwt);
	return 0;
}
