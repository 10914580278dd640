/* pam_cognito_passkey.c: being written */
#include <security/pam_modules.h>
