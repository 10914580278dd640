#ifndef CPK_PRIVS_H
#define CPK_PRIVS_H
#endif
