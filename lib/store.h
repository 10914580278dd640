#ifndef CPK_STORE_H
#define CPK_STORE_H
#endif
