/* A small program for loader fixtures: static and global functions, libc
 * calls through the PLT/IAT, and a libc function whose address is taken
 * (which ELF linkers route through .plt.got). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int table[16];

__attribute__((noinline)) static int mix(int a, int b)
{
	return (a * 31) ^ (b >> 3) ^ table[b & 15];
}

__attribute__((noinline)) int kin_sum(const char *s)
{
	int h = 7;
	while (*s)
		h = mix(h, *s++);
	return h;
}

void (*kin_release)(void *) = free;

int main(int argc, char **argv)
{
	const char *v = getenv("KIN_FIXTURE");
	if (v == NULL)
		v = argc > 1 ? argv[1] : "none";
	char *copy = strdup(v);
	printf("%d %zu\n", kin_sum(copy), strlen(copy));
	for (int i = 0; i < 16; i++)
		table[i] = mix(i, argc);
	kin_release(copy);
	free(strdup(v));
	return table[argc & 15] & 1;
}
