#include <stdio.h>

unsigned long fib(unsigned n);

int main(void)
{
	printf("fib(40) = %lu\n", fib(40));
	return 0;
}
