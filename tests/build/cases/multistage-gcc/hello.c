#include <stdio.h>

int main(int argc, char **argv)
{
	printf("hello, %s, from a static C program\n", argc > 1 ? argv[1] : "nobody");
	return 0;
}
