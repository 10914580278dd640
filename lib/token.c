/* token.c: being written; see token.h */
#include "token.h"
