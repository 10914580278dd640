/* revoke.c: being written; see revoke.h */
#include "revoke.h"
