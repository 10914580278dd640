/* SPDX-License-Identifier: BSD-3-Clause OR GPL-2.0-or-later */
/*
 * The Cognito response parsers: error bodies, credential list pages and
 * token answers.  Every byte from the network is untrusted.  The first
 * byte picks the parser so that one corpus covers all three.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "cognito.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct cpk_credential_list list = { NULL, 0 };
	struct cpk_tokens tokens;
	struct cpk_reply reply;
	const char *body;
	char *next = NULL;

	if (size < 1)
		return 0;
	body = (const char *)data + 1;
	size--;
	memset(&reply, 0, sizeof(reply));
	memset(&tokens, 0, sizeof(tokens));
	switch (data[0] % 3) {
	case 0:
		cpk_parse_error(body, size, (data[0] & 4) ? "NotAuthorizedException:http://x" : NULL,
				&reply);
		if (memchr(reply.code, '\0', sizeof(reply.code)) == NULL)
			abort();
		break;
	case 1:
		if (cpk_parse_credential_page(body, size, &list, &next) == 0)
			free(next);
		cpk_credential_list_free(&list);
		break;
	default:
		if (cpk_parse_tokens(body, size, &tokens) == 0)
			cpk_tokens_free(&tokens);
		break;
	}
	return 0;
}
