src/sub/z.c
