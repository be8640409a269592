/* Common includes for cmocka unit tests: cmocka needs these first. */
#ifndef SB_TEST_H
#define SB_TEST_H
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>
#endif
