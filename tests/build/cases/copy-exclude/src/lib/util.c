src/lib/util.c
