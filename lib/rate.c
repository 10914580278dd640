/* rate.c: being written; see rate.h */
#include "rate.h"
