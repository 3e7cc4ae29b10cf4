/*
 * main.c -- parsediff command-line entry point (placeholder until the CLI lands).
 */
#include <stdio.h>

int main(void)
{
    printf("parsediff %s\n", PD_VERSION);
    return 0;
}
