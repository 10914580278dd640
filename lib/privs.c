/* privs.c: being written; see privs.h */
#include "privs.h"
