src/y.h
