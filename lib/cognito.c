/* cognito.c: being written; see cognito.h */
#include "cognito.h"
