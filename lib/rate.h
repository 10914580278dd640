#ifndef CPK_RATE_H
#define CPK_RATE_H
#endif
