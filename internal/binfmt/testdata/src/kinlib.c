/* A small library for loader fixtures: exported functions, an exported
 * variable, an export by ordinal only and (on Windows, via kinlib.def) a
 * forwarder. */
#include <stdlib.h>

int kin_version = 3;

__attribute__((noinline)) static int kin_scale(int x)
{
	return x * kin_version;
}

int kin_add(int a, int b)
{
	return kin_scale(a) + b;
}

int kin_mul(int a, int b)
{
	return kin_scale(a) * b;
}

int kin_secret(int a)
{
	return abs(a) ^ 0x5a5a;
}
