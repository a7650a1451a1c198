/* A small Windows program for loader fixtures: imports by name from
 * kernel32, msvcrt and kinlib.dll, by ordinal from ws2_32.dll and
 * kinlib.dll, and a delay-load import from user32.dll. */
#include <stdio.h>
#include <stdlib.h>
#include <windows.h>

__declspec(dllimport) int kin_add(int a, int b);
__declspec(dllimport) int kin_secret(int a);

__attribute__((noinline)) static unsigned mix(unsigned a, unsigned b)
{
	return (a * 31) ^ (b >> 3);
}

int main(int argc, char **argv)
{
	unsigned t = GetTickCount();
	const char *v = getenv("KIN_FIXTURE");
	printf("%u %d %d\n", mix(t, argc), kin_add(argc, 2), kin_secret(argc));
	if (v != NULL && v[0] == 'b')
		MessageBeep(0);
	if (argc > 5)
		return htons((unsigned short)argc) + WSAGetLastError();
	return 0;
}
