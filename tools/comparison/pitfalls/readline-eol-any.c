/*
 * Pitfall 7.3: evbuffer_readline() is evbuffer_readln(..., EVBUFFER_EOL_ANY).
 * Feed it the bytes of three lines the contract defines and print the lines
 * it returns: a stray CR splits a line, an empty line vanishes, and a CRLF
 * that arrives in two reads makes a phantom empty line.
 */
#include <event2/buffer.h>
#include <event2/buffer_compat.h>

#include "demo.h"

static void show(struct evbuffer *buf, const char *label)
{
	char *line;

	printf("  %s:", label);
	/* evbuffer_readline() mallocs every line: free each one. */
	while ((line = evbuffer_readline(buf)) != NULL) {
		printf(" [%s]", line);
		free(line);
	}
	printf("\n");
}

int main(void)
{
	/* Contract lines: "3 pounds\rof cod" (malformed), "" (blank), "2 lbs of tuna". */
	static const char catch[] = "3 pounds\rof cod\n\n2 lbs of tuna\n";
	struct evbuffer *buf = evbuffer_new();

	if (buf == NULL)
		die("evbuffer_new");
	printf("readline-eol-any: the contract sees 3 lines ([3 pounds\\rof cod] [] [2 lbs of tuna]); "
	       "evbuffer_readline() returns:\n");
	if (evbuffer_add(buf, catch, sizeof catch - 1) < 0)
		die("evbuffer_add");
	show(buf, "all in one read");

	/* "1 lb of cod\r" now, "\n" in the next read: a CRLF split by TCP. */
	if (evbuffer_add(buf, "1 lb of cod\r", 12) < 0)
		die("evbuffer_add");
	show(buf, "first read, \"1 lb of cod\\r\"");
	if (evbuffer_add(buf, "\n", 1) < 0)
		die("evbuffer_add");
	show(buf, "second read, \"\\n\"");
	evbuffer_free(buf);
	return 0;
}
