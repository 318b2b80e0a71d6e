/* banned.h: libc functions that are easy to misuse; using one is a compile error. */
#ifndef VB_BANNED_H
#define VB_BANNED_H

#define VB_BANNED(func) sorry_##func##_is_banned_in_vocero

#undef strcpy
#define strcpy(x, y) VB_BANNED(strcpy)
#undef strcat
#define strcat(x, y) VB_BANNED(strcat)
#undef sprintf
#define sprintf(...) VB_BANNED(sprintf)
#undef vsprintf
#define vsprintf(...) VB_BANNED(vsprintf)
#undef strtok
#define strtok(x, y) VB_BANNED(strtok)
#undef atoi
#define atoi(x) VB_BANNED(atoi)
#undef atol
#define atol(x) VB_BANNED(atol)
#undef gets
#define gets(x) VB_BANNED(gets)

#endif
