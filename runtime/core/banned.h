/* Calls banned from slimbuild sources, as git's banned.h does: each is an
 * overflow or reentrancy hazard with a safer replacement (sb_strbuf, snprintf,
 * strtok_r, gmtime_r, mkstemp). Included last by common.h, after the system
 * headers whose declarations the macros would otherwise break. */
#ifndef SB_BANNED_H
#define SB_BANNED_H

#define SB_BANNED(func) sorry_##func##_is_a_banned_function

#undef strcpy
#define strcpy(x, y) SB_BANNED(strcpy)
#undef strcat
#define strcat(x, y) SB_BANNED(strcat)
#undef strncpy
#define strncpy(x, y, n) SB_BANNED(strncpy)
#undef strncat
#define strncat(x, y, n) SB_BANNED(strncat)
#undef sprintf
#define sprintf(...) SB_BANNED(sprintf)
#undef vsprintf
#define vsprintf(...) SB_BANNED(vsprintf)
#undef strtok
#define strtok(x, y) SB_BANNED(strtok)
#undef gmtime
#define gmtime(t) SB_BANNED(gmtime)
#undef localtime
#define localtime(t) SB_BANNED(localtime)
#undef ctime
#define ctime(t) SB_BANNED(ctime)
#undef asctime
#define asctime(t) SB_BANNED(asctime)
#undef mktemp
#define mktemp(x) SB_BANNED(mktemp)
#undef tmpnam
#define tmpnam(x) SB_BANNED(tmpnam)
#undef gets
#define gets(x) SB_BANNED(gets)

#endif
